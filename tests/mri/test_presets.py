"""The fastMRI brain preset: its mask and operator."""
import pytest
import torch

from bridges.mri import FASTMRI_BRAIN_2D, FASTMRI_BRAIN_2D_8X


@pytest.mark.parametrize("p", [FASTMRI_BRAIN_2D, FASTMRI_BRAIN_2D_8X])
def test_preset_mask_and_operator(p):
    assert abs(float(p.mask().mean()) - 1 / p.acceleration) < 0.02 and "1811.08839" in p.source
    maps = torch.ones(p.n_coils, *p.image_shape, dtype=torch.complex64) / p.n_coils**0.5
    A = p.operator(maps)
    assert A.range_shape == (16, 320, 320) and torch.equal(A.mask, p.mask())
    with pytest.raises(ValueError, match=r"expected maps of shape \(16, 320, 320\)"):
        p.operator(maps[:4])
