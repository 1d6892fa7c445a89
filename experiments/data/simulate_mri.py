"""MRI data that the reconstruction's operator did not make: the object's k-space computed on a grid ``fine`` times
finer, with coil maps evaluated there, then cut to the reconstruction's k-space grid.

The reconstruction's `bridges.mri.CartesianSense(maps, mask)` transforms a pixelised image times coil maps sampled
at its pixel centres. Data from that same operator on the same grid agree with it exactly, which no scanner's data
do (the inverse crime). `MRISimulator` measures the object on a grid ``f`` times finer instead:

    y_c(k) = M(k) · e^{-2πi k·δ/n} / f · [F_fine(S_c ⊙ x_fine)](k),    |k| within the reconstruction's grid

``x_fine`` the object's pixel averages on the fine grid, ``S_c`` the birdcage sensitivity that
`bridges.mri.birdcage_maps` samples, evaluated at the fine pixel centres (`birdcage_at`), ``F_fine`` the centred
orthonormal FFT on the fine grid, cropped to the central (ny, nx) frequencies; ``1/f`` makes orthonormal FFTs on
the two grids agree in scale and the ramp moves the fine FFT's origin onto the coarse one's (`MRISimulator.kspace`).
The truth is the object's average over each pixel of the reconstruction grid: the mean of the fine rendering
over each of its pixels.

Shapes: ``simulator(obj)`` -> ({"x": truth (y, x) complex64}, k-space (coils, y, x) complex64, 0 where unsampled).

Example::

    simulator = MRISimulator((64, 64), 8, mask_equispaced((64, 64), 4, 0.08))
    fields, clean = simulator(mri_object(generator))     # fields["x"]: the truth
    y = complex_gaussian_noise(clean, sigma, generator, simulator.mask)
"""

from __future__ import annotations

import math

import torch

from bridges.mri import fft2c
from experiments.data.ellipse_tables import pixel_average

# Points per fine pixel for objects without closed-form averages: 2² on the 4x grid, 8² per reconstruction pixel
FINE_SUPERSAMPLE = 2

__all__ = ["MRISimulator", "birdcage_at"]


def birdcage_at(y, x, image_shape, n_coils: int, radius: float = 1.5) -> torch.Tensor:
    """SigPy's birdcage sensitivities (``sigpy.mri.birdcage_maps``'s formula) at index positions ``y`` (rows) and
    ``x`` (columns) of an ``image_shape`` grid, divided by their root-sum-of-squares over coils; at the integer
    positions they are `bridges.mri.birdcage_maps`. Computed in float64.

    Shapes: y (m,), x (p,) -> (n_coils, m, p) complex64.
    """
    ny, nx = image_shape
    y, x = torch.as_tensor(y, dtype=torch.float64), torch.as_tensor(x, dtype=torch.float64)
    angle = torch.arange(n_coils, dtype=torch.float64)[:, None, None] * (2 * math.pi / n_coils)
    x_co = (x[None, None, :] - nx / 2) / (nx / 2) - radius * torch.cos(angle)
    y_co = (y[None, :, None] - ny / 2) / (ny / 2) - radius * torch.sin(angle)
    maps = torch.polar(1 / torch.hypot(x_co, y_co), torch.atan2(x_co, -y_co) - angle)
    return (maps / maps.abs().square().sum(0).sqrt()).to(torch.complex64)


class MRISimulator:
    """Noiseless multi-coil k-space of continuous objects, and their truth on the reconstruction's grid (module
    docstring). ``mask`` is the reconstruction's (real, broadcastable to ``image_shape``); ``coil_radius`` as
    `bridges.mri.birdcage_maps` takes it."""

    def __init__(self, image_shape, n_coils: int, mask, fine: int = 4, coil_radius: float = 1.5):
        shape = tuple(image_shape)
        if len(shape) != 2 or not all(isinstance(n, int) and not isinstance(n, bool) and n > 0 for n in shape):
            raise ValueError(f"expected image_shape as (y, x) positive integers, got {image_shape!r}")
        for name, value in (("n_coils", n_coils), ("fine", fine)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"expected {name} as a positive integer, got {value!r}")
        if isinstance(coil_radius, bool) or not isinstance(coil_radius, (int, float)) or not coil_radius > 1:
            raise ValueError(f"expected coil_radius > 1 (coils outside the image), got {coil_radius!r}")
        mask = torch.as_tensor(mask)
        if mask.is_complex() or mask.dtype == torch.bool:
            raise TypeError(f"expected a real sampling mask (float), got {mask.dtype}")
        if mask.dim() > 2 or any(m not in (1, n) for m, n in zip(mask.shape[::-1], shape[::-1])):
            raise ValueError(
                f"expected a mask broadcastable to {shape} ((y, x), (1, x) or (y, 1)), got {tuple(mask.shape)}"
            )
        if not torch.isfinite(mask).all():
            raise ValueError("expected a finite mask, got NaN or Inf")
        self.image_shape, self.n_coils, self.fine, self.coil_radius = shape, n_coils, fine, float(coil_radius)
        self.mask = mask.to(torch.float32)
        (ny, nx), f = shape, fine
        self.fine_shape = (f * ny, f * nx)
        # fine pixel j's centre lies at coarse index (j + ½)/f − ½
        self.maps = birdcage_at(
            (torch.arange(f * ny) + 0.5) / f - 0.5,
            (torch.arange(f * nx) + 0.5) / f - 0.5,
            shape,
            n_coils,
            self.coil_radius,
        )
        # The centred FFT (fftshift ∘ fft ∘ ifftshift) of n points puts its origin at index n//2 and frequency k at
        # index k + n//2. In coarse-pixel units the coarse origin is u₀ = n//2, the fine one (fine index f n//2)
        # u_f = (f n//2 + ½)/f − ½. Frequency k is k cycles per field on both grids, so the fine FFT gives
        # Σ_j x_j e^{−2πi k (u_j − u_f)/n} and the coarse one wants e^{−2πi k (u_j − u₀)/n}: multiply by
        # e^{−2πi k δ/n}, δ = u_f − u₀ (−(f − 1)/2f for even n). The fine sum has f² terms per coarse pixel, the
        # orthonormal FFTs scale by 1/√(f² n_y n_x) and 1/√(n_y n_x): divide by f.
        ramps = []
        for n in shape:
            delta = (f * n // 2 + 0.5) / f - 0.5 - n // 2
            k = torch.arange(n, dtype=torch.float64) - n // 2
            ramps.append(torch.polar(torch.ones(n, dtype=torch.float64), -2 * math.pi * k * delta / n))
        self.ramp = (ramps[0][:, None] * ramps[1][None, :]).to(torch.complex64)
        self._crop = tuple(slice(f * n // 2 - n // 2, f * n // 2 - n // 2 + n) for n in shape)
        self._weight = self.ramp / f

    def kspace(self, fine_images: torch.Tensor) -> torch.Tensor:
        """Images on the fine grid -> their k-space on the reconstruction's grid (unmasked): the centred FFT on the
        fine grid, its central (ny, nx) frequencies, times the origin's ramp, over ``f``.

        Shapes: (*batch, f ny, f nx) complex64 -> (*batch, ny, nx) complex64.
        """
        return fft2c(fine_images)[..., self._crop[0], self._crop[1]] * self._weight

    def __call__(self, obj) -> tuple[dict, torch.Tensor]:
        """The item's fields (its truth ``"x"``: the fine rendering's mean over each reconstruction pixel, so that
        truth and data see one sampling of the object) and its coil k-space from the fine grid, times the mask
        (0 where unsampled)."""
        fine = torch.as_tensor(obj.render(self.fine_shape, supersample=FINE_SUPERSAMPLE))
        if not fine.is_complex():
            raise TypeError(
                f"expected an object that renders a complex MR image (complex64), got {fine.dtype} "
                f"from {type(obj).__name__}"
            )
        fine = fine.to(torch.complex64)
        return {"x": pixel_average(fine, self.fine)}, self.kspace(fine * self.maps) * self.mask
