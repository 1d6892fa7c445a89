"""SPECT rows: the `bridges.spect.Projector` against closed forms, a first-principles point-driven projector and
PyTomography 3.4's rotate-and-sum system matrix.

- adjoint: the dot-product test in float32 and float64 (the splat matrix and its stored transpose, the
  convolution and its transposed convolution: the adjoint is exact up to rounding);
- point-source FWHM: a point in air seen in every view as a Gaussian of the collimator's FWHM at its distance
  (second moment, less the bin width's h²/12 and the splat's f(1−f)h²) at its projected place (first moment);
- water-disk attenuation: a point at the centre of a water disk (μ = 0.0153/mm at 140 keV) keeps exp(−μR) of
  its counts in every view;
- first principles: `first_principles` below, written without the rotation code: every pixel cut into s×s
  sub-points, each attenuated by a ray march through the piecewise-constant μ-map to the detector and spread over
  the bins by the Gaussian integrated over each bin;
- PyTomography: ``SPECTSystemMatrix`` with ``SPECTAttenuationTransform`` and ``SPECTPSFTransform`` on the same
  object (its axes [x, y, z] with x reversed, detector angle β = θ + 90°, bins reversed, lengths in cm; the
  mirror mapping β = θ + 270° agrees without attenuation and not with it), SKIPPED without it.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from scipy.special import erf

from . import FLOAT32, FLOAT32_NOTE, Row, rel

M = "SPECT"
MU_WATER = 0.0153  # 1/mm at 140 keV (NIST XCOM: 0.01531)
FIRST_PRINCIPLES_TOL = 0.03
FIRST_PRINCIPLES_NOTE = (
    "discretisation: bilinear splat and bilinear μ on a one-pixel frame vs 4x4 sub-points "
    "and a ray march through square pixels (smooth phantom, 32², h = 8 mm)"
)
PYTOMOGRAPHY_TOL = 0.06  # measured 5.2e-2 at 2x32² (8.84 mm), 2.7e-2 without blur
PYTOMOGRAPHY_NOTE = (
    "two discretisations: our bilinear splat vs its bilinear pull rotation (kornia/grid_sample), "
    "our bin-integrated kernels vs its sampled ones (its z blur also on 2 slices); smooth phantom"
)


def smooth_phantom(geometry, dtype=torch.float64):
    """A smooth activity (two Gaussian blobs in an elliptical body) and a smooth μ-map inside the inscribed disk."""
    xs, ys = (torch.from_numpy(a) for a in geometry.pixel_positions())
    y, x = torch.meshgrid(ys, xs, indexing="ij")
    r = geometry.image_shape[-1] * geometry.pixel_size / 2
    body = torch.sigmoid((1 - (x / (0.8 * r)) ** 2 - (y / (0.6 * r)) ** 2) * 8)
    activity = (
        body
        + 3 * torch.exp(-((x - 0.3 * r) ** 2 + (y + 0.1 * r) ** 2) / (2 * (0.12 * r) ** 2))
        + 2 * torch.exp(-((x + 0.35 * r) ** 2 + (y - 0.2 * r) ** 2) / (2 * (0.08 * r) ** 2))
    )
    mu = MU_WATER * body
    shape = geometry.image_shape
    if geometry.is_3d:
        activity, mu = activity.expand(shape).clone(), mu.expand(shape).clone()
    return activity.to(dtype), mu.to(dtype)


def first_principles(geometry, collimator, activity, mu, sub: int = 4, step_fraction: float = 0.125):
    """The 2D attenuated, blurred projection of ``activity`` (y, x) from first principles, float64 NumPy.

    Each pixel is s×s sub-points of mass x·h/s² (the line-integral convention: a view's bins sum to h Σ x); a
    sub-point p seen from view v at depth s = p·n, across t = p·t̂, is attenuated by exp(−∫ μ) along p + u n, u ≥ 0
    (midpoint rule, step h·step_fraction, μ constant on each square pixel), and spread over bin k by
    Φ((t_k + h/2 − t)/σ) − Φ((t_k − h/2 − t)/σ), σ = collimator.sigma(max(R_v − s, 0)).
    """
    g, h = geometry, geometry.pixel_size
    ny, nx = g.image_shape[-2:]
    act, mu = np.asarray(activity, float), np.asarray(mu, float)
    xs, ys = g.pixel_positions()
    offs = (np.arange(sub) + 0.5) / sub - 0.5
    full = (ny, nx, sub, sub)  # pixel (i, j), sub-point (a, b): y offset a, x offset b
    px = np.broadcast_to(xs[None, :, None, None] + offs[None, None, None, :] * h, full).reshape(-1)
    py = np.broadcast_to(ys[:, None, None, None] + offs[None, None, :, None] * h, full).reshape(-1)
    mass = np.repeat(act.reshape(-1), sub * sub) * h / sub**2
    bins = g.bin_positions()
    step = h * step_fraction
    n_steps = int(math.ceil(math.hypot(nx, ny) * h / step)) + 1
    out = np.zeros((g.n_views, g.n_bins))
    for v, (theta, radius) in enumerate(zip(g.angles, g.radii)):
        c, s = math.cos(theta), math.sin(theta)
        depth, across = px * c + py * s, -px * s + py * c
        u = (np.arange(n_steps) + 0.5) * step
        qx, qy = px[:, None] + u * c, py[:, None] + u * s
        j = np.floor(qx / h + nx / 2).astype(int)
        i = np.floor(qy / h + ny / 2).astype(int)
        inside = (i >= 0) & (i < ny) & (j >= 0) & (j < nx)
        path = np.where(inside, mu[np.clip(i, 0, ny - 1), np.clip(j, 0, nx - 1)], 0.0).sum(1) * step
        weight = mass * np.exp(-path)
        if collimator is None:
            spread = ((bins[None, :] - h / 2 <= across[:, None]) & (across[:, None] < bins[None, :] + h / 2)) * 1.0
        else:
            sigma = collimator.sigma(np.maximum(radius - depth, 0.0))[:, None] * math.sqrt(2)
            spread = 0.5 * (
                erf((bins[None, :] + h / 2 - across[:, None]) / sigma)
                - erf((bins[None, :] - h / 2 - across[:, None]) / sigma)
            )
        out[v] = weight @ spread
    return out


def pytomography_forward(geometry, collimator, mu, kernel_sigmas: float = 3.0):
    """PyTomography 3.4's forward projection on our geometry: a function image (z, y, x) -> (z, views, bins) in
    our units (its projections are sums over voxels: times h for line integrals). Needs z ≥ 1 slices."""
    import pytomography  # noqa: F401
    from pytomography.metadata.SPECT import SPECTObjectMeta, SPECTProjMeta, SPECTPSFMeta
    from pytomography.projectors.SPECT import SPECTSystemMatrix
    from pytomography.transforms.SPECT import SPECTAttenuationTransform, SPECTPSFTransform

    g = geometry
    h_cm, z_cm = g.pixel_size / 10, g.slice_thickness / 10
    n_z = g.image_shape[0] if g.is_3d else 1
    to_obj = lambda t: t.reshape(n_z, *g.image_shape[-2:]).flip(-1).permute(2, 1, 0).float().contiguous()  # noqa: E731
    angles = [(math.degrees(a) + 90.0) % 360.0 for a in g.angles]
    om = SPECTObjectMeta((h_cm, h_cm, z_cm), (g.image_shape[-1], g.image_shape[-2], n_z))
    pm = SPECTProjMeta((g.n_bins, n_z), (h_cm, z_cm), angles, radii=[r / 10 for r in g.radii])
    obj2obj = []
    if mu is not None:
        obj2obj.append(SPECTAttenuationTransform(to_obj(torch.as_tensor(mu)) * 10.0))  # 1/cm
    if collimator is not None:
        leff_cm = collimator.effective_length / 10
        fwhm2sigma = 1 / (2 * math.sqrt(2 * math.log(2)))
        params = [
            collimator.hole_diameter / 10 / leff_cm * fwhm2sigma,
            collimator.hole_diameter / 10 * (1 + collimator.gap / collimator.effective_length) * fwhm2sigma,
            collimator.intrinsic_fwhm / 10 * fwhm2sigma,
        ]
        psf = SPECTPSFMeta(
            params,
            lambda r, a, b, c: np.sqrt((a * r + b) ** 2 + c**2),
            kernel_dimensions="2D" if g.is_3d else "1D",
            min_sigmas=kernel_sigmas,
        )
        obj2obj.append(SPECTPSFTransform(psf))
    system = SPECTSystemMatrix(obj2obj, [], om, pm)

    def forward(image):
        with torch.no_grad():
            proj = system.forward(to_obj(image))  # (views, bins, z)
        return proj.permute(2, 0, 1).flip(-1).to(torch.float64) * g.pixel_size

    forward.system = system
    forward.to_obj = to_obj
    return forward


def point_moments(projection, bins):
    """Per view: total, mean and variance of a profile (views, bins) over bin positions (mm)."""
    p = np.asarray(projection, float)
    total = p.sum(-1)
    mean = (p * bins).sum(-1) / total
    var = (p * (bins - mean[:, None]) ** 2).sum(-1) / total
    return total, mean, var


def point_source_errors(collimator, n: int = 64, h: float = 4.0, views: int = 16, point=(7.3, -21.6)):
    """Largest relative errors over views of a point's FWHM (second moment less h²/12 and the splat's f(1−f)h²)
    and of its position (first moment, in units of h) against the collimator's prediction; no attenuation."""
    from bridges import spect

    g = spect.SPECTGeometry.circular((n, n), h, views, 180.0, arc=2 * math.pi)
    A = spect.Projector(g, collimator, dtype=torch.float64, kernel_sigmas=6.0)
    xs, ys = g.pixel_positions()
    j, i = int(np.argmin(abs(xs - point[0]))), int(np.argmin(abs(ys - point[1])))
    image = torch.zeros(n, n, dtype=torch.float64)
    image[i, j] = 1.0
    _, mean, var = point_moments(A(image).numpy(), g.bin_positions())
    fwhm_err = pos_err = 0.0
    for v, (theta, radius) in enumerate(zip(g.angles, g.radii)):
        c, s = math.cos(theta), math.sin(theta)
        depth, across = xs[j] * c + ys[i] * s, -xs[j] * s + ys[i] * c
        f = (across / h + (g.n_bins - 1) / 2) % 1.0
        fwhm = 2 * math.sqrt(2 * math.log(2)) * math.sqrt(max(var[v] - h * h / 12 - f * (1 - f) * h * h, 0.0))
        fwhm_err = max(fwhm_err, abs(fwhm / float(collimator.fwhm(radius - depth)) - 1))
        pos_err = max(pos_err, abs(mean[v] - across) / h)
    return fwhm_err, pos_err


def water_disk_error(n: int = 221, h: float = 0.5, radius_mm: float = 51.0, views: int = 12, dtype=torch.float64):
    """Largest relative error over views of (counts with attenuation / counts without) against exp(−μR) for a point
    at the centre of a water disk, with a collimator blur (counts, not one bin: the blur only spreads them).
    Each pixel holds μ times the fraction of its area inside the disk (8 x 8 sub-points), so that the edge is
    where the disk's is, within the sub-points' h/16."""
    from bridges import spect

    g = spect.SPECTGeometry.circular((n, n), h, views, 200.0)
    xs, ys = g.pixel_positions()
    sub = (np.arange(8) - 3.5) * h / 8
    x = xs[None, :, None, None] + sub[None, None, None, :]
    y = ys[:, None, None, None] + sub[None, None, :, None]
    inside = ((x**2 + y**2) <= radius_mm**2).mean((2, 3))
    mu = torch.from_numpy(MU_WATER * inside).to(dtype)
    point = torch.zeros(n, n, dtype=dtype)
    point[n // 2, n // 2] = 1.0
    lehr = spect.collimator("siemens-symbia-lehr")
    with_mu = spect.Projector(g, lehr, attenuation=mu, dtype=dtype)(point).sum(-1)
    without = spect.Projector(g, lehr, dtype=dtype)(point).sum(-1)
    return float(((with_mu / without) / math.exp(-MU_WATER * radius_mm) - 1).abs().max())


def checks(quick: bool):
    from bridges import spect

    lehr = spect.collimator("siemens-symbia-lehr")
    n = 32 if quick else 64
    for case, shape in ((f"{n}², 24 views, LEHR, water μ", (n, n)), (f"2x{n}², 24 views, LEHR, water μ", (2, n, n))):
        g = spect.SPECTGeometry.circular(shape, 256.0 / n, 24, 180.0, heads=2)
        _, mu = smooth_phantom(g)
        for dtype, tol, note in ((torch.float32, FLOAT32, FLOAT32_NOTE), (torch.float64, 1e-12, "float64 rounding")):
            A = spect.Projector(g, lehr, attenuation=mu, dtype=dtype)
            yield Row(M, f"{case}, {str(dtype)[6:]}", "adjoint test", A.adjoint_error(), tol, note)
    fwhm_err, pos_err = point_source_errors(lehr)
    yield Row(
        M,
        "point in air, 64² at 4 mm, 16 views",
        "FWHM vs R_int ⊕ R_col(d)",
        fwhm_err,
        5e-3,
        "kernels cut at 6σ (variance loss 1e-7); σ² interpolated linearly between two depth planes",
    )
    yield Row(
        M,
        "point in air, 64² at 4 mm, 16 views",
        "position vs p·t̂ (bins)",
        pos_err,
        1e-9,
        "bilinear splatting keeps the first moment exactly; float64 rounding",
    )
    yield Row(
        M,
        "point at the centre of a 51 mm water disk, 0.5 mm pixels",
        "attenuation vs exp(−μR)",
        water_disk_error(),
        2e-3,
        "the disk's area fractions (edge within h/16) and bilinear μ on the frame's planes: second order in "
        "h = 0.5 mm (a disk of whole pixels errs by up to μh/2 = 3.8e-3)",
    )
    g = spect.SPECTGeometry.circular((32, 32), 8.0, 16, 180.0, heads=2)
    activity, mu = smooth_phantom(g)
    ours = spect.Projector(g, lehr, attenuation=mu, dtype=torch.float64)(activity)
    yield Row(
        M,
        "32² at 8 mm, 16 views, LEHR, water μ",
        "vs first-principles projector",
        rel(ours, torch.from_numpy(first_principles(g, lehr, activity, mu))),
        FIRST_PRINCIPLES_TOL,
        FIRST_PRINCIPLES_NOTE,
    )
    try:
        import pytomography  # noqa: F401
    except ImportError:
        yield Row.skip(
            M,
            "2x64² at 4.42 mm, 60 views, LEHR, water μ",
            "vs PyTomography 3.4",
            "pytomography not installed (pip install 'recon-bridges[bench]')",
        )
        return
    g = spect.SPECTGeometry.circular((2, 64, 64), 4.42, 60, 250.0, heads=2)
    activity, mu = smooth_phantom(g, torch.float32)
    ours = spect.Projector(g, lehr, attenuation=mu)(activity)
    theirs = pytomography_forward(g, lehr, mu)(activity)
    yield Row(
        M,
        "2x64² at 4.42 mm, 60 views, LEHR, water μ",
        "vs PyTomography 3.4",
        rel(ours, theirs),
        PYTOMOGRAPHY_TOL,
        PYTOMOGRAPHY_NOTE,
    )
