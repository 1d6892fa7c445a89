"""Small operators and phantoms of each modality for the learned-model tests.

CT is the real `bridges.ct.Projector`; MRI and PET are small stand-ins built on the
core alone until their bridges land (swap them in `make_operator`):
- ``ToyCartesianSense``: A x = M · FFT(S x), orthonormal FFT, multi-coil (complex64);
- ``ToyPET``: a non-negative matrix on (y, x) -> (views, bins) with a ``background`` and
  ``expected_counts`` as `pet.SystemModel` has.
"""
import math

import torch

from bridges import LinearOperator, ct
from experiments.phantoms import random_ellipses

MODALITIES = ["ct", "mri", "pet"]


class ToyCartesianSense(LinearOperator):
    """A x = mask · fft2(maps · x, norm='ortho'): (*batch, y, x) complex -> (*batch, coils, y, x)."""

    batched_kernels = True

    def __init__(self, maps: torch.Tensor, mask: torch.Tensor):
        super().__init__(maps.shape[-2:], maps.shape, torch.complex64)
        self.register_buffer("maps", maps)
        self.register_buffer("mask", mask.to(torch.complex64))

    def _forward(self, x):
        return self.mask * torch.fft.fft2(self.maps * x[:, None], norm="ortho")

    def _adjoint(self, y):
        return (self.maps.conj() * torch.fft.ifft2(self.mask * y, norm="ortho")).sum(1)


class ToyPET(LinearOperator):
    """Linear part of expected counts, ȳ = A x + s, A a non-negative matrix on (y, x) -> (views, bins)."""

    batched_kernels = True

    def __init__(self, matrix: torch.Tensor, image_shape, sinogram_shape, background: float):
        super().__init__(image_shape, sinogram_shape, matrix.dtype)
        self.register_buffer("matrix", matrix)
        self.register_buffer("background", torch.full(sinogram_shape, float(background), dtype=matrix.dtype))

    def _forward(self, x):
        return (x.reshape(x.shape[0], -1) @ self.matrix.T).reshape(x.shape[0], *self.range_shape)

    def _adjoint(self, y):
        return (y.reshape(y.shape[0], -1) @ self.matrix).reshape(y.shape[0], *self.domain_shape)

    def expected_counts(self, x):
        return self(x) + self.background


def coil_maps(n, coils, generator):
    """Smooth complex sensitivities normalised to Σ|S|² = 1."""
    yy, xx = torch.meshgrid(torch.linspace(-1, 1, n), torch.linspace(-1, 1, n), indexing="ij")
    maps = []
    for c in range(coils):
        angle = 2 * math.pi * c / coils + math.pi / 4  # coil centres differ along both axes
        magnitude = torch.exp(-((yy - math.sin(angle)) ** 2 + (xx - math.cos(angle)) ** 2) / 2)
        phase = torch.rand((), generator=generator) * 2 * math.pi + 0.5 * (xx + yy)
        maps.append(magnitude * torch.exp(1j * phase))
    maps = torch.stack(maps)
    return (maps / maps.abs().pow(2).sum(0).sqrt()).to(torch.complex64)


def make_operator(modality: str, n: int = 16, coils: int = 2, seed: int = 0) -> LinearOperator:
    """A small operator of `modality` ("ct", "mri", "pet") on n x n images."""
    g = torch.Generator().manual_seed(seed)
    if modality == "ct":
        geometry = ct.ParallelBeam2D(angles=12, n_detectors=math.ceil(n * 1.5), detector_spacing=1.0,
                                     image_shape=(n, n))
        return ct.Projector(geometry, n_threads=1)
    if modality == "mri":
        mask = torch.rand(n, generator=g) < 0.4
        mask[n // 2 - 2: n // 2 + 2] = True  # fully sampled centre of k-space (rows of an uncentred FFT:
        mask = torch.fft.ifftshift(mask)     # the low frequencies sit at the ends)
        return ToyCartesianSense(coil_maps(n, coils, g), mask[:, None].expand(n, n).clone())
    if modality == "pet":
        views, bins = 8, n + 2
        matrix = torch.rand(views * bins, n * n, generator=g) * (torch.rand(views * bins, n * n, generator=g) < 0.2)
        return ToyPET(matrix / n, (n, n), (views, bins), background=0.5)
    raise ValueError(f"unknown modality {modality!r}")


def phantoms(op: LinearOperator, batch: int = 4, seed: int = 0) -> torch.Tensor:
    """A batch of random-ellipse images in op's domain, values of order 1 (complex: a smooth phase)."""
    g = torch.Generator().manual_seed(seed)
    images = torch.stack([random_ellipses(op.domain_shape[-2:], 6, g, mu=1.0) for _ in range(batch)])
    if op.domain_dtype.is_complex:
        n = op.domain_shape[-1]
        phase = torch.linspace(0, math.pi / 2, n)[None, :] + torch.rand(batch, 1, 1, generator=g)
        images = (images * torch.exp(1j * phase)).to(torch.complex64)
    return images


def measure(op: LinearOperator, images: torch.Tensor) -> torch.Tensor:
    """Noiseless data: A x, or expected counts A x + s for an operator with a background (PET)."""
    with torch.no_grad():
        y = op(images)
        return y + op.background if hasattr(op, "background") else y


def mlem(op: LinearOperator, counts: torch.Tensor, n_iter: int = 10) -> torch.Tensor:
    """MLEM for an operator with a background (PET), without autograd: FBPConvNet's pseudo-inverse."""
    with torch.no_grad():
        sensitivity = op.adjoint(torch.ones_like(counts)).clamp_min(1e-8)
        x = torch.ones(*counts.shape[: counts.dim() - len(op.range_shape)], *op.domain_shape)
        for _ in range(n_iter):
            x = x * op.adjoint(counts / (op(x) + op.background).clamp_min(1e-8)) / sensitivity
    return x
