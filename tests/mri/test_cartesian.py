"""Cartesian SENSE against SigPy's Sense and FFT linops; adjoint, gradcheck, bad input."""
import pytest
import sigpy as sp
import sigpy.mri
import torch

from bridges.mri import CartesianSense, birdcage_maps, fft2c, ifft2c, mask_equispaced
from bridges.testing import check_operator

from tests.conftest import assert_operator_on_gpu, crandn, rel


@pytest.mark.parametrize("shape", [(8, 6), (7, 5), (2, 3, 9, 4)])
def test_centred_fft_equals_sigpy(shape):
    x = crandn(*shape)
    assert rel(fft2c(x), sp.fft(x.numpy(), axes=(-2, -1))) < 1e-6
    assert rel(ifft2c(x), sp.ifft(x.numpy(), axes=(-2, -1))) < 1e-6


def test_multicoil_equals_sigpy_sense(maps):
    mask = mask_equispaced((12, 10), 2, 0.2, seed=0)
    A = CartesianSense(maps, mask)
    L = sp.mri.linop.Sense(maps.numpy(), weights=mask.numpy())
    x, y = crandn(12, 10, seed=1), crandn(4, 12, 10, seed=2)
    assert rel(A(x), L(x.numpy())) < 1e-6
    assert rel(A.H(y), L.H(y.numpy())) < 1e-6


def test_single_coil_equals_sigpy_fft():
    mask = (torch.rand(7, 5, generator=torch.Generator().manual_seed(0)) > 0.5).float()
    A = CartesianSense(None, mask)
    L = sp.linop.Multiply((7, 5), mask.numpy()) * sp.linop.FFT((7, 5))
    x = crandn(3, 7, 5)
    assert A(x).shape == (3, 7, 5)
    for i in range(3):
        assert rel(A(x)[i], L(x[i].numpy())) < 1e-6
        assert rel(A.H(x)[i], L.H(x[i].numpy())) < 1e-6


@pytest.mark.parametrize("with_maps", [True, False])
def test_passes_operator_checks(maps, with_maps):
    A = CartesianSense(maps if with_maps else None, mask_equispaced((12, 10), 2, 0.2), image_shape=(12, 10))
    check_operator(A, adjoint_rtol=1e-5)


def test_bad_input(maps):
    with pytest.raises(TypeError, match="expected maps as a complex tensor"):
        CartesianSense(maps.real)
    with pytest.raises(ValueError, match=r"expected mask of shape \(12, 10\).*got \(10, 12\)"):
        CartesianSense(maps, torch.ones(10, 12))
    with pytest.raises(TypeError, match="expected a real sampling mask"):
        CartesianSense(maps, torch.ones(12, 10, dtype=torch.complex64))
    with pytest.raises(ValueError, match=r"expected adjoint input of shape \(\.\.\., 4, 12, 10\), got \(3, 12, 10\)"):
        CartesianSense(maps).adjoint(crandn(3, 12, 10))
    with pytest.raises(ValueError, match="expected maps, a mask or image_shape"):
        CartesianSense()
    # refused like PET's NaN factors: a NaN would spread through every FFT
    for bad in (float("nan"), float("inf")):
        with pytest.raises(ValueError, match="maps must be finite, got NaN or Inf"):
            CartesianSense(torch.where(maps.real > 0.5, torch.tensor(bad, dtype=maps.dtype), maps))
        with pytest.raises(ValueError, match="mask must be finite, got NaN or Inf"):
            CartesianSense(maps, torch.tensor([[1.0, bad] * 5] * 12))


@pytest.mark.cuda
def test_cartesian_with_maps_on_cuda_is_wholly_there_and_equals_the_cpu():
    """Maps on the GPU take a host mask along; cuFFT and the CPU's FFT agree to float32 rounding (1e-5)."""
    shape = (128, 128)
    maps, mask = birdcage_maps(shape, 8), mask_equispaced(shape, 4, 0.08)
    cpu, gpu = CartesianSense(maps, mask), CartesianSense(maps.cuda(), mask)
    assert gpu.mask.is_cuda and gpu.maps.is_cuda
    assert_operator_on_gpu(cpu, gpu, crandn(2, *shape), crandn(2, 8, *shape, seed=1), 1e-5)
