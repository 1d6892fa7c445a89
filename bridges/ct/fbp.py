"""Filtered back-projection as a filtered adjoint, in torch: differentiable and batched."""

from __future__ import annotations

import math
import weakref

import numpy as np
import torch

from .geometry import ConeBeam3D, ConeVec3D
from .projector import Projector

FILTERS = ("ram-lak", "shepp-logan", "cosine", "hamming", "hann")

# A projector's FBP constants per (device, dtype, filter, scaling), kept while the projector lives: a
# learned model that starts from FBP (LPD) calls fbp at every step, and a host-to-device upload of the
# weights at each call would stall the GPU on a synchronous copy.
# projector -> {(device, dtype, filter, scaling): (cosine weights or None, ramp filter, angular weights, scale)}
_CONSTANTS: weakref.WeakKeyDictionary[Projector, dict[tuple, tuple]] = weakref.WeakKeyDictionary()


def ramp_filter(
    n_detectors: int,
    spacing: float,
    filter_type: str = "ram-lak",
    frequency_scaling: float = 1.0,
    dtype=torch.float32,
    device="cpu",
) -> torch.Tensor:
    """|ξ| W(ξ / ξ_max) on the rfft grid of the zero-padded length ``2 n - 1`` (ξ in rad/mm).

    W is the window named by ``filter_type``, stretched so that frequencies above
    ``frequency_scaling · ξ_max`` are cut, as in ODL's ``fbp_filter_op``.
    """
    if filter_type not in FILTERS:
        raise ValueError(f"filter_type must be one of {FILTERS}, got {filter_type!r}")
    if not 0 < frequency_scaling <= 1:
        raise ValueError(f"frequency_scaling must be in (0, 1], got {frequency_scaling}")
    n = 2 * n_detectors - 1
    xi = 2 * math.pi * torch.fft.rfftfreq(n, d=spacing, dtype=torch.float64, device=device)
    nu = xi / xi.max()  # normalised frequency in [0, 1]
    s = frequency_scaling
    window = {
        "ram-lak": torch.ones_like(nu),
        "shepp-logan": torch.sinc(nu / (2 * s)),
        "cosine": torch.cos(nu * math.pi / (2 * s)),
        "hamming": 0.54 + 0.46 * torch.cos(nu * math.pi / s),
        "hann": torch.cos(nu * math.pi / (2 * s)) ** 2,
    }[filter_type]
    return (xi * window * (nu <= s)).to(dtype)


def angular_weights(angles: np.ndarray) -> np.ndarray:
    """Quadrature weights of each view: half the gaps to its neighbours (ends take their one gap)."""
    if angles.size == 1:
        return np.ones(1) * math.pi
    order = np.argsort(angles)
    gaps = np.diff(angles[order])
    w = np.empty_like(angles)
    w[order] = (np.concatenate([gaps[:1], gaps]) + np.concatenate([gaps, gaps[-1:]])) / 2
    return w


def fbp(
    projector: Projector, sinogram: torch.Tensor, *, filter_type: str = "ram-lak", frequency_scaling: float = 1.0
) -> torch.Tensor:
    """Filtered back-projection ``f = Aᵀ (w · (h * p)) · d / (2 L |pixel|)``.

    ``h`` is the ramp filter (``ramp_filter``) along the detector, ``w`` the angular
    quadrature weights, ``d`` the detector spacing, ``L`` the angular range covered
    and ``|pixel|`` the pixel area: the discretisation ODL's ``fbp_op`` uses, so the
    two agree on the same geometry and filter. Exact for parallel beams (angular range
    π); for fan and cone beams it is the filtered adjoint used by ODL (and FDK's
    cosine weighting for cone beams), exact at the isocentre and increasingly
    approximate away from it.

    Shapes: sinogram (*batch, *projector.range_shape) in mm -> image (*batch, *domain_shape) in 1/mm.

    Example::

        >>> from bridges.ct import ParallelBeam2D
        >>> A = Projector(ParallelBeam2D(angles=16, n_detectors=12, detector_spacing=1.0, image_shape=(8, 8)))
        >>> image = fbp(A, A(torch.ones(2, 8, 8)), filter_type="hann")
        >>> image.shape
        torch.Size([2, 8, 8])
    """
    geometry = projector.geometry
    if not hasattr(geometry, "angles"):
        raise ValueError(f"fbp needs a circular geometry with angles, got {type(geometry).__name__}")
    if geometry.is_3d and getattr(geometry, "detector_curve", "flat") != "flat":
        raise ValueError(
            "FDK here weights a flat detector; a cylindrical one (detector_curve='arc') needs FDK's "
            "curved-detector form, which is not implemented"
        )
    if tuple(sinogram.shape[sinogram.dim() - len(projector.range_shape) :]) != projector.range_shape:
        raise ValueError(
            f"expected sinogram of shape (..., {', '.join(map(str, projector.range_shape))}), "
            f"got {tuple(sinogram.shape)}"
        )
    n_det = projector.range_shape[-1]
    real = sinogram.real.dtype if sinogram.is_complex() else sinogram.dtype
    cosine, filt, weights, scale = _constants(projector, sinogram.device, real, filter_type, frequency_scaling)
    p = sinogram if cosine is None else sinogram * cosine
    q = torch.fft.irfft(torch.fft.rfft(p, n=2 * n_det - 1, dim=-1) * filt, n=2 * n_det - 1, dim=-1)[..., :n_det]
    return projector.adjoint(q * weights) * scale


def _constants(projector, device, dtype, filter_type, frequency_scaling):
    """(FDK cosine weights or None, ramp filter, angular weights (views, 1), scale) of `fbp`, on ``device``."""
    key = (str(device), dtype, filter_type, frequency_scaling)
    kept = _CONSTANTS.setdefault(projector, {})
    if key not in kept:
        geometry = projector.geometry
        spacing = geometry.detector_spacing
        spacing = spacing[1] if np.ndim(spacing) else spacing
        cosine = None
        if isinstance(geometry, (ConeBeam3D, ConeVec3D)):
            cosine = _fdk_cosine_weights(geometry, dtype, device)
        filt = ramp_filter(projector.range_shape[-1], spacing, filter_type, frequency_scaling, dtype, device)
        w = angular_weights(geometry.angles)
        # the views are axis -2: (views, detector) in 2D, (rows, views, columns) in 3D; the angles are the
        # geometry's host numbers, so this is the one upload, once per device
        weights = torch.as_tensor(w, dtype=dtype, device=device).reshape(-1, 1)
        # For diverging beams the ramp runs in detector coordinates and the transpose weights a
        # pixel by D_sd / L (rays converge): the two cancel exactly at the isocentre (L = R_s).
        scale = spacing / (2 * float(w.sum()) * float(np.prod(geometry.pixel_size[-2:])))
        kept[key] = (cosine, filt, weights, scale)
    return kept[key]


def _fdk_cosine_weights(geometry, dtype=torch.float32, device="cpu"):
    """FDK's pre-weighting D / sqrt(D² + u² + v²) on the detector (rows, 1, columns), built on ``device``."""
    rows, cols = geometry.detector_shape
    dv, du = geometry.detector_spacing
    d = geometry.source_distance + geometry.detector_distance
    v = (torch.arange(rows, dtype=torch.float64, device=device) - (rows - 1) / 2) * dv
    u = (torch.arange(cols, dtype=torch.float64, device=device) - (cols - 1) / 2) * du
    return (d / torch.sqrt(d**2 + u[None, None, :] ** 2 + v[:, None, None] ** 2)).to(dtype)


def fdk(
    projector: Projector, projections: torch.Tensor, *, filter_type: str = "ram-lak", frequency_scaling: float = 1.0
) -> torch.Tensor:
    """Feldkamp-Davis-Kress reconstruction for circular cone beams (on CUDA tensors: ASTRA's 3D
    projectors need a GPU). Shapes: (*batch, rows, views, columns) -> (*batch, z, y, x)."""
    if not isinstance(projector.geometry, ConeBeam3D):
        raise ValueError(f"fdk needs a ConeBeam3D geometry, got {type(projector.geometry).__name__}")
    return fbp(projector, projections, filter_type=filter_type, frequency_scaling=frequency_scaling)
