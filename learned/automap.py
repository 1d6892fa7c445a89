"""AUTOMAP: a learned reconstruction from fully connected layers (Zhu et al., Nature 555, 2018)."""

from __future__ import annotations

import math

import torch
from torch import nn

from bridges.operator import LinearOperator

from .base import OperatorModel, seeded

MAX_PIXELS = 64 * 64
_BYTES = 4  # float32


class AUTOMAP(OperatorModel):
    """Automated transform by manifold approximation: the whole inverse learned, the operator unused in it.

    Zhu, Liu, Cauley, Rosen & Rosen, "Image reconstruction by domain-transform manifold
    learning", Nature 555, 2018: measurements flattened (real and imaginary parts) ->
    FC(n) tanh -> FC(n) tanh -> reshape to the image -> two 5x5 convolutions of ``channels``
    with ReLU -> 7x7 transposed convolution to the image, ``n`` the image's real size.

    Memory: the two dense layers hold ``m n + n²`` weights for ``m`` real measurement values,
    4 bytes each, and training with Adam keeps four copies (weights, gradients, two moments).
    A 64 x 64 real image from 30 views x 96 detectors is 28.6 M weights, 115 MB (460 MB in
    training); a 64 x 64 complex image from single-coil k-space is 134 M weights, 537 MB (2.1 GB). The
    cost grows as the fourth power of the image side, so images above 64 x 64 (4096 pixels)
    are refused. ``AUTOMAP.memory_bytes(op)`` gives the figure for an operator.

    Shapes: y (*batch, *op.range_shape) -> x (*batch, *op.domain_shape).

    Example::

        >>> from bridges import ct
        >>> A = ct.Projector(ct.ParallelBeam2D(angles=6, n_detectors=12, detector_spacing=1.0, image_shape=(8, 8)))
        >>> x = AUTOMAP(A, channels=4)(A(torch.rand(2, 8, 8)))   # (B, 8, 8)
        >>> (x - torch.rand(2, 8, 8)).pow(2).mean().backward()
    """

    def __init__(self, op: LinearOperator, channels: int = 64, seed: int | None = 0):
        super().__init__(op)
        pixels = math.prod(op.domain_shape)
        if pixels > MAX_PIXELS:
            raise ValueError(
                f"AUTOMAP is limited to images of at most 64 x 64 = {MAX_PIXELS} pixels: its dense "
                f"layers for domain {op.domain_shape} would hold {self.memory_bytes(op) / 1e9:.1f} GB "
                "of weights; use a model that applies the operator (LearnedPrimalDual, VarNet)"
            )
        m, n = self.data.channels * math.prod(self.data.spatial), self.image.channels * math.prod(self.image.spatial)
        c = self.image.channels
        with seeded(seed):
            self.dense = nn.Sequential(nn.Linear(m, n), nn.Tanh(), nn.Linear(n, n), nn.Tanh())
            self.conv = nn.Sequential(
                nn.Conv2d(c, channels, 5, padding=2),
                nn.ReLU(),
                nn.Conv2d(channels, channels, 5, padding=2),
                nn.ReLU(),
                nn.ConvTranspose2d(channels, c, 7, padding=3),
            )

    @staticmethod
    def memory_bytes(op: LinearOperator) -> int:
        """Bytes of the two dense layers' weights for ``op`` (float32); training with Adam needs four times this."""
        factor = lambda dtype: 2 if dtype.is_complex else 1  # noqa: E731
        m = math.prod(op.range_shape) * factor(op.range_dtype)
        n = math.prod(op.domain_shape) * factor(op.domain_dtype)
        return (m * n + n * n) * _BYTES

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        y, batch = self.flat_measurements(y)
        h = self.dense(self.data.to_channels(y).reshape(y.shape[0], -1))
        h = self.conv(h.reshape(y.shape[0], self.image.channels, *self.image.spatial))
        return self.image.from_channels(h).reshape(*batch, *self.op.domain_shape)
