"""The MRI protocol registry: ``mri.protocol(name)`` over ``mri.PRESETS``, the fastMRI brain presets' mask and
operator."""

import pytest
import torch

from bridges import mri


@pytest.mark.parametrize("name", ["fastmri-brain-2d", "fastmri-brain-2d-8x"])
def test_preset_mask_and_operator(name):
    p = mri.protocol(name)
    assert abs(float(p.mask().mean()) - 1 / p.acceleration) < 0.02 and "1811.08839" in p.source
    maps = torch.ones(p.n_coils, *p.image_shape, dtype=torch.complex64) / p.n_coils**0.5
    A = p.operator(maps)
    assert A.range_shape == (16, 320, 320) and torch.equal(A.mask, p.mask())
    with pytest.raises(ValueError, match=r"expected maps of shape \(16, 320, 320\)"):
        p.operator(maps[:4])


def test_registry_lists_its_presets_and_names_them_on_a_bad_one():
    assert sorted(mri.PRESETS) == ["fastmri-brain-2d", "fastmri-brain-2d-8x"]
    assert mri.protocol("fastmri-brain-2d-8x").acceleration == 8.0
    with pytest.raises(
        ValueError,
        match=r"expected an MRI protocol preset, one of \['fastmri-brain-2d', "
        r"'fastmri-brain-2d-8x'\], got 'FASTMRI_BRAIN_2D'",
    ):
        mri.protocol("FASTMRI_BRAIN_2D")
