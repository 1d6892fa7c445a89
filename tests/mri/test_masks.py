"""Masks: sampled fraction, fully sampled centre, seeding, bad arguments."""

import numpy as np
import pytest
import sigpy.mri
import torch

from bridges.mri import mask_equispaced, mask_poisson, mask_random


@pytest.mark.parametrize("fn", [mask_equispaced, mask_random])
@pytest.mark.parametrize("accel,frac", [(4, 0.08), (8, 0.04)])
def test_fastmri_masks(fn, accel, frac):
    m = fn((64, 320), accel, frac, seed=3)
    assert m.shape == (64, 320) and m.dtype == torch.float32
    assert abs(float(m.mean()) - 1 / accel) < 0.05
    n = round(320 * frac)
    assert m[:, 160 - n // 2 : 160 + n // 2].eq(1).all()
    assert (m == m[:1]).all()  # whole columns
    assert torch.equal(m, fn((64, 320), accel, frac, seed=3))


def test_random_mask_depends_on_seed():
    assert not torch.equal(mask_random((8, 320), 4, 0.08, seed=0), mask_random((8, 320), 4, 0.08, seed=1))


def test_poisson_mask_is_sigpys():
    m = mask_poisson((48, 48), 3, calib=(8, 8), seed=0)
    expected = sigpy.mri.poisson((48, 48), 3, calib=(8, 8), dtype=np.float32, seed=0)
    assert m.dtype == torch.float32 and np.array_equal(m.numpy(), expected.real)
    assert abs(float(m.mean()) - 1 / 3) < 0.05 and m[20:28, 20:28].eq(1).all()


def test_bad_arguments():
    with pytest.raises(ValueError, match="expected acceleration > 1, got 1"):
        mask_random((8, 8), 1, 0.1)
    with pytest.raises(ValueError, match="expected 0 <= center_fraction"):
        mask_equispaced((8, 8), 4, 0.5)
    with pytest.raises(ValueError, match="centre of 4 of 10 columns"):
        mask_equispaced((10, 10), 2.5, 0.39)
    with pytest.raises(ValueError, match=r"expected image_shape \(y, x\) of positive sizes"):
        mask_random((8,), 4, 0.1)
