"""FBPConvNet: a residual U-Net on a direct reconstruction (Jin et al., IEEE TIP 2017)."""

from __future__ import annotations

from collections.abc import Callable

import torch

from bridges.operator import LinearOperator

from .base import OperatorModel, seeded
from .unet import UNet


class FBPConvNet(OperatorModel):
    """x = x_0 + UNet(x_0) with x_0 = A^†(y) a pseudo-inverse reconstruction: the learned baseline.

    Jin, McCann, Froustey & Unser, "Deep convolutional neural network for inverse problems in
    imaging", IEEE TIP 26(9), 2017. ``pseudo_inverse`` is any callable from measurements
    ``(N, *op.range_shape)`` to images ``(N, *op.domain_shape)``: FBP for CT
    (``lambda y: ct.fbp(A, y)``), gridding or zero filling for MRI, a few MLEM iterations for PET;
    by default the adjoint scaled by ``1 / ||A||²`` (``op.norm()``). The pseudo-inverse is not
    learned and gradients flow through it (and the operator) to the data.

    Shapes: y (*batch, *op.range_shape) -> x (*batch, *op.domain_shape).

    Example::

        >>> from bridges import ct
        >>> A = ct.Projector(ct.ParallelBeam2D(angles=6, n_detectors=12, detector_spacing=1.0, image_shape=(8, 8)))
        >>> model = FBPConvNet(A, pseudo_inverse=lambda y: ct.fbp(A, y, filter_type="hann"), width=4, depth=2)
        >>> x = model(A(torch.rand(2, 8, 8)))                 # (B, y, x)
        >>> (x - torch.rand(2, 8, 8)).pow(2).mean().backward()
    """

    def __init__(
        self,
        op: LinearOperator,
        pseudo_inverse: Callable[[torch.Tensor], torch.Tensor] | None = None,
        width: int = 32,
        depth: int = 3,
        seed: int | None = 0,
    ):
        super().__init__(op)
        self.pseudo_inverse = pseudo_inverse
        with seeded(seed):
            self.unet = UNet(self.image.channels, self.image.channels, width, depth)

    def initial(self, y: torch.Tensor) -> torch.Tensor:
        """x_0 = A^†(y) for flat measurements (N, *range_shape)."""
        if self.pseudo_inverse is None:
            return self.scaled_adjoint(y)
        x0 = self.pseudo_inverse(y)
        if tuple(x0.shape) != (y.shape[0], *self.op.domain_shape):
            raise ValueError(
                f"{type(self).__name__}: the pseudo-inverse returned shape {tuple(x0.shape)}, expected "
                f"{(y.shape[0], *self.op.domain_shape)}"
            )
        return x0

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        y, batch = self.flat_measurements(y)
        x0 = self.initial(y)
        x = x0 + self.image.from_channels(self.unet(self.image.to_channels(x0)))
        return x.reshape(*batch, *self.op.domain_shape)
