"""The U-Net (Ronneberger et al. 2015) in the form FBPConvNet uses (Jin et al., IEEE TIP 2017)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def _double_conv(c_in, c_out):
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, padding=1),
        nn.ReLU(inplace=True),
        nn.Conv2d(c_out, c_out, 3, padding=1),
        nn.ReLU(inplace=True),
    )


class UNet(nn.Module):
    """Encoder-decoder with skip connections: two 3x3 conv + ReLU per level, 2x2 max-pool down,
    2x2 transposed convolution up, channels doubling per level from ``width``, a final 1x1 convolution.

    Jin, McCann, Froustey & Unser, "Deep convolutional neural network for inverse problems in
    imaging", IEEE TIP 26(9), 2017 (batch normalisation left out: the output then does not
    depend on the rest of the batch, and train and eval modes agree). Any image size: the input
    is zero-padded to a multiple of 2^depth and the output cropped back.

    Shapes: (N, in_channels, y, x) -> (N, out_channels, y, x), real.

    Example::

        >>> net = UNet(1, 1, width=4, depth=2)
        >>> net(torch.rand(4, 1, 10, 10)).shape      # padded to a multiple of 4 inside, cropped back
        torch.Size([4, 1, 10, 10])
    """

    def __init__(self, in_channels: int, out_channels: int, width: int = 32, depth: int = 3):
        super().__init__()
        self.depth = depth
        widths = [width * 2**i for i in range(depth + 1)]
        self.down = nn.ModuleList(
            [_double_conv(in_channels, widths[0])] + [_double_conv(widths[i], widths[i + 1]) for i in range(depth)]
        )
        self.up = nn.ModuleList(
            nn.ConvTranspose2d(widths[i + 1], widths[i], 2, stride=2) for i in reversed(range(depth))
        )
        self.merge = nn.ModuleList(_double_conv(2 * widths[i], widths[i]) for i in reversed(range(depth)))
        self.out = nn.Conv2d(widths[0], out_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        m = 2**self.depth
        x = F.pad(x, (0, -w % m, 0, -h % m))
        skips = []
        for i, block in enumerate(self.down):
            x = block(x if i == 0 else F.max_pool2d(x, 2))
            skips.append(x)
        skips.pop()
        for up, merge in zip(self.up, self.merge):
            x = merge(torch.cat([skips.pop(), up(x)], dim=1))
        return self.out(x)[..., :h, :w]
