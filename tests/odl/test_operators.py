"""bridges.odl against ODL itself: RayTransform on the same geometry, ODL's adjoint in its weighted spaces."""

import numpy as np
import odl
import pytest
import torch
from odl.applications import tomo

from bridges import MatrixOperator, ct
from bridges.odl import from_odl, geometry_from_odl, odl_geometry, reference, to_odl
from bridges.testing import check_operator
from tests.conftest import crandn, rel


def odl_ray_transform(kind, cell=0.5, n=24, centre=(0.0, 0.0)):
    """An ODL RayTransform on a non-unit grid (so that its spaces are weighted), astra_cpu."""
    lo, hi = np.array(centre) - n * cell / 2, np.array(centre) + n * cell / 2
    space = odl.uniform_discr(lo, hi, (n, n), dtype="float32")
    if kind == "parallel":
        geometry = tomo.parallel_beam_geometry(space, num_angles=40)
    elif kind == "fan":
        geometry = tomo.FanBeamGeometry(
            odl.uniform_partition(0, 2 * np.pi, 48), odl.uniform_partition(-12, 12, 40), src_radius=60, det_radius=30
        )
    else:  # fan with a shifted detector partition and a detector shift function
        geometry = tomo.FanBeamGeometry(
            odl.uniform_partition(0, 2 * np.pi, 48),
            odl.uniform_partition(-10, 16, 40),
            src_radius=60,
            det_radius=30,
            det_shift_func=lambda a: np.array([0.0, 0.7]),
        )
    return tomo.RayTransform(space, geometry, impl="astra_cpu")


@pytest.mark.parametrize(
    "kind,centre", [("parallel", (0.0, 0.0)), ("fan", (0.0, 0.0)), ("fan-shifted", (0.0, 0.0)), ("fan", (2.0, -1.5))]
)
def test_from_odl_reproduces_ray_transform(kind, centre):
    R = odl_ray_transform(kind, centre=centre)
    A = from_odl(R)
    assert isinstance(A.projector, ct.Projector) and A.domain_shape == R.domain.shape
    g = torch.Generator().manual_seed(0)
    x, y = torch.rand(R.domain.shape, generator=g), torch.rand(R.range.shape, generator=g)
    assert rel(A(x), R(x.numpy()).asarray()) < 1e-5
    plain = R.domain.weighting.const / R.range.weighting.const  # ODL's adjoint is in its weighted spaces
    assert plain != 1.0
    assert rel(A.adjoint(y), R.adjoint(y.numpy()).asarray() * plain) < 1e-5


def test_from_odl_is_a_checked_operator():
    check_operator(from_odl(odl_ray_transform("fan", n=8)))


@pytest.mark.parametrize("kind", ["parallel", "fan"])
def test_to_odl_is_ray_transform(kind):
    """to_odl of our Projector has RayTransform's spaces and, in them, its forward and adjoint."""
    if kind == "parallel":
        g = ct.ParallelBeam2D(angles=40, n_detectors=37, detector_spacing=0.5, image_shape=(24, 20), pixel_size=0.5)
    else:
        # offset chosen so that no ray runs along a pixel edge, where the line kernel's pixel choice is
        # decided by rounding (offset 1.5 puts the central ray on x = 0: 4e-3 apart)
        g = ct.FanBeam2D(
            angles=48,
            n_detectors=40,
            detector_spacing=0.6,
            source_distance=60,
            detector_distance=30,
            image_shape=(24, 20),
            pixel_size=0.5,
            detector_offset=1.3,
        )
    B = to_odl(ct.Projector(g))
    R = tomo.RayTransform(B.domain, B.geometry, impl="astra_cpu")
    assert B.domain == R.domain and B.range == R.range and B.domain.shape == (20, 24)
    x, y = B.domain.element(np.random.default_rng(0).random(B.domain.shape)), R.range.one()
    assert rel(B(x).asarray(), R(x).asarray()) < 1e-5
    assert rel(B.adjoint(y).asarray(), R.adjoint(y).asarray()) < 1e-5
    assert abs(B(x).inner(y) - x.inner(B.adjoint(y))) < 1e-5 * B(x).norm() * y.norm()  # adjoint in ODL's spaces


def test_tv_pdhg_on_our_operator_equals_it_on_odls_ray_transform():
    g = ct.FanBeam2D(
        angles=48,
        n_detectors=40,
        detector_spacing=0.6,
        source_distance=60,
        detector_distance=30,
        image_shape=(24, 24),
        pixel_size=0.5,
    )
    ours = ct.Projector(g)
    space = to_odl(ours).domain  # weighted: cell volume 0.25
    R = tomo.RayTransform(space, odl_geometry(g), impl="astra_cpu")
    phantom = odl.core.phantom.shepp_logan(space, modified=True).asarray()
    y = torch.from_numpy(R(phantom).asarray())
    got = reference.tv_pdhg(ours, y, 30, lam=0.02, nonneg=True).numpy()  # our layout (y, x)
    theirs = reference.tv_pdhg(from_odl(R), y, 30, lam=0.02, nonneg=True).numpy()  # ODL's layout (x, y)
    assert rel(got.T, theirs) < 1e-4
    assert rel(theirs, phantom) < 0.5  # and it is a reconstruction, not two equal failures


@pytest.mark.parametrize(
    "geometry",
    [
        ct.ParallelBeam2D(
            angles=[0.1, 0.5, 2.0], n_detectors=9, detector_spacing=1.0, image_shape=(4, 4), detector_offset=0.7
        ),
        ct.FanBeam2D(
            angles=12,
            n_detectors=16,
            detector_spacing=1.3,
            source_distance=50,
            detector_distance=20,
            image_shape=(8, 8),
            detector_offset=0.4,
            detector_curve="arc",
        ),
        ct.ParallelBeam3D(
            angles=10,
            detector_shape=(4, 12),
            detector_spacing=(1.0, 0.8),
            image_shape=(4, 8, 6),
            detector_offset=(0.3, -0.5),
        ),
        ct.ConeBeam3D(
            angles=10,
            detector_shape=(6, 12),
            detector_spacing=(1.2, 0.8),
            source_distance=80,
            detector_distance=40,
            image_shape=(4, 8, 6),
            detector_offset=(0.3, -0.5),
        ),
    ],
    ids=["parallel-irregular", "fan-arc", "parallel3d", "cone"],
)
def test_geometry_round_trip(geometry):
    """ODL's own source/detector positions (its geometry methods) rebuild our geometry exactly."""
    back = geometry_from_odl(odl_geometry(geometry), to_odl(ct.Projector(geometry)).domain)
    if getattr(geometry, "detector_curve", None) == "arc":
        assert back.isclose(geometry, tol=1e-9)
        return
    ours = geometry.to_vec()
    for name in ("ray_directions", "sources", "detector_axes", "column_axes", "row_axes"):
        if hasattr(ours, name):
            np.testing.assert_allclose(getattr(back, name), getattr(ours, name), atol=1e-9)
    # parallel beams: ODL puts the detector 1 mm along the ray, we at the isocentre; only the offset across counts
    gap = back.detector_centers - ours.detector_centers
    if hasattr(ours, "ray_directions"):
        gap -= np.sum(gap * ours.ray_directions, axis=1, keepdims=True) * ours.ray_directions
    np.testing.assert_allclose(gap, 0, atol=1e-9)


def test_arc_detector_off_source_centre_is_refused():
    geometry = tomo.FanBeamGeometry(
        odl.uniform_partition(0, 6, 10),
        odl.uniform_partition(-0.2, 0.2, 8),
        src_radius=50,
        det_radius=20,
        det_curvature_radius=40,
    )
    with pytest.raises(TypeError, match="centred on the"):
        geometry_from_odl(geometry, odl.uniform_discr([-4, -4], [4, 4], (8, 8)))


@pytest.mark.cuda
@pytest.mark.parametrize("kind", ["parallel3d", "cone"])
def test_from_odl_3d_reproduces_ray_transform(kind):
    space = odl.uniform_discr([-8, -8, -4], [8, 8, 4], (16, 16, 8), dtype="float32")
    if kind == "parallel3d":
        geometry = tomo.parallel_beam_geometry(space, num_angles=30)
    else:
        geometry = tomo.ConeBeamGeometry(
            odl.uniform_partition(0, 2 * np.pi, 30), odl.uniform_partition([-15, -8], [15, 8], (30, 16)), 100, 50
        )
    R = tomo.RayTransform(space, geometry, impl="astra_cuda")
    A = from_odl(R)  # computes where its input lives: ASTRA CUDA for a CUDA tensor
    x = torch.rand(space.shape, device="cuda")
    assert rel(A(x).cpu(), R(x.cpu().numpy()).asarray()) < 1e-4


def test_generic_complex_operators_both_ways():
    M = crandn(7, 5, seed=1)
    odl_op = odl.MatrixOperator(M.numpy(), domain=odl.cn(5, dtype="complex64"), range=odl.cn(7, dtype="complex64"))
    A = from_odl(odl_op)
    check_operator(A, adjoint_rtol=1e-5)
    x = crandn(3, 5, seed=2)
    torch.testing.assert_close(A(x), x @ M.T)

    B = to_odl(MatrixOperator(M), domain=odl.uniform_discr(0, 2, 5, dtype="complex64"))  # weighted: w = 0.4
    u, v = B.domain.element(x[0].numpy()), B.range.element(np.ones(7, dtype="complex64"))
    assert abs(B(u).inner(v) - u.inner(B.adjoint(v))) < 1e-5 * B(u).norm() * v.norm()
    torch.testing.assert_close(
        torch.from_numpy(B.adjoint(v).asarray()), (M.conj().T @ torch.ones(7, dtype=M.dtype)) / 0.4
    )


def test_errors_name_the_operator():
    space = odl.uniform_discr([-2, -2], [2, 2], (4, 4))
    with pytest.raises(TypeError, match="is not linear"):
        from_odl(odl.PowerOperator(space, 2))
    with pytest.raises(TypeError, match="only tensor spaces map to tensors"):
        from_odl(odl.Gradient(space))  # range is a ProductSpace
    with pytest.raises(TypeError, match="expects an odl.Operator, got Tensor"):
        from_odl(torch.zeros(3))
    with pytest.raises(TypeError, match="expects a bridges.LinearOperator, got MatrixOperator"):
        to_odl(odl.MatrixOperator(np.eye(2)))
    with pytest.raises(ValueError, match=r"expected a domain space of shape \(3,\) and dtype torch.float32"):
        to_odl(MatrixOperator(torch.eye(3)), domain=odl.rn(4, dtype="float32"))
    with pytest.raises(TypeError, match="circular geometry"):
        reference.fbp(MatrixOperator(torch.eye(3)), torch.ones(3))
