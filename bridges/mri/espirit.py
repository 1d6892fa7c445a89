"""Coil sensitivity maps from calibration data by ESPIRiT (``sigpy.mri.app.EspiritCalib``).

Example::

    maps = espirit_maps(kspace)       # kspace: (coils, y, x) complex64, centre fully sampled
    A = CartesianSense(maps, mask)
"""
from __future__ import annotations

import torch

from .cartesian import complex_tensor
from .sigpy_adapter import to_array, to_tensor


def espirit_maps(kspace: torch.Tensor, calib_width: int = 24, thresh: float = 0.02, kernel_width: int = 6,
                 crop: float = 0.95, max_iter: int = 100) -> torch.Tensor:
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
                                     kernel_width=kernel_width, crop=crop, max_iter=max_iter, device=device,
                                     show_pbar=False)
    return to_tensor(app.run(), torch.complex64)
