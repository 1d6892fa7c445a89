"""The end-to-end variational network (Hammernik et al. 2018; Sriram et al. 2020)."""
from __future__ import annotations

import torch
from torch import nn

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


def _fft2(z):
    return torch.fft.fft2(z, norm="ortho")


def _ifft2(k):
    return torch.fft.ifft2(k, norm="ortho")


def _fft2c(z):
    """fastMRI's centred FFT: the zero frequency and the image centre in the middle of the array."""
    return torch.fft.fftshift(_fft2(torch.fft.ifftshift(z, dim=(-2, -1))), dim=(-2, -1))


def _ifft2c(k):
    return torch.fft.fftshift(_ifft2(torch.fft.ifftshift(k, dim=(-2, -1))), dim=(-2, -1))


def _fft_convention(op: LinearOperator):
    """The orthonormal 2D FFT for which ``op(x) == op.mask * fft(op.maps * x)``, or None."""
    maps, mask = getattr(op, "maps", None), getattr(op, "mask", None)
    if not (isinstance(maps, torch.Tensor) and isinstance(mask, torch.Tensor)) or maps.dim() != 3 \
            or tuple(maps.shape) != op.range_shape or tuple(maps.shape[-2:]) != op.domain_shape:
        return None
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, *op.domain_shape, generator=g)
    x = torch.complex(x[0], x[1]).to(maps.device)
    with torch.no_grad():
        y = op(x)
        for fft, ifft in ((_fft2, _ifft2), (_fft2c, _ifft2c)):
            guess = mask * fft(maps * x)
            if torch.linalg.vector_norm(guess - y) <= 1e-4 * torch.linalg.vector_norm(y):
                return fft, ifft
    return None


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
      must carry them as duck-typed attributes: ``op.maps`` (coils, y, x) and ``op.mask``
      (broadcastable to (coils, y, x)) with ``op(x) == mask · FFT(maps · x)`` for an orthonormal 2D
      FFT, centred or not; this is checked on a random image at construction.
    - ``"image"`` (any operator: CT, PET, non-Cartesian MRI; Hammernik et al.'s form with a U-Net
      regulariser): ``x ↦ x - η A^H(A x - y) - R_θ(x)`` from ``x_0 = A^H y / ||A||²``, ``η`` from
      ``1 / ||A||²``.

    ``"auto"`` takes the k-space form when the operator qualifies. The maps are not estimated
    (fastMRI's ``SensitivityModel`` is left out): the bridge knows them.

    Shapes: y (*batch, *op.range_shape) -> x (*batch, *op.domain_shape).

    Example::

        model = VarNet(mri.CartesianSense(maps, mask), n_cascades=8)
        x = model(kspace)                                    # (B, y, x) complex64
        (x - target).abs().pow(2).mean().backward()
    """

    def __init__(self, op: LinearOperator, n_cascades: int = 8, width: int = 18, depth: int = 2,
                 form: str = "auto", seed: int | None = 0):
        super().__init__(op)
        if form not in FORMS:
            raise ValueError(f"form must be one of {FORMS}, got {form!r}")
        self._fft = _fft_convention(op)
        if form == "kspace" and self._fft is None:
            raise ValueError(f"{type(self).__name__}: the k-space form needs an operator with .maps (coils, y, x) and "
                             f".mask such that op(x) == mask * fft2(maps * x) (orthonormal), got "
                             f"{type(op).__name__} {op.extra_repr()}")
        self.form = "kspace" if form == "auto" and self._fft is not None else ("image" if form == "auto" else form)
        step = 1.0 if self.form == "kspace" else 1.0 / op.norm() ** 2
        c = self.image.channels
        with seeded(seed):
            self.cascades = nn.ModuleList(VarNetBlock(NormUNet(c, width, depth), step) for _ in range(n_cascades))

    def _expand(self, x):
        return self._fft[0](self.op.maps * x.unsqueeze(1))

    def _reduce(self, k):
        return (self.op.maps.conj() * self._fft[1](k)).sum(1)

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        y, batch = self.flat_measurements(y)
        to_image, from_image = self.image.to_channels, self.image.from_channels
        if self.form == "kspace":
            k = y
            for block in self.cascades:
                k = block(k, self.op.mask * (k - y), lambda h: self._expand(from_image(h)),
                          lambda k: to_image(self._reduce(k)))
            x = self._reduce(k)
        else:
            x = self.scaled_adjoint(y)
            for block in self.cascades:
                x = block(x, self.gradient(x, y), from_image, to_image)
        return x.reshape(*batch, *self.op.domain_shape)
