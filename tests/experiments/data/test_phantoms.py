"""Phantoms: ODL's ellipse rasteriser as the reference, closed-form invariants."""
import math

import numpy as np
import odl
import pytest
import torch

from experiments.data import (MU_WATER_511KEV, body_ellipse_table, body_ellipses, lpd_ellipse_table, lpd_ellipses,
                              mri_phantom, pet_activity, pet_body, small_features)
from experiments.data.phantoms import MU_WATER, ellipses, shepp_logan


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def _radial_coordinate(n, a, b, cx, cy, degrees):
    """√((u/a)² + (v/b)²) at the pixel centres of an n x n (y, x) grid on [-1, 1]²: 1 on the ellipse."""
    c = (np.arange(n) + 0.5) * 2 / n - 1
    y, x = np.meshgrid(c, c, indexing="ij")
    t = math.radians(degrees)
    u = (x - cx) * math.cos(t) + (y - cy) * math.sin(t)
    v = -(x - cx) * math.sin(t) + (y - cy) * math.cos(t)
    return np.sqrt((u / a) ** 2 + (v / b) ** 2)


def test_lpd_table_rasterises_as_odl_ellipsoid_phantom():
    n, space = 64, odl.uniform_discr([-1, -1], [1, 1], (64, 64))
    table = lpd_ellipse_table(gen(4))
    for value, a, b, cx, cy, t in table:
        # ODL indexes (x, y) and takes radians; ours is (y, x) and degrees
        reference = np.asarray(odl.phantom.ellipsoid_phantom(space, [(1.0, a, b, cx, cy, math.radians(t))]).data).T
        differ = ellipses((n, n), [(1.0, a, b, cx, cy, t)]).numpy() != reference
        # the two rasterisers may round differently only within a pixel of the ellipse's edge
        distance = np.abs(_radial_coordinate(n, a, b, cx, cy, t) - 1) * min(a, b)
        assert np.all(distance[differ] < 2 / n), (a, b, cx, cy, t)


def test_lpd_table_follows_the_papers_distributions():
    rows = [r for s in range(40) for r in lpd_ellipse_table(gen(s))]
    assert abs(len(rows) / 40 - 50) < 5 * math.sqrt(50 / 40)  # K ~ Poisson(50)
    v, a, b, cx, cy, t = (np.array(c) for c in zip(*rows))
    assert abs(a.mean() - 0.2) < 0.02 and abs(b.mean() - 0.2) < 0.02  # 0.2 · Exp(1)
    assert abs(v.mean()) < 0.01 and abs(np.abs(v).mean() - 0.1) < 0.01  # E|U - ½| · 0.4 = 0.1
    assert cx.min() >= -1 and cx.max() <= 1 and cy.min() >= -1 and t.max() < 360
    inner = [r for s in range(5) for r in lpd_ellipse_table(gen(s), interior=True)]
    assert max(max(abs(r[3]), abs(r[4])) for r in inner) <= 0.5


def test_lpd_ellipses_are_nonnegative_attenuation_in_1_per_mm():
    mu = lpd_ellipses((48, 48), gen(1))
    table = lpd_ellipse_table(gen(1))
    assert mu.dtype == torch.float32 and mu.min() >= 0
    assert torch.allclose(mu, (ellipses((48, 48), table).clamp_min(0) * MU_WATER).float())
    assert not torch.equal(mu, lpd_ellipses((48, 48), gen(2)))


def test_body_ellipses_keep_their_structure_inside_a_water_body():
    mu = body_ellipses((64, 64), gen(3))
    body = ellipses((64, 64), [(1.0, 0.85, 0.65, 0.0, 0.0, 0.0)]) > 0
    assert mu.dtype == torch.float32 and mu.min() >= 0
    assert torch.all(mu[~body] == 0) and float(mu[body].median()) == pytest.approx(MU_WATER)
    assert not torch.equal(mu, body_ellipses((64, 64), gen(4)))
    assert torch.equal(mu, body_ellipses((64, 64), gen(3)))


def test_small_features_are_the_small_high_contrast_ellipses_and_a_rim():
    small, faint, large = (0.3, 0.1, 0.05, 0.2, 0.1, 30.0), (0.05, 0.1, 0.05, -0.4, 0.0, 0.0), (0.3, 0.5, 0.4, 0, 0, 0)
    mask = small_features((64, 64), [large, small, faint])  # areas: 0.4 %, 0.4 % and 16 % of the image
    inside = ellipses((64, 64), [small]) > 0
    assert mask.dtype == torch.bool and torch.all(mask[inside])
    rim = mask & ~inside  # every rim pixel touches the ellipse (8-neighbourhood), and the rim closes it
    touching = torch.nn.functional.max_pool2d(inside[None, None].float(), 3, 1, 1)[0, 0] > 0
    assert torch.equal(rim, touching & ~inside) and rim.sum() > 0
    assert not small_features((64, 64), [large, faint]).any()
    # the table the body phantom is drawn from: its image is body_ellipses', the water body never "small"
    table = body_ellipse_table(gen(5))
    assert table[0][0] == 1.0 and torch.equal(body_ellipses((64, 64), gen(5)),
                                              (ellipses((64, 64), table).clamp_min(0) * MU_WATER).float())
    assert small_features((64, 64), table).sum() < 0.5 * 64 * 64


def test_pet_activity_is_nonnegative_and_zero_outside_the_body():
    mu = pet_body((40, 48))
    values = torch.unique(mu)
    assert len(values) == 2 and values[0] == 0 and float(values[1]) == pytest.approx(MU_WATER_511KEV)
    for seed in range(5):
        x = pet_activity(mu, gen(seed))
        assert x.shape == mu.shape and x.min() >= 0
        assert torch.all(x[mu == 0] == 0)
        assert float((x[mu > 0] == 1).float().mean()) > 0.3  # warm background dominates the body
    xs = torch.stack([pet_activity(mu, gen(s)) for s in range(30)])
    assert xs.max() > 3 and (xs[:, mu > 0] < 0.3).any()  # hot and cold lesions occur


def test_mri_phantom_has_unit_peak_and_smooth_phase():
    x = mri_phantom((64, 64), gen(3))
    assert x.dtype == torch.complex64 and abs(float(x.abs().max()) - 1) < 1e-6
    both = (x.abs()[:, 1:] > 0) & (x.abs()[:, :-1] > 0)
    step = torch.angle(x[:, 1:] * x[:, :-1].conj())[both]  # phase change per pixel along x
    # |∂φ/∂x| ≤ (π/2)(|c₁| + 2|c₃| + |c₄|) ≤ 2π per unit length, pixels 2/64 long
    assert float(step.abs().max()) < 2 * math.pi * 2 / 64 + 1e-4
    assert float(step.abs().mean()) > 1e-3  # the phase is not constant
    assert not torch.equal(x, mri_phantom((64, 64), gen(4)))


@pytest.mark.parametrize("call, error, words", [
    (lambda: lpd_ellipses((32,), gen()), ValueError, "2D image shape"),
    (lambda: lpd_ellipses((32, 32), 0), TypeError, "Generator"),
    (lambda: pet_activity(torch.ones(3, 4, 4), gen()), ValueError, "2D"),
    (lambda: mri_phantom((32, 32.5), gen()), ValueError, "positive integers"),
])
def test_bad_input_is_named(call, error, words):
    with pytest.raises(error, match=words):
        call()


def test_shepp_logan_is_water_like():
    assert abs(float(shepp_logan((64, 64)).max()) - MU_WATER) < 1e-9
