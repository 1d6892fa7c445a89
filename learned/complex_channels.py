"""Operator spaces as real multi-channel images, so that convolutional networks run on any bridge.

A space of shape ``(*lead, *spatial)`` keeps its last two axes (one for a 1D space)
as the convolution's spatial axes and folds the leading axes into channels; a
complex space contributes its real and imaginary parts as two channels each.

    CT image (y, x) float32            -> (N, 1, y, x)
    MRI image (y, x) complex64         -> (N, 2, y, x)
    MRI k-space (coils, y, x) complex  -> (N, 2 * coils, y, x)
    PET slices (S, views, bins) float  -> (N, S, views, bins)

Example::

    >>> layout = SpaceLayout((8, 8), torch.complex64)          # op.domain_shape, op.domain_dtype
    >>> h = layout.to_channels(torch.randn(3, 8, 8, dtype=torch.complex64))
    >>> h.shape, h.dtype                                       # (N, layout.channels, y, x), real
    (torch.Size([3, 2, 8, 8]), torch.float32)
    >>> layout.from_channels(h).shape                          # (N, *op.domain_shape), op.domain_dtype
    torch.Size([3, 8, 8])
"""

from __future__ import annotations

import math

import torch
from torch import nn


class SpaceLayout:
    """How tensors of one operator space map to real channel stacks ``(N, C, *spatial)`` and back."""

    def __init__(self, shape, dtype):
        self.shape, self.dtype = tuple(shape), dtype
        n_spatial = min(2, len(self.shape))
        self.spatial = self.shape[len(self.shape) - n_spatial :]
        self.lead = self.shape[: len(self.shape) - n_spatial]
        self.is_complex = dtype.is_complex
        self.channels = math.prod(self.lead) * (2 if self.is_complex else 1)

    def to_channels(self, x: torch.Tensor) -> torch.Tensor:
        """(N, *shape) of the space's dtype -> (N, channels, *spatial) real."""
        n = x.shape[0]
        if self.is_complex:
            x = torch.stack([x.real, x.imag], dim=1)  # (N, 2, *lead, *spatial)
        return x.reshape(n, self.channels, *self.spatial)

    def from_channels(self, h: torch.Tensor) -> torch.Tensor:
        """(N, channels, *spatial) real -> (N, *shape) of the space's dtype."""
        n = h.shape[0]
        if self.is_complex:
            h = h.reshape(n, 2, *self.shape)
            return torch.complex(h[:, 0].contiguous(), h[:, 1].contiguous())
        return h.reshape(n, *self.shape)

    def conv(self, in_channels: int, out_channels: int, kernel_size: int = 3, bias: bool = True) -> nn.Module:
        """A 'same'-padded convolution over this space's spatial axes (2D, or 1D for a 1D space)."""
        cls = nn.Conv2d if len(self.spatial) == 2 else nn.Conv1d
        return cls(in_channels, out_channels, kernel_size, padding=kernel_size // 2, bias=bias)

    def describe(self) -> str:
        return f"(..., {', '.join(map(str, self.shape))}) {self.dtype}"


class ConvBlock(nn.Sequential):
    """`conv_block`'s layers, with dropout of probability ``dropout`` after each activation while training (or
    while the block alone is put in training mode: Monte Carlo dropout, Gal & Ghahramani, ICML 2016).

    The dropout is applied in ``forward``, not held as layers, so that the weights' names are those of a block
    without it: a checkpoint trained with ``dropout = 0`` loads into a block with dropout, and back.
    """

    def __init__(self, *layers: nn.Module, dropout: float = 0.0):
        super().__init__(*layers)
        if not 0 <= dropout < 1:
            raise ValueError(f"expected dropout in [0, 1), got {dropout!r}")
        self.dropout = float(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (self.dropout and self.training):
            return super().forward(x)
        last = len(self) - 1
        for i, layer in enumerate(self):
            x = layer(x)
            if i < last and not isinstance(layer, (nn.Conv1d, nn.Conv2d)):  # after each activation
                x = nn.functional.dropout(x, self.dropout, training=True)
        return x

    def extra_repr(self) -> str:
        return f"dropout={self.dropout:g}" if self.dropout else ""


def conv_block(
    layout: SpaceLayout,
    in_channels: int,
    out_channels: int,
    width: int,
    n_layers: int = 3,
    activation=nn.PReLU,
    dropout: float = 0.0,
) -> ConvBlock:
    """``n_layers`` 3x3 convolutions with ``activation`` between them (none after the last), and ``dropout`` after
    each activation while training (`ConvBlock`; 0: none).

    2D blocks keep their weights channels-last (NHWC), and with them their outputs: oneDNN's convolutions
    run 1.4-1.7x faster so at the widths and sizes of the unrolled models (16-32 channels, 64² images, batch
    4-16, measured on the 2-core CPU), and cuDNN prefers the layout too. Values are unchanged."""
    layers, c = [], in_channels
    for _ in range(n_layers - 1):
        layers += [layout.conv(c, width), activation(width) if activation is nn.PReLU else activation()]
        c = width
    layers.append(layout.conv(c, out_channels))
    block = ConvBlock(*layers, dropout=dropout)
    return block.to(memory_format=torch.channels_last) if len(layout.spatial) == 2 else block
