"""Non-Cartesian k-space trajectories from SigPy, as tensors in SigPy's coordinate convention.

Coordinates are cycles per FOV, k[..., d] in [-N_d/2, N_d/2], last axis ordered (y, x).

Example::

    >>> k = radial(128, 512, (256, 256))              # golden-angle radial: 128 spokes of 512 points
    >>> k.shape, bool(k.abs().max() <= 128)           # cycles per FOV, within [-N/2, N/2]
    (torch.Size([128, 512, 2]), True)
"""

from __future__ import annotations

import numpy as np
import torch


def radial(n_spokes: int, n_samples: int, image_shape, golden: bool = True) -> torch.Tensor:
    """Centre-out radial spokes (``sigpy.mri.radial``); golden-angle (111.25°) ordering by default.

    Shapes: -> (n_spokes, n_samples, len(image_shape)) float32.
    """
    import sigpy.mri

    if n_spokes <= 0 or n_samples <= 0:
        raise ValueError(f"expected positive n_spokes and n_samples, got {n_spokes}, {n_samples}")
    shape = tuple(int(n) for n in image_shape)
    coords = sigpy.mri.radial((n_spokes, n_samples, len(shape)), shape, golden=golden, dtype=np.float32)
    return torch.from_numpy(coords)


def spiral(
    image_shape,
    n_interleaves: int,
    fov: float = 240.0,
    acceleration: float = 1.0,
    alpha: float = 1.0,
    max_gradient: float = 0.04,
    max_slew: float = 150.0,
    readout_oversampling: float = 1.0,
) -> torch.Tensor:
    """Variable-density spiral (``sigpy.mri.spiral``, Kim et al. MRM 2003) for a square 2D image.

    ``fov`` in mm (SigPy's is in m); gradient limits in T/m and T/m/s. SigPy returns k in 1/m up to
    N/(2 FOV); multiplying by the FOV gives cycles per FOV.

    Shapes: image_shape (n, n) -> (n_points, 2) float32, all interleaves concatenated.
    """
    import sigpy.mri

    shape = tuple(int(n) for n in image_shape)
    if len(shape) != 2 or shape[0] != shape[1] or shape[0] <= 0:
        raise ValueError(f"expected a square 2D image_shape (n, n), got {tuple(image_shape)}")
    if not fov > 0:
        raise ValueError(f"expected fov as a positive number of mm, got {fov!r}")
    fov_m = fov / 1000.0
    k = sigpy.mri.spiral(
        fov_m, shape[0], readout_oversampling, acceleration, n_interleaves, alpha, max_gradient, max_slew
    )
    coords = k[:, ::-1] * fov_m  # SigPy returns (kx, ky); our last axis is (y, x)
    return torch.from_numpy(np.ascontiguousarray(coords, dtype=np.float32))
