"""CT rows: ASTRA projectors against ODL's RayTransform and against exact line integrals, FBP against the truth, solvers.

Per scanner preset (scaled down): the dot-product adjoint test; forward projection of an
off-centre disk against its closed-form line integrals (rays from first principles, `analytic`);
forward and adjoint against ODL's own ``RayTransform`` on a geometry built here from the preset's
parameters, and `from_odl` of that transform; FBP (Ram-Lak) of the exact sinogram against the
disk's true μ, ours and ODL's ``fbp_op`` side by side; ODL's solvers against ours. ODL's ASTRA
backends have no arc detector. On CUDA (ASTRA's 3D projectors): every geometry's adjoint mismatch,
a batch of 2D images in one call against its items and against the CPU, the 3D scanners. Without
CUDA those rows are SKIPPED with the reason.
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


# ASTRA's CUDA projectors. The default 3D backprojectors (parallel3d_vec, cone_vec) are voxel-driven:
# they interpolate on the detector, so they are close to, not exactly, the forward's transpose. For arc
# (cylindrical) detectors the library asks for cyl_cone_vec's ray-driven "matched_bp", the exact
# transpose. Neither bound has been measured on a GPU yet: the first GPU run replaces them by twice
# the measured figures.
CUDA_ADJOINT_TOL = {"parallel3d_vec": 0.05, "cone_vec": 0.05, "cyl_cone_vec": 1e-4}
CUDA_ADJOINT_NOTE = {
    "parallel3d_vec": "voxel-driven backprojector, not the exact transpose (unmeasured on GPU)",
    "cone_vec": "voxel-driven backprojector, not the exact transpose (unmeasured on GPU)",
    "cyl_cone_vec": "ray-driven matched backprojector: float32 rounding only (unmeasured on GPU)",
}
# CUDA against CPU on a smooth disk: GPU texture interpolation keeps 8 fractional bits of the weights,
# and the CPU's fan-beam kernel is a different (line) discretisation.
CUDA_CPU_TOL = 0.02
CUDA_CPU_NOTE = "GPU texture interpolation (8-bit weights) and a different kernel than the CPU's (unmeasured on GPU)"
CUDA_BATCH = 4


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
        "varian-truebeam-cbct": None,  # 3D: made only where CUDA is (ASTRA's 3D projectors)
        "siemens-definition-as-helical": None,
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
        yield from cuda_rows(label(name, g), g)
        solver_g = solver_geometries[name]
        yield from solver_rows(label(name, solver_g), solver_g, n_iter=10 if quick else 30)


def geometry_rows(name, g):
    from bridges import ct

    A = ct.Projector(g)
    yield Row(
        M,
        name,
        "adjoint test",
        A.adjoint_error(),
        FLOAT32,
        f"{FLOAT32_NOTE}; ASTRA's CPU backprojector is the forward's transpose",
    )
    center, radius = disk(g)
    truth = analytic.disk_sinogram(g, center, radius, MU)
    image = analytic.disk_image(g.image_shape, g.pixel_size, center, radius, MU)
    yield Row(
        M,
        name,
        "forward vs exact line integrals of a disk",
        rel(A(image), truth),
        analytic.edge_tol(g.pixel_size[0], radius),
        analytic.edge_note(g.pixel_size[0], radius),
    )
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
    yield Row(
        M, name, "adjoint vs ODL RayTransform (plain transpose)", rel(A.adjoint(z), transpose.T), ODL_TOL, ODL_NOTE
    )
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
    """3D scanners on ASTRA's CUDA projectors (the only ones it has in 3D): the circular cone beams against
    the exact line integrals of a ball, and every 3D geometry's adjoint mismatch."""
    checks = ("CUDA adjoint test", "forward vs exact line integrals of a ball")
    if not cuda_ready():
        for check in checks:
            yield Row.skip(M, name, check, "needs CUDA (ASTRA's 3D projectors)")
        return
    from bridges import ct
    from bridges.ct.astra_layout import astra_3d

    size = 64 if quick else 128
    view_step, binning = (30, 16) if quick else (10, 8)
    g = ct.scanner(name, view_step=view_step, detector_binning=binning, image_shape=(size // 2, size, size))
    case = f"{name} ({size // 2}x{size}², {g.n_views} views of {g.detector_shape[0]}x{g.detector_shape[1]})"
    A = ct.Projector(g)
    kind = astra_3d(g).kind
    yield Row(
        M,
        case,
        f"{checks[0]} ({kind})",
        A.adjoint_error(device="cuda"),
        CUDA_ADJOINT_TOL[kind],
        CUDA_ADJOINT_NOTE[kind],
    )
    if not hasattr(g, "angles"):
        yield Row.skip(M, case, checks[1], "the closed form is written for circular orbits; a helix has none here")
        return
    center, radius = (20.0, -15.0, 5.0), 50.0
    z, y, x = torch.meshgrid(
        *[(torch.arange(n, dtype=torch.float64) + 0.5 - n / 2) * h for n, h in zip(g.image_shape, g.pixel_size)],
        indexing="ij",
    )
    ball = ((x - center[0]) ** 2 + (y - center[1]) ** 2 + (z - center[2]) ** 2 < radius**2).float() * MU
    got = A(ball.cuda()).cpu()
    # a binary ball, not a partial-volume one: allow twice the disks' bound (not yet measured on a GPU)
    yield Row(
        M,
        case,
        checks[1],
        rel(got, analytic.ball_projections(g, center, radius, MU)),
        2 * analytic.edge_tol(g.pixel_size[-1], radius),
        f"binary ball edge, twice the disks' bound (unmeasured on GPU); {analytic.edge_note(g.pixel_size[-1], radius)}",
    )


def cuda_ready() -> bool:
    import astra

    return torch.cuda.is_available() and astra.use_cuda()


def cuda_rows(name, g):
    """A 2D geometry on ASTRA's CUDA projectors, a batch in one call: its adjoint mismatch, the batch
    against its items, and against the CPU projectors."""
    checks = ("CUDA adjoint test", f"CUDA batch of {CUDA_BATCH} vs item by item", "CUDA forward vs CPU")
    if not cuda_ready():
        for check in checks:
            yield Row.skip(M, name, check, "needs CUDA (and a CUDA build of ASTRA)")
        return
    from bridges import ct
    from bridges.ct.astra_layout import astra_3d

    kind = astra_3d(g, CUDA_BATCH).kind
    A = ct.Projector(g)
    yield Row(
        M,
        name,
        f"{checks[0]} ({kind})",
        A.adjoint_error(device="cuda"),
        CUDA_ADJOINT_TOL[kind],
        CUDA_ADJOINT_NOTE[kind],
    )
    center, radius = disk(g)
    image = analytic.disk_image(g.image_shape, g.pixel_size, center, radius, MU)
    images = torch.stack([image.roll(k, dims=-1) for k in range(CUDA_BATCH)]).cuda()  # distinct items
    batch = A(images)
    items = torch.stack([A(item) for item in images])
    back = A.T(batch)
    back_items = torch.stack([A.T(item) for item in batch])
    yield Row(
        M,
        name,
        checks[1],
        max(rel(batch.cpu(), items.cpu()), rel(back.cpu(), back_items.cpu())),
        FLOAT32,
        "the same kernels on the same rays; only float32 rounding may differ",
    )
    yield Row(M, name, checks[2], rel(batch.cpu(), A(images.cpu())), CUDA_CPU_TOL, CUDA_CPU_NOTE)
