"""The CT projector on ASTRA's CUDA projectors: a batch in one call, against its items, the CPU, closed forms.

Skipped without CUDA (tests/conftest.py). The geometry the kernels receive is checked on the CPU in
test_astra_layout.py; these tests check the kernels themselves. Tolerances are validate's, with their reasons.
"""

import dataclasses

import pytest
import torch

from bridges import ct
from bridges.ct.astra_layout import astra_3d
from experiments.validation import analytic
from experiments.validation.ct import CUDA_ADJOINT_TOL, CUDA_CPU_TOL
from tests.conftest import assert_gpu_resident, rel
from tests.ct.phantoms import disk_image
from tests.ct.test_astra_layout import GEOMETRIES

pytestmark = pytest.mark.cuda


def distinct_disks(g, batch):
    """A batch of different disk images (off-centre disks at four places)."""
    return torch.stack([disk_image(g, (4.0 * (k % 2) - 2.0, 3.0 * (k // 2) - 1.5), 7.0) for k in range(batch)])


@pytest.mark.parametrize("name", GEOMETRIES)
def test_batch_in_one_call_equals_its_items_and_the_cpu(name):
    g = GEOMETRIES[name]
    A = ct.Projector(g)
    x = distinct_disks(g, 4)
    y = A(x.cuda())
    assert y.is_cuda
    assert rel(y, torch.stack([A(item) for item in x.cuda()])) < 1e-5
    back = A.T(y)
    assert rel(back, torch.stack([A.T(item) for item in y])) < 1e-5
    assert rel(y.cpu(), A(x)) < CUDA_CPU_TOL


@pytest.mark.parametrize("name", GEOMETRIES)
def test_adjoint_mismatch_within_the_stated_tolerance(name):
    g = GEOMETRIES[name]
    kind = astra_3d(g, 1).kind
    err = ct.Projector(g).adjoint_error(device="cuda")
    assert err < CUDA_ADJOINT_TOL[kind], f"{kind}: adjoint mismatch {err:.2e}"


@pytest.mark.parametrize("name", GEOMETRIES)
def test_forward_and_adjoint_make_no_host_copy(name):
    g = dataclasses.replace(GEOMETRIES[name], image_shape=(128, 128), pixel_size=0.25)  # more data per view
    A = ct.Projector(g)
    x = torch.rand(8, 128, 128, device="cuda")
    # ASTRA uploads each view's geometry to constant memory (tens of bytes a view): far below the data
    back = assert_gpu_resident(lambda t: A.T(A(t)), x, data_bytes=2 * x.nbytes + A(x).nbytes)
    assert back.is_cuda


@pytest.mark.parametrize("curve", ["flat", "arc"])
def test_cone_beam_ball_against_its_exact_line_integrals(curve):
    g = ct.ConeBeam3D(
        angles=16,
        detector_shape=(64, 96),
        detector_spacing=1.0,
        source_distance=200,
        detector_distance=100,
        image_shape=(48, 48, 48),
        detector_curve=curve,
    )
    center, radius, mu = (3.0, -2.0, 1.0), 15.0, 0.01
    z, y, x = torch.meshgrid(*[torch.arange(48.0) + 0.5 - 24] * 3, indexing="ij")
    ball = (((x - center[0]) ** 2 + (y - center[1]) ** 2 + (z - center[2]) ** 2) < radius**2).float() * mu
    got = ct.Projector(g)(ball.cuda())
    assert got.is_cuda
    assert rel(got.cpu(), analytic.ball_projections(g, center, radius, mu)) < 2 * analytic.edge_tol(1.0, radius)


def test_cuda_only_geometry_norm_runs_on_the_gpu():
    g = ct.scanner(
        "siemens-definition-as-helical",
        view_step=32,
        detector_binning=16,
        image_shape=(8, 32, 32),
        fov=250.0,
        n_turns=1,
    )
    A = ct.Projector(g)
    assert A.device.type == "cuda"
    assert A.norm() > 0 and A.sensitivity().is_cuda
    assert A.adjoint_error() < CUDA_ADJOINT_TOL["cyl_cone_vec"]


def test_batch_sizes_keep_only_the_latest_projectors():
    g = GEOMETRIES["fan-flat"]
    A = ct.Projector(g)
    x = torch.rand(7, *g.image_shape, device="cuda")
    for batch in range(1, 8):
        A(x[:batch])
    kept = A._cuda[x.device]
    assert len(kept.ids) == len(kept._problems) == kept._KEEP
