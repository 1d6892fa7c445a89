"""Small operators and phantoms of each modality for the learned-model tests.

`make_operator` gives the real bridges: `ct.Projector`, `mri.CartesianSense` with smooth coil maps,
and `pet.SystemModel` of a down-sampled Biograph mMR with a background. ``ToyPET``, a non-negative
matrix with a ``background``, stays for the float64 gradient checks the float32 PET bridge cannot do.
``SampledCoils`` is a Cartesian sampling operator that is not a `mri.CartesianSense`: a composition
``mask @ fft @ coils`` of three small operators, exposing ``maps`` and ``mask`` (the protocol of
`bridges.mri.sampling`).
"""

import math

import torch

from bridges import LinearOperator, ct, mri, pet
from bridges.mri import birdcage_maps
from bridges.operator import ComposedOperator
from experiments.data.phantoms import ellipses

MODALITIES = ["ct", "mri", "pet"]


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


class Coils(LinearOperator):
    """S: an image (y, x) to its coil images (coils, y, x), S_c x = maps_c ⊙ x."""

    batched_kernels, traceable = True, True

    def __init__(self, maps: torch.Tensor):
        super().__init__(maps.shape[-2:], maps.shape, torch.complex64)
        self.register_buffer("maps", maps)

    def _forward(self, x):
        return x.unsqueeze(-3) * self.maps

    def _adjoint(self, y):
        return (y * self.maps.conj()).sum(-3)


class CentredFFT(LinearOperator):
    """F: the centred orthonormal 2D FFT over the last two axes of ``shape``; unitary, so F^H = F^{-1}."""

    batched_kernels, traceable = True, True

    def __init__(self, shape):
        super().__init__(shape, shape, torch.complex64)

    def _forward(self, x):
        return mri.fft2c(x)

    def _adjoint(self, y):
        return mri.ifft2c(y)


class Mask(LinearOperator):
    """M: multiplication by a real sampling mask broadcast over ``shape``; self-adjoint."""

    batched_kernels, traceable = True, True

    def __init__(self, mask: torch.Tensor, shape):
        super().__init__(shape, shape, torch.complex64)
        self.register_buffer("mask", mask)

    def _forward(self, x):
        return x * self.mask

    def _adjoint(self, y):
        return y * self.mask


class SampledCoils(ComposedOperator):
    """y = M ⊙ F(S_c ⊙ x) as ``Mask @ CentredFFT @ Coils``: Cartesian sampling built by composition."""

    def __init__(self, maps: torch.Tensor, mask: torch.Tensor):
        super().__init__(Mask(mask, maps.shape), CentredFFT(maps.shape) @ Coils(maps))

    @property
    def maps(self):
        return self.inner.inner.maps

    @property
    def mask(self):
        return self.outer.mask


def make_operator(modality: str, n: int = 16, coils: int = 2, seed: int = 0) -> LinearOperator:
    """A small operator of `modality` ("ct", "mri", "pet") on n x n images."""
    g = torch.Generator().manual_seed(seed)
    if modality == "ct":
        geometry = ct.ParallelBeam2D(
            angles=12, n_detectors=math.ceil(n * 1.5), detector_spacing=1.0, image_shape=(n, n)
        )
        return ct.Projector(geometry, n_threads=1)
    if modality == "mri":
        mask = torch.rand(n, generator=g) < 0.4
        mask[n // 2 - 2 : n // 2 + 2] = True  # fully sampled centre of (centred) k-space
        return mri.CartesianSense(birdcage_maps((n, n), coils), mask[:, None].expand(n, n).float())
    if modality == "pet":
        scanner = pet.scanner("biograph-mmr", downsample=200 // n)
        if scanner.image_shape != (n, n):
            raise ValueError(f"no down-sampled Biograph mMR has {n}² pixels")
        return pet.SystemModel(scanner, background=0.5, n_threads=1)
    raise ValueError(f"unknown modality {modality!r}")


def phantoms(op: LinearOperator, batch: int = 4, seed: int = 0) -> torch.Tensor:
    """A batch of six random ellipses each in op's domain, values in [0, 1] (complex: a smooth phase)."""
    g = torch.Generator().manual_seed(seed)
    images = torch.stack([_random_ellipses(op.domain_shape[-2:], g) for _ in range(batch)])
    if op.domain_dtype.is_complex:
        n = op.domain_shape[-1]
        phase = torch.linspace(0, math.pi / 2, n)[None, :] + torch.rand(batch, 1, 1, generator=g)
        images = (images * torch.exp(1j * phase)).to(torch.complex64)
    return images


def _random_ellipses(shape, g):
    """Six large ellipses of values in [-0.3, 0.7], summed and clipped at 0: a simple learning target."""
    r = torch.rand(6, 6, generator=g, dtype=torch.float64).tolist()
    table = [
        (v - 0.3, 0.05 + 0.45 * a, 0.05 + 0.45 * b, 1.2 * cx - 0.6, 1.2 * cy - 0.6, 360 * t) for v, a, b, cx, cy, t in r
    ]
    return ellipses(shape, table).clamp_min(0)


def measure(op: LinearOperator, images: torch.Tensor) -> torch.Tensor:
    """Noiseless data: A x, or expected counts A x + s for an operator with a background (PET)."""
    with torch.no_grad():
        return op.expected(images)
