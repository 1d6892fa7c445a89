"""CT rows: ASTRA projectors against ODL's RayTransform and against exact line integrals, FBP against the truth, solvers.

Per scanner preset (scaled down): the dot-product adjoint test; forward projection of an
off-centre disk against its closed-form line integrals (rays from first principles, `analytic`);
forward and adjoint against ODL's own ``RayTransform`` on a geometry built here from the preset's
parameters, and `from_odl` of that transform; FBP (Ram-Lak) of the exact sinogram against the
disk's true μ, ours and ODL's ``fbp_op`` side by side; ODL's solvers against ours. ODL's ASTRA
backends have no arc detector, and the Varian cone beam needs ASTRA's CUDA projectors: those
rows are SKIPPED with the reason.
"""
from __future__ import annotations

import dataclasses
import math

import numpy as np
import torch

from . import FLOAT32, FLOAT32_NOTE, ODL_NOTE, ODL_TOL, Row, analytic, rel
from .solvers import em_rows, least_squares_rows

M = "CT"
MU = 0.02  # 1/mm, soft tissue
NO_ARC = "ODL's astra_cpu backend has no arc detector"

# FBP of an exact sinogram: the mean over the disk's interior (pixels within 0.75 ρ of its centre)
# against the true μ. Measured 0.3-0.9 % below μ for ours (parallel, flat and arc fan; 64² and 128²),
# within 0.2 % for ODL's fbp_op (its fan FBP is no worse off-centre on a full 360° scan). Most of ours is
# the zero DC term of the sampled ramp |ξ|: Kak & Slaney's spatial-domain Ram-Lak measured 0.01-0.3 %.
FBP_TOL = 0.015
FBP_NOTE = "FBP discretisation (sampled ramp, views, pixel grid) on a disk's interior mean; twice the worst measured"


# ------------------------------------------------------------------ cases
SCALES = {"quick": (64, 16, 8), "full": (128, 4, 2), "solvers": (64, 8, 4)}  # (image side, view step, binning)


def presets(scale: str) -> dict:
    """Scaled-down presets: the real geometries with every n-th view, binned channels and a coarser grid."""
    from bridges.ct import scanner
    size, view_step, binning = SCALES[scale]
    siemens = scanner("siemens-definition-as", view_step=view_step, detector_binning=binning, image_shape=(size, size))
    return {
        "lodopab": scanner("lodopab", view_step=view_step // 2, detector_binning=binning, image_shape=(size, size)),
        "siemens-definition-as": siemens,
        "siemens-definition-as, flat detector": flat_twin(siemens),
        "varian-truebeam-cbct": None,  # 3D: made only where CUDA is (ASTRA's cone-beam projectors)
    }


def flat_twin(g):
    """The arc-detector fan beam with a flat detector spanning the same fan angle (ODL and ASTRA project it)."""
    half_fan = g.n_detectors * g.detector_spacing / 2 / g.source_detector_distance
    pitch = 2 * g.source_detector_distance * math.tan(half_fan) / g.n_detectors
    return dataclasses.replace(g, detector_curve="flat", detector_spacing=pitch)


def label(name, g) -> str:
    """The table's case: the preset and how far it was scaled down (image side, views x channels)."""
    return f"{name} ({g.image_shape[-1]}², {g.n_views}x{g.n_detectors})"


def disk(g):
    """An off-centre disk: centre (0.2, −0.12) and radius 0.12 of the field of view (x, y in mm)."""
    fov = g.image_shape[-1] * g.pixel_size[-1]
    return (0.2 * fov, -0.12 * fov), 0.12 * fov


def odl_ray_transform(g):
    """ODL's own RayTransform for a ParallelBeam2D or flat FanBeam2D, built from its parameters here
    (not by `bridges.odl.odl_geometry`): ODL puts each angle mid-cell and indexes images (x, y)."""
    import odl
    from odl.applications import tomo
    angles = np.asarray(g.angles)
    step = angles[1] - angles[0]
    apart = odl.uniform_partition(angles[0] - step / 2, angles[-1] + step / 2, angles.size)
    half = g.n_detectors * g.detector_spacing / 2
    dpart = odl.uniform_partition(g.detector_offset - half, g.detector_offset + half, g.n_detectors)
    (ny, nx), (hy, hx) = g.image_shape, g.pixel_size
    space = odl.uniform_discr([-nx * hx / 2, -ny * hy / 2], [nx * hx / 2, ny * hy / 2], (nx, ny), dtype="float32")
    if hasattr(g, "source_distance"):
        geometry = tomo.FanBeamGeometry(apart, dpart, g.source_distance, g.detector_distance)
    else:
        geometry = tomo.Parallel2dGeometry(apart, dpart)
    return tomo.RayTransform(space, geometry, impl="astra_cpu")


def odl_transpose(R, z: np.ndarray) -> np.ndarray:
    """The plain transpose Pᵀ z from ODL's adjoint, which is taken in weighted spaces: R* = (w_range / w_domain) Pᵀ."""
    return R.adjoint(z).asarray() * (R.domain.weighting.const / R.range.weighting.const)


# ------------------------------------------------------------------ rows
def checks(quick: bool):
    # the solvers' rows run on a coarser grid in the full run: they compare two codes iteration by
    # iteration, which a 64² image shows as well as a 128² one, at a quarter of the cost
    solver_geometries = presets("quick" if quick else "solvers")
    for name, g in presets("quick" if quick else "full").items():
        if g is None:
            yield from cone_rows(name, quick)
            continue
        yield from geometry_rows(label(name, g), g)
        solver_g = solver_geometries[name]
        yield from solver_rows(label(name, solver_g), solver_g, n_iter=10 if quick else 30)


def geometry_rows(name, g):
    from bridges import ct
    A = ct.Projector(g)
    yield Row(M, name, "adjoint test", A.adjoint_error(), FLOAT32,
              f"{FLOAT32_NOTE}; ASTRA's CPU backprojector is the forward's transpose")
    center, radius = disk(g)
    truth = analytic.disk_sinogram(g, center, radius, MU)
    image = analytic.disk_image(g.image_shape, g.pixel_size, center, radius, MU)
    yield Row(M, name, "forward vs exact line integrals of a disk", rel(A(image), truth),
              analytic.edge_tol(g.pixel_size[0], radius), analytic.edge_note(g.pixel_size[0], radius))
    arc = getattr(g, "detector_curve", "flat") == "arc"
    if arc:
        yield Row.skip(M, name, "forward/adjoint vs ODL RayTransform", NO_ARC)
    else:
        yield from odl_rows(name, g, A)
    yield from fbp_rows(name, g, A, truth, center, radius, odl=not arc)


def solver_rows(name, g, n_iter):
    from bridges import ct
    A = ct.Projector(g)
    y = A(analytic.disk_image(g.image_shape, g.pixel_size, *disk(g), MU))
    yield from least_squares_rows(M, name, A, y, n_iter, spacing=g.pixel_size)
    # a constant background as an explicit keyword: both EM codes must cut it per subset alike
    yield from em_rows(M, name, A, y, n_iter, n_subsets=5, background=torch.full_like(y, 0.1 * float(y.mean())))


def odl_rows(name, g, A):
    from bridges.odl import from_odl
    R = odl_ray_transform(g)
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(g.image_shape, generator=gen)
    z = torch.rand(g.sinogram_shape, generator=gen)
    forward, transpose = R(x.numpy().T).asarray(), odl_transpose(R, z.numpy())  # ODL's layout: images (x, y)
    yield Row(M, name, "forward vs ODL RayTransform", rel(A(x), forward), ODL_TOL, ODL_NOTE)
    yield Row(M, name, "adjoint vs ODL RayTransform (plain transpose)", rel(A.adjoint(z), transpose.T), ODL_TOL,
              ODL_NOTE)
    F = from_odl(R)
    yield Row(M, name, "from_odl(RayTransform) forward vs ODL", rel(F(x.T.contiguous()), forward), ODL_TOL, ODL_NOTE)
    yield Row(M, name, "from_odl(RayTransform) adjoint vs ODL", rel(F.adjoint(z), transpose), ODL_TOL, ODL_NOTE)


def fbp_rows(name, g, A, sinogram, center, radius, odl: bool):
    """Ours and ODL's fbp_op (Ram-Lak) on the exact sinogram: |mean over the disk's interior / μ − 1|."""
    from bridges import ct
    inside = analytic.inner_mask(g.image_shape, g.pixel_size[0], center, 0.75 * radius)

    def error(image):
        return abs(float(torch.as_tensor(image)[inside].double().mean()) / MU - 1)

    ours = ct.fbp(A, sinogram.float(), filter_type="ram-lak")
    yield Row(M, name, "FBP (Ram-Lak) vs truth: mean μ inside an off-centre disk", error(ours), FBP_TOL, FBP_NOTE)
    check = "ODL fbp_op (Ram-Lak) vs truth: mean μ inside an off-centre disk"
    if not odl:
        yield Row.skip(M, name, check, NO_ARC)
        return
    from odl.applications import tomo
    R = odl_ray_transform(g)
    theirs = tomo.fbp_op(R, padding=True, filter_type="Ram-Lak")(sinogram.float().numpy()).asarray().T
    yield Row(M, name, check, error(theirs.copy()), FBP_TOL, "the same bound as ours, on ODL's own ray transform")


def cone_rows(name, quick):
    """The Varian cone beam: ASTRA's 3D projectors run on CUDA only."""
    import astra
    check = "forward vs exact line integrals of a ball"
    if not (torch.cuda.is_available() and astra.use_cuda()):
        yield Row.skip(M, name, check, "needs CUDA (ASTRA's 3D cone-beam projectors)")
        return
    from bridges import ct
    size = 64 if quick else 128
    g = ct.scanner(name, view_step=30 if quick else 10, detector_binning=16 if quick else 8,
                   image_shape=(size // 2, size, size))
    center, radius = (20.0, -15.0, 5.0), 50.0
    z, y, x = torch.meshgrid(*[(torch.arange(n, dtype=torch.float64) + 0.5 - n / 2) * h
                               for n, h in zip(g.image_shape, g.pixel_size)], indexing="ij")
    ball = ((x - center[0]) ** 2 + (y - center[1]) ** 2 + (z - center[2]) ** 2 < radius ** 2).float() * MU
    got = ct.Projector(g)(ball.cuda()).cpu()
    # a binary ball, not a partial-volume one: allow twice the disks' bound (not yet measured on a GPU)
    yield Row(M, label(name, g), check, rel(got, analytic.ball_projections(g, center, radius, MU)),
              2 * analytic.edge_tol(g.pixel_size[-1], radius),
              f"binary ball edge, twice the disks' bound (unmeasured on GPU); {analytic.edge_note(g.pixel_size[-1], radius)}")
