"""Coil sensitivity maps: estimated from calibration data by ESPIRiT, or simulated (birdcage), both through SigPy.

Example::

    maps = espirit_maps(kspace)       # kspace: (coils, y, x) complex64, centre fully sampled
    maps = birdcage_maps((64, 64), 8) # simulated, Σ_c |S_c|² = 1
    A = CartesianSense(maps, mask)
"""
from __future__ import annotations

import numpy as np
import torch

from .cartesian import complex_tensor
from .sigpy_adapter import to_array, to_tensor

__all__ = ["espirit_maps", "birdcage_maps"]


def espirit_maps(kspace: torch.Tensor, calib_width: int = 24, thresh: float = 0.02, kernel_width: int = 6,
                 crop: float = 0.95, n_iter: int = 100) -> torch.Tensor:
    """ESPIRiT maps (Uecker et al. MRM 2014): the top eigenvector of the calibration-derived operator per pixel.

    Maps are normalised (Σ_c |S_c|² = 1 inside the support, phase relative to coil 0) and set
    to zero where the eigenvalue is below ``crop``. Runs on the tensor's device.

    Shapes: kspace (coils, y, x) complex -> maps (coils, y, x) complex64.
    """
    import sigpy
    import sigpy.mri
    kspace = complex_tensor(kspace, "k-space")
    if kspace.dim() not in (3, 4):
        raise ValueError(f"expected k-space of shape (coils, y, x) or (coils, z, y, x), got {tuple(kspace.shape)}")
    if calib_width > min(kspace.shape[1:]):
        raise ValueError(f"expected calib_width <= the k-space size {tuple(kspace.shape[1:])}, got {calib_width}")
    device = sigpy.Device(kspace.device.index if kspace.is_cuda else -1)
    app = sigpy.mri.app.EspiritCalib(to_array(kspace), calib_width=calib_width, thresh=thresh,
                                     kernel_width=kernel_width, crop=crop, max_iter=n_iter, device=device,
                                     show_pbar=False)
    return to_tensor(app.run(), torch.complex64)


def birdcage_maps(image_shape, n_coils: int, radius: float = 1.5) -> torch.Tensor:
    """Birdcage coil maps from ``sigpy.mri.birdcage_maps``, normalised so that ``Σ_c |S_c|² = 1``.

    ``S_c(r) ∝ exp(iφ_c(r)) / |r - r_c|``: ``n_coils`` coils on a ring of ``radius`` (relative to the
    image's half-width, > 1 puts them outside the image), divided by their root-sum-of-squares.

    Why normalise: then ``Σ_c conj(S_c) S_c = 1``, so `bridges.mri.CartesianSense` with a full mask is
    an isometry (``A^H A = I``, ``‖A‖ = 1``) and the zero-filled ``A^H y`` and the noise per pixel in it
    stay on the image's scale whatever the coil count. (With an undersampling mask and more than one
    coil ``A^H A = S^H F^H M F S`` is in general not a projection; ``‖A‖ ≤ 1`` still holds.)

    Shapes: image_shape (y, x) -> maps (n_coils, y, x) complex64.

    Example::

        maps = birdcage_maps((64, 64), 8)
        A = CartesianSense(maps, mask_equispaced((64, 64), 4, 0.08))
    """
    import sigpy.mri
    shape = tuple(image_shape)
    if len(shape) != 2 or not all(isinstance(n, int) and n > 0 for n in shape):
        raise ValueError(f"expected image_shape as (y, x) positive integers, got {image_shape!r}")
    if not (isinstance(n_coils, int) and n_coils > 0):
        raise ValueError(f"expected n_coils as a positive integer, got {n_coils!r}")
    if not (isinstance(radius, (int, float)) and radius > 1):
        raise ValueError(f"expected radius > 1 (coils outside the image, relative to its half-width), got {radius!r}")
    maps = sigpy.mri.birdcage_maps((n_coils, *shape), r=float(radius), dtype=np.complex128)
    # SigPy already divides by the root-sum-of-squares; redo it so the invariant holds in any version.
    maps = maps / np.sqrt(np.sum(np.abs(maps) ** 2, axis=0))
    return torch.from_numpy(maps.astype(np.complex64))
