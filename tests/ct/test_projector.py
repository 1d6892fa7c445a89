"""The CT projector: adjoint, autograd, closed-form line integrals, batching, devices, resources."""

import gc
import resource

import astra
import numpy as np
import pytest
import torch
from astra.log import AstraError

from bridges import ct
from bridges.ct.astra_backend import CPUMatrix2D, CPUProjector2D, matrix_bytes_bound
from bridges.testing import adjoint_error, check_operator
from tests.ct.geometries import cpu_geometries
from tests.ct.phantoms import disk_image, disk_sinogram

GEOMETRIES = cpu_geometries()
SMALL = cpu_geometries(n=8)  # gradcheck differentiates pixel by pixel


@pytest.mark.parametrize("matrix", [False, True])
@pytest.mark.parametrize("name", SMALL)
def test_operator_checks(name, matrix):
    """Adjoint below float32 precision, shapes, batching, linearity, gradcheck and gradgradcheck."""
    check_operator(ct.Projector(SMALL[name], matrix=matrix), adjoint_rtol=1e-5)


@pytest.mark.parametrize("matrix", [False, True])
@pytest.mark.parametrize("name", GEOMETRIES)
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_adjoint_is_transpose_on_random_data(name, seed, matrix):
    assert adjoint_error(ct.Projector(GEOMETRIES[name], matrix=matrix), seed=seed) < 1e-5


@pytest.mark.parametrize("name", GEOMETRIES)
def test_stored_matrix_applies_the_kernels_weights(name):
    """ASTRA's sparse matrix of a projector gives its kernel's results, to float32 summation order."""
    g = GEOMETRIES[name]
    kernel, matrix = ct.Projector(g, matrix=False), ct.Projector(g, matrix=True)
    x, y = torch.rand(3, *g.image_shape), torch.rand(3, *g.sinogram_shape)
    torch.testing.assert_close(matrix(x), kernel(x), rtol=1e-5, atol=1e-5 * float(kernel(x).abs().max()))
    torch.testing.assert_close(matrix.T(y), kernel.T(y), rtol=1e-5, atol=1e-5 * float(kernel.T(y).abs().max()))


def test_matrix_auto_keeps_large_problems_on_the_kernels():
    small = ct.Projector(GEOMETRIES["fan-arc"])
    large = ct.Projector(ct.ParallelBeam2D(angles=1000, n_detectors=768, detector_spacing=1.0, image_shape=(512, 512)))
    assert isinstance(small._backend(torch.device("cpu")), CPUMatrix2D)
    assert matrix_bytes_bound(large.geometry) > ct.projector.MATRIX_AUTO_BYTES
    assert isinstance(large._backend(torch.device("cpu")), CPUProjector2D)
    with pytest.raises(ValueError, match="matrix must be True, False or 'auto', got 'yes'"):
        ct.Projector(GEOMETRIES["parallel"], matrix="yes")


def test_stored_matrix_leaves_no_astra_object():
    """The projector and matrix ASTRA makes to hand over the weights are deleted at once."""
    g = GEOMETRIES["fan-flat"]
    vol, proj, _ = g.to_astra()
    before = astra.create_projector("line_fanflat", proj, vol)
    CPUMatrix2D(g)
    after = astra.create_projector("line_fanflat", proj, vol)
    for pid in range(before + 1, after):  # ASTRA numbers its objects in order: these were CPUMatrix2D's
        with pytest.raises(AstraError, match="not found"):
            astra.projector.projection_geometry(pid)
        with pytest.raises(AstraError, match="not found"):
            astra.matrix.get(pid)
    astra.projector.delete([before, after])
    assert after > before + 1


@pytest.mark.parametrize("pixel_size", [2.0, 1.0, 0.5])
def test_disk_through_centre_is_two_whatever_the_pixel_size(pixel_size):
    """A disk of μ = 0.02/mm and 100 mm diameter projects to 2.0 through its centre."""
    n = int(round(110 / pixel_size))
    for geometry in (
        ct.ParallelBeam2D(angles=8, n_detectors=121, detector_spacing=1.0, image_shape=(n, n), pixel_size=pixel_size),
        ct.FanBeam2D(
            angles=8,
            n_detectors=241,
            detector_spacing=1.0,
            source_distance=300,
            detector_distance=300,
            image_shape=(n, n),
            pixel_size=pixel_size,
        ),
    ):
        sino = ct.Projector(geometry)(disk_image(geometry, radius=50.0, mu=0.02, supersample=8))
        centre = sino[:, geometry.n_detectors // 2]
        assert torch.allclose(centre, torch.full_like(centre, 2.0), rtol=0.01), (type(geometry), centre)


@pytest.mark.parametrize("name", ["parallel", "parallel-irregular-offset", "fan-flat", "fan-arc"])
def test_off_centre_disk_matches_exact_line_integrals(name):
    geometry = GEOMETRIES[name]
    fine = type(geometry)(
        **{
            **{f: getattr(geometry, f) for f in geometry.__dataclass_fields__},
            "image_shape": (96, 96),
            "pixel_size": 0.25,
        }
    )
    center, radius = (2.0, -3.0), 7.0
    got = ct.Projector(fine, matrix=False)(disk_image(fine, center, radius, supersample=4)).numpy()
    exact = disk_sinogram(fine, center, radius)
    err = np.linalg.norm(got - exact) / np.linalg.norm(exact)
    assert err < 0.03, err  # measured 0.5-1.5 %: pixelisation of the disk edge; a flipped axis gives > 50 %


def test_square_projects_to_its_side_times_mu():
    g = ct.ParallelBeam2D(angles=np.array([0.0, np.pi / 2]), n_detectors=40, detector_spacing=1.0, image_shape=(40, 40))
    image = torch.zeros(40, 40)
    image[10:30, 15:25] = 0.05  # 20 mm along y, 10 mm along x
    sino = ct.Projector(g)(image)
    # at θ = 0 rays run along +y: 20 mm of material over the 10 x-bins
    assert torch.allclose(sino[0, 15:25], torch.full((10,), 1.0), rtol=1e-5)
    assert torch.allclose(sino[1, 10:30], torch.full((20,), 0.5), rtol=1e-5)
    assert sino[0, :15].abs().max() < 1e-6 and sino[1, :10].abs().max() < 1e-6


def test_arc_detector_differs_from_flat_with_same_pitch():
    flat, arc = GEOMETRIES["fan-flat"], GEOMETRIES["fan-arc"]
    x = disk_image(flat, (3.0, 1.0), 6.0)
    a = ct.Projector(arc)(x)
    f = ct.Projector(
        type(flat)(**{**{k: getattr(flat, k) for k in flat.__dataclass_fields__}, "detector_offset": 0.0})
    )(x)
    assert a.shape == f.shape and not torch.allclose(a, f, rtol=1e-3)


def test_vector_form_equals_circular_geometry():
    for name in ("parallel-irregular-offset", "fan-flat"):
        g = GEOMETRIES[name]
        x = torch.rand(g.image_shape)
        torch.testing.assert_close(ct.Projector(g.to_vec())(x), ct.Projector(g)(x))


def test_parallel_3d_axial_is_2d_slice_by_slice():
    g3 = GEOMETRIES["parallel-3d-axial"]
    g2 = ct.ParallelBeam2D(angles=g3.angles, n_detectors=30, detector_spacing=1.0, image_shape=g3.image_shape[1:])
    vol = torch.rand(2, *g3.image_shape)
    proj = ct.Projector(g3)(vol)
    assert proj.shape == (2, 2, 12, 30)
    torch.testing.assert_close(proj, ct.Projector(g2)(vol))


@pytest.mark.parametrize("batch", [(), (1,), (5,), (2, 3)])
def test_leading_batch_dimensions(batch):
    g = GEOMETRIES["fan-flat"]
    A = ct.Projector(g)
    x = torch.rand(*batch, *g.image_shape)
    y = A(x)
    assert y.shape == (*batch, *g.sinogram_shape)
    flat = x.reshape(-1, *g.image_shape)
    torch.testing.assert_close(y.reshape(-1, *g.sinogram_shape), torch.stack([A(i) for i in flat]))


def test_threaded_batch_equals_serial():
    g = GEOMETRIES["parallel"]
    x = torch.rand(7, *g.image_shape)
    y = torch.rand(7, *g.sinogram_shape)
    serial, threaded = ct.Projector(g, n_threads=1, matrix=False), ct.Projector(g, n_threads=3, matrix=False)
    torch.testing.assert_close(threaded(x), serial(x), rtol=0, atol=0)
    torch.testing.assert_close(threaded.T(y), serial.T(y), rtol=0, atol=0)


@pytest.mark.parametrize("n_threads", [0, -1, 1.5, True, "2"])
def test_thread_count_must_be_a_positive_integer(n_threads):
    # -1 used to return uninitialised memory and 0 to mean the default, silently
    with pytest.raises(ValueError, match=f"n_threads must be a positive integer, or None .*got {n_threads!r}"):
        ct.Projector(GEOMETRIES["parallel"], n_threads=n_threads)
    assert ct.Projector(GEOMETRIES["parallel"], n_threads=np.int64(2)).n_threads == 2


def test_non_contiguous_input():
    g = GEOMETRIES["parallel"]
    x = torch.rand(g.image_shape[1], g.image_shape[0]).T
    assert not x.is_contiguous()
    torch.testing.assert_close(ct.Projector(g)(x), ct.Projector(g)(x.contiguous()))


def test_float64_in_float64_out():
    g = GEOMETRIES["parallel"]
    x = torch.rand(g.image_shape, dtype=torch.float64)
    y = ct.Projector(g)(x)
    assert y.dtype == torch.float64
    torch.testing.assert_close(y, ct.Projector(g)(x.float()).double())


def test_bad_inputs():
    g = GEOMETRIES["parallel"]
    A = ct.Projector(g)
    with pytest.raises(ValueError, match=r"expected input of shape \(\.\.\., 24, 24\), got \(24, 23\)"):
        A(torch.rand(24, 23))
    with pytest.raises(TypeError, match="expected input of dtype torch.float32 or torch.float64, got torch.complex64"):
        A(torch.rand(24, 24, dtype=torch.complex64))
    with pytest.raises(ValueError, match="expected adjoint input of shape"):
        A.adjoint(torch.rand(24, 24))
    with pytest.raises(ValueError, match="CPU or CUDA tensor"):
        A(torch.empty(24, 24, device="meta"))


def test_3d_cone_on_cpu_names_the_reason():
    g = ct.ConeBeam3D(
        angles=8,
        detector_shape=(8, 16),
        detector_spacing=1.0,
        source_distance=100,
        detector_distance=50,
        image_shape=(6, 8, 8),
    )
    with pytest.raises(ValueError, match="ASTRA's 3D projectors need CUDA"):
        ct.Projector(g)(torch.rand(6, 8, 8))


@pytest.mark.skipif(astra.use_cuda(), reason="this ASTRA build has CUDA")
def test_cuda_request_without_cuda_astra():
    from bridges.ct.astra_backend import CUDAProjector

    with pytest.raises(ValueError, match="no CUDA support"):
        CUDAProjector(GEOMETRIES["parallel"], torch.device("cuda", 0))


def test_projectors_are_deleted_with_the_operator():
    A = ct.Projector(GEOMETRIES["parallel"], n_threads=2, matrix=False)
    A(torch.rand(2, 24, 24))
    ids = list(A._cpu.ids)
    for pid in ids:
        astra.projector.projection_geometry(pid)  # alive while the operator is: raises for a deleted id
    del A
    gc.collect()
    for pid in ids:
        with pytest.raises(AstraError, match="not found"):
            astra.projector.projection_geometry(pid)


def test_ten_thousand_calls_keep_memory_flat():
    g = ct.ParallelBeam2D(angles=4, n_detectors=12, detector_spacing=1.0, image_shape=(8, 8))
    x, y = torch.rand(8, 8), torch.rand(4, 12)

    def calls(n):
        for i in range(n):
            if i % 100 == 0:
                A = ct.Projector(g)
            A(x)
            A.T(y)

    calls(500)
    gc.collect()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    calls(10_000)
    gc.collect()
    grown_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    assert grown_kib < 4096, f"peak memory grew by {grown_kib} KiB over 10,000 calls"
