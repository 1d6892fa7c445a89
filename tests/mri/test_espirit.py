"""ESPIRiT maps recover known smooth coil maps up to a common phase."""
import pytest
import torch

from bridges.mri import espirit_maps, fft2c

from .conftest import crandn


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
