"""Simulated receive-coil sensitivities for multi-coil MRI (SigPy's birdcage model)."""
from __future__ import annotations

import numpy as np
import torch

from experiments.data.phantoms import check_image_shape

__all__ = ["birdcage_maps"]


def birdcage_maps(shape, n_coils: int, radius: float = 1.5) -> torch.Tensor:
    """Birdcage coil maps from ``sigpy.mri.birdcage_maps``, normalised so that ``Σ_c |S_c|² = 1``.

    ``S_c(r) ∝ exp(iφ_c(r)) / |r - r_c|``: ``n_coils`` coils on a ring of ``radius`` (relative to the
    image's half-width, > 1 puts them outside the image), divided by their root-sum-of-squares.

    Why normalise: then ``Σ_c conj(S_c) S_c = 1``, so `bridges.mri.CartesianSense` with a full mask is
    an isometry (``A^H A = I``, ``‖A‖ = 1``) and the zero-filled ``A^H y`` and the noise per pixel in it
    stay on the image's scale whatever the coil count. (With an undersampling mask and more than one
    coil ``A^H A = S^H F^H M F S`` is in general not a projection, so `learned.is_partial_isometry` holds
    only for single-coil masked operators; ``‖A‖ ≤ 1`` still holds.)

    Shapes: shape (y, x) -> maps (n_coils, y, x) complex64.

    Example::

        maps = birdcage_maps((64, 64), 8)
        A = bridges.mri.CartesianSense(maps, bridges.mri.mask_equispaced((64, 64), 4, 0.08))
    """
    import sigpy.mri

    shape = check_image_shape(shape)
    if not (isinstance(n_coils, int) and n_coils > 0):
        raise ValueError(f"expected n_coils as a positive integer, got {n_coils!r}")
    if not (isinstance(radius, (int, float)) and radius > 1):
        raise ValueError(f"expected radius > 1 (coils outside the image, relative to its half-width), got {radius!r}")
    maps = sigpy.mri.birdcage_maps((n_coils, *shape), r=float(radius), dtype=np.complex128)
    # SigPy already divides by the root-sum-of-squares; redo it so the invariant holds in any version.
    maps = maps / np.sqrt(np.sum(np.abs(maps) ** 2, axis=0))
    return torch.from_numpy(maps.astype(np.complex64))
