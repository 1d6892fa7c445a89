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


def per_item_parameters(maps, n_items=3):
    """Each item its own maps (rolled, conjugated) and mask (equispaced with other accelerations)."""
    item_maps = torch.stack([maps.roll(k, dims=-1) if k % 2 else maps.conj() for k in range(n_items)])
    masks = torch.stack([mask_equispaced((12, 10), 2 + k, 0.2, seed=k) for k in range(n_items)])
    return item_maps, masks


@pytest.mark.parametrize(
    "maps_kind, mask_kind",
    [
        ("item", "item"),
        ("item", "columns"),
        ("item", "shared"),
        ("shared", "item"),
        ("none", "item"),
        ("none", "columns"),
    ],
)
def test_per_item_operator_equals_each_items_operator(maps, maps_kind, mask_kind):
    """A batch of B operators as one: item i of A(x) is the operator built from item i's maps and mask alone."""
    item_maps, masks = per_item_parameters(maps)
    given_maps = {"item": item_maps, "shared": maps, "none": None}[maps_kind]
    given_mask = {"item": masks, "columns": masks[:, :1], "shared": masks[0]}[mask_kind]
    A = CartesianSense(given_maps, given_mask, image_shape=(12, 10))
    coils = () if maps_kind == "none" else (4,)
    assert A.domain_shape == (3, 12, 10) and A.range_shape == (3, *coils, 12, 10) and A.item_axes == 1
    x, y = crandn(2, 3, 12, 10, seed=1), crandn(2, 3, *coils, 12, 10, seed=2)
    for i in range(3):
        single = CartesianSense(
            None if given_maps is None else given_maps if maps_kind == "shared" else item_maps[i],
            given_mask if mask_kind == "shared" else given_mask[i],
            image_shape=(12, 10),
        )
        assert rel(A(x)[:, i], single(x[:, i])) < 1e-6
        assert rel(A.H(y)[:, i], single.H(y[:, i])) < 1e-6
        assert rel(A.item(i)(x[:, i]), single(x[:, i])) < 1e-6


def test_per_item_operator_passes_operator_checks():
    # small (2 items of 2 coils, 6 x 5): gradcheck and jacrev take one column per real input
    masks = (torch.rand(2, 6, 5, generator=torch.Generator().manual_seed(0)) > 0.4).float()
    check_operator(CartesianSense(crandn(2, 2, 6, 5), masks), adjoint_rtol=1e-5)


def test_per_item_bad_input(maps):
    item_maps, masks = per_item_parameters(maps)
    with pytest.raises(
        ValueError,
        match=r"per-item maps and mask with the same number of items, got "
        r"\{'maps': 3, 'mask': 2\}",
    ):
        CartesianSense(item_maps, masks[:2])
    with pytest.raises(
        ValueError,
        match=r"expected maps of shape \(coils, y, x\), or \(items, coils, y, x\) per "
        r"item, got \(1, 3, 4, 12, 10\)",
    ):
        CartesianSense(item_maps[None])
    with pytest.raises(ValueError, match=r"expected mask of shape \(12, 10\).*leading item axis, got \(1, 3, 12, 10\)"):
        CartesianSense(item_maps, masks[None])
    with pytest.raises(ValueError, match=r"expected input of shape \(\.\.\., 3, 12, 10\), got \(2, 12, 10\)"):
        CartesianSense(item_maps, masks)(crandn(2, 12, 10))
    with pytest.raises(TypeError, match="is not per item"):
        CartesianSense(maps).item(0)
