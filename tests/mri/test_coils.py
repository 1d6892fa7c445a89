"""Coil maps: ESPIRiT recovers known smooth maps up to a common phase; birdcage maps are normalised."""
import pytest
import torch

from bridges import mri
from bridges.mri import birdcage_maps, espirit_maps, fft2c

from tests.conftest import crandn


def test_recovers_true_maps(maps):
    y, x = torch.meshgrid(torch.linspace(-1, 1, 12), torch.linspace(-1, 1, 10), indexing="ij")
    image = ((y**2 + x**2) < 0.8).to(torch.complex64) * (1 + 0.3 * y)
    est = espirit_maps(fft2c(maps * image), calib_width=8, kernel_width=3, crop=0.8)
    assert est.shape == maps.shape and est.dtype == torch.complex64
    inside = (image.abs() > 0) & (est.abs().sum(0) > 0)
    alignment = (est.conj() * maps).sum(0).abs()[inside]  # |<s_est, s_true>| = 1 when equal up to phase
    assert inside.sum() > 0.5 * (image.abs() > 0).sum() and alignment.min() > 0.95


def test_bad_input(maps):
    with pytest.raises(TypeError, match="expected k-space as a complex tensor"):
        espirit_maps(maps.abs())
    with pytest.raises(ValueError, match=r"expected calib_width <= the k-space size \(12, 10\), got 24"):
        espirit_maps(crandn(4, 12, 10))
    with pytest.raises(ValueError, match=r"expected k-space of shape \(coils, y, x\)"):
        espirit_maps(crandn(12, 10))


def test_birdcage_maps_have_unit_sum_of_squares():
    maps = birdcage_maps((24, 32), 8)
    assert maps.shape == (8, 24, 32) and maps.dtype == torch.complex64
    assert torch.allclose(maps.abs().pow(2).sum(0), torch.ones(24, 32), atol=1e-6)
    assert maps.abs().std(0).mean() > 0.01  # coils differ: not a trivial split


def test_normalised_maps_make_full_sense_an_isometry():
    maps = birdcage_maps((32, 32), 4)
    full = mri.CartesianSense(maps)
    x = crandn(32, 32)
    assert torch.allclose(full.H(full(x)), x, atol=1e-5)
    masked = mri.CartesianSense(maps, mri.mask_equispaced((32, 32), 4, 0.08))
    assert masked.norm() <= 1 + 1e-3


def test_birdcage_bad_input():
    with pytest.raises(ValueError, match="n_coils"):
        birdcage_maps((32, 32), 0)
    with pytest.raises(ValueError, match="radius"):
        birdcage_maps((32, 32), 4, radius=0.5)
