"""Non-Cartesian SENSE against SigPy's Sense linop, across backends; adjoint, gradcheck, batching, bad input."""

import pytest
import sigpy as sp
import sigpy.mri
import torch

from bridges.mri import Sense, birdcage_maps, radial
from bridges.testing import check_operator
from tests.conftest import assert_operator_on_gpu, crandn, rel


@pytest.fixture
def coords():
    return radial(6, 16, (12, 10))


def test_sigpy_backend_equals_sigpy_sense(maps, coords):
    A = Sense(maps, coords, backend="sigpy", oversamp=1.25, width=4)  # SigPy's defaults
    L = sp.mri.linop.Sense(maps.numpy(), coord=coords.numpy())
    x, y = crandn(12, 10), crandn(4, 6, 16, seed=1)
    assert rel(A(x), L(x.numpy())) < 1e-6
    assert rel(A.H(y), L.H(y.numpy())) < 1e-6


def test_backends_agree(maps, coords):
    accurate = Sense(maps, coords, backend="sigpy", oversamp=2.0, width=6)
    fast = Sense(maps, coords, backend="finufft")
    x, y = crandn(2, 12, 10), crandn(2, 4, 6, 16, seed=1)
    assert rel(fast(x), accurate(x)) < 1e-5
    assert rel(fast.H(y), accurate.H(y)) < 1e-5


@pytest.mark.parametrize("backend,gradcheck", [("finufft", True), ("sigpy", False)])
def test_passes_operator_checks(maps, coords, backend, gradcheck):
    check_operator(Sense(maps, coords, backend=backend), adjoint_rtol=1e-5, gradcheck=gradcheck)


def test_coils_and_batch_in_one_finufft_call(maps, coords):
    A = Sense(maps, coords, backend="finufft")
    A(crandn(3, 12, 10))
    assert list(A.nufft.kernel(torch.device("cpu")).plans) == [(2, 12, 1)]  # n_trans = 3 items x 4 coils


def test_bad_input(maps, coords):
    A = Sense(maps, coords)
    with pytest.raises(ValueError, match=r"expected adjoint input of shape \(\.\.\., 4, 6, 16\), got \(3, 6, 16\)"):
        A.adjoint(crandn(3, 6, 16))
    with pytest.raises(TypeError, match="expected maps as a complex tensor"):
        Sense(maps.abs(), coords)
    with pytest.raises(ValueError, match=r"expected maps of shape \(coils, y, x\)"):
        Sense(maps[0], coords)
    with pytest.raises(ValueError, match="SigPy's range"):
        Sense(maps, coords * 3)
    with pytest.raises(ValueError, match="maps must be finite, got NaN or Inf"):
        Sense(maps * torch.tensor(float("nan")), coords)


@pytest.mark.cuda
def test_sense_with_maps_on_cuda_is_wholly_there_and_equals_the_cpu():
    """Maps on the GPU take the coordinates along; SigPy's gridding on CuPy and on the CPU agree to float32
    rounding (1e-5; the GPU adds in another order)."""
    shape = (128, 128)
    maps, coords = birdcage_maps(shape, 8), radial(64, 256, shape)
    cpu, gpu = Sense(maps, coords, backend="sigpy"), Sense(maps.cuda(), coords, backend="sigpy")
    assert gpu.device.type == "cuda" and gpu.nufft.coords.is_cuda
    assert_operator_on_gpu(cpu, gpu, crandn(2, *shape), crandn(2, 8, 64, 256, seed=1), 1e-5)


def test_sense_is_the_stacked_nufft_after_the_coil_maps(maps, coords):
    """Sense = Stacked(NUFFT, coils) @ CoilMaps(maps), SigPy's composition; the maps and the trajectory stay
    reachable as before (``maps``, ``coords``, ``nufft``)."""
    from bridges import ComposedOperator
    from bridges.mri import NUFFT, CoilMaps

    A = Sense(maps, coords)
    assert isinstance(A, ComposedOperator) and isinstance(A.inner, CoilMaps) and A.outer.op is A.nufft
    assert A.maps is A.inner.maps and A.coords is A.nufft.coords and isinstance(A.nufft, NUFFT)
    x = crandn(2, 12, 10)
    assert torch.equal(A(x), A.nufft(A.maps * x.unsqueeze(-3)))
    check_operator(CoilMaps(maps), adjoint_rtol=1e-6)
