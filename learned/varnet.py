"""The end-to-end variational network (Hammernik et al. 2018; Sriram et al. 2020)."""

from __future__ import annotations

import torch
from torch import nn

from bridges.mri import sampling
from bridges.operator import LinearOperator

from .base import OperatorModel, seeded
from .unet import UNet

FORMS = ("auto", "kspace", "image")


class NormUNet(nn.Module):
    """A U-Net on images normalised per item and channel to zero mean and unit variance, scale put back after.

    As fastMRI's ``NormUnet``: the regulariser then sees the same range of values whatever the
    data's units. Shapes: (N, C, y, x) real -> (N, C, y, x).
    """

    def __init__(self, channels: int, width: int, depth: int):
        super().__init__()
        self.unet = UNet(channels, channels, width, depth)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        mean = h.mean(dim=(-2, -1), keepdim=True)
        std = h.std(dim=(-2, -1), keepdim=True).clamp_min(1e-6)
        return self.unet((h - mean) / std) * std + mean


class VarNetBlock(nn.Module):
    """One cascade of the variational network (Sriram et al. 2020, eq. 4; fastMRI's ``VarNetBlock``):

        k ↦ k - η ∇D(k) - E(R_θ(R(k))),

    in multi-coil k-space ``∇D(k) = M(k - y)``, ``E(x) = (F(S_c x))_c``, ``R(k) = Σ_c S_c^* F^{-1} k_c``;
    in image space ``∇D(x) = A^H(A x - y)`` and E, R the identity. ``R_θ`` is a `NormUNet`, ``η`` learned.
    ``expand`` and ``reduce`` include the conversion from and to real channels.
    """

    def __init__(self, regulariser: nn.Module, step: float):
        super().__init__()
        self.regulariser = regulariser
        self.step = nn.Parameter(torch.tensor(float(step)))

    def forward(self, current, data_gradient, expand, reduce):
        return current - self.step * data_gradient - expand(self.regulariser(reduce(current)))


class VarNet(OperatorModel):
    """End-to-end variational network: unrolled gradient steps with a U-Net regulariser per cascade.

    Hammernik et al., "Learning a variational network for reconstruction of accelerated MRI
    data", MRM 79(6), 2018; Sriram et al., "End-to-end variational networks for accelerated MRI
    reconstruction", MICCAI 2020. Two forms (``form``):

    - ``"kspace"`` (multi-coil MRI, Sriram et al.): the iterate is the coil k-space ``k``, started
      at ``y``; each `VarNetBlock` does ``k ↦ k - η M(k - y) - E(R_θ(R(k)))`` with the sensitivity
      maps from the bridge; the output is the coil combination ``Σ_c S_c^* F^{-1} k_c``. The operator
      is any multi-coil Cartesian sampling operator, ``y = M ⊙ F(S_c ⊙ x)`` with ``maps`` S, ``mask`` M and F
      the centred orthonormal FFT (the protocol `bridges.mri.sampling.CartesianSampling`; a
      `bridges.mri.CartesianSense` with maps is one).
    - ``"image"`` (any operator: CT, PET, non-Cartesian MRI; Hammernik et al.'s form with a U-Net
      regulariser): ``x ↦ x - η A^H(A x - y) - R_θ(x)`` from ``x_0 = A^H y / ||A||²``, ``η`` from
      ``1 / ||A||²``; ``A^H A`` is the operator's ``gram()`` (a Toeplitz embedding for NUFFT and SENSE).

    ``"auto"`` takes the k-space form when the operator qualifies. The maps are not estimated
    (fastMRI's ``SensitivityModel`` is left out): the bridge knows them.

    ``model(y, op=batch_op)`` reconstructs with the call's operator (`OperatorModel`): per item, each slice its
    own maps and mask (in the k-space form a Cartesian sampling operator too). The image form's step ``η`` starts
    from the constructing operator's ``1 / ||A||²``.

    Shapes: y (*batch, *op.range_shape) -> x (*batch, *op.domain_shape).

    Example::

        >>> from bridges import mri
        >>> A = mri.CartesianSense(mri.birdcage_maps((8, 8), 4), mri.mask_equispaced((8, 8), 2, 0.25))
        >>> x = VarNet(A, n_cascades=2, width=4, depth=1)(A(torch.randn(2, 8, 8, dtype=torch.complex64)))
        >>> x.shape, x.dtype
        (torch.Size([2, 8, 8]), torch.complex64)
        >>> x.abs().pow(2).mean().backward()
    """

    def __init__(
        self,
        op: LinearOperator,
        n_cascades: int = 8,
        width: int = 18,
        depth: int = 2,
        form: str = "auto",
        seed: int | None = 0,
    ):
        super().__init__(op)
        if form not in FORMS:
            raise ValueError(f"form must be one of {FORMS}, got {form!r}")
        cartesian = sampling.is_cartesian_sampling(op)
        if form == "kspace":
            sampling.require_cartesian_sampling(op, f"{type(self).__name__}'s k-space form")
        self.form = ("kspace" if cartesian else "image") if form == "auto" else form
        step = 1.0 if self.form == "kspace" else 1.0 / op.norm() ** 2
        if self.form == "image":
            op.gram()  # the normal operator's set-up (a Toeplitz kernel) here, not in a compiled forward
        c = self.image.channels
        with seeded(seed):
            self.cascades = nn.ModuleList(VarNetBlock(NormUNet(c, width, depth), step) for _ in range(n_cascades))

    def forward(self, y: torch.Tensor, op: LinearOperator | None = None) -> torch.Tensor:
        y, batch = self.flat_measurements(y)
        op = self.call_operator(op, y.shape[0])
        to_image, from_image = self.image.to_channels, self.image.from_channels
        if self.form == "kspace":
            if op is not self.op:  # a call's operator; the model's own was checked when built
                sampling.require_cartesian_sampling(op, f"{type(self).__name__}'s k-space form")
            # per item, maps (N, C, y, x) and mask (N, 1, y, x) line up with the flat batch (N, C, y, x) as they are
            k = y
            for block in self.cascades:
                k = block(
                    k,
                    sampling.sampled(op, k - y),
                    lambda h: sampling.expand(op, from_image(h)),
                    lambda k: to_image(sampling.combine(op, k)),
                )
            x = sampling.combine(op, k)
        else:
            # ∇½||A x - y||² = A^H A x - A^H y through the normal operator: for NUFFT and SENSE its Toeplitz
            # embedding, a few times cheaper than A^H(A x - y); A^H y once, it is the start image's too
            adjoint_y = op.adjoint(y)
            x, normal = adjoint_y / self.op.norm() ** 2, op.gram()
            for block in self.cascades:
                x = block(x, normal(x) - adjoint_y, from_image, to_image)
        return x.reshape(*batch, *self.op.domain_shape)
