"""Phantoms: ODL's ellipse rasteriser as the reference, closed-form invariants."""

import math

import numpy as np
import odl
import pytest
import torch

from experiments.data import (
    MU_WATER_511KEV,
    body_ellipse_table,
    body_ellipses,
    lpd_ellipse_table,
    lpd_ellipses,
    mri_object,
    mri_phantom,
    pet_activity,
    pet_phantom,
    small_features,
)
from experiments.data.ellipse_tables import pixel_average
from experiments.data.phantoms import MU_LUNG_511KEV, MU_WATER, ellipses, shepp_logan


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
    for _value, a, b, cx, cy, t in table:
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


def _outline_spread(outlines):
    """The spread (max − min) of each parameter of a list of outline rows: (a, b, cx, cy, angle)."""
    columns = np.array([o[1:] for o in outlines])
    return columns.max(0) - columns.min(0)


def test_body_ellipses_keep_their_structure_inside_a_water_body_that_varies():
    outlines = []
    for seed in range(12):
        table = body_ellipse_table(gen(seed))
        outline, structure = table[0], table[1:]
        outlines.append(outline)
        _, a, b, cx, cy, _ = outline
        assert a + math.hypot(cx, cy) < 0.95  # inside the scanned disk
        mu = body_ellipses((64, 64), gen(seed))
        body = ellipses((64, 64), [(1.0, *outline[1:])]) > 0
        assert mu.dtype == torch.float32 and mu.min() >= 0
        assert torch.all(mu[~body] == 0) and float(mu[body].median()) == pytest.approx(MU_WATER)
        # each structure ellipse lies inside the body: 360 points of its boundary, in the body's unit-disk frame
        for _, sa, sb, sx, sy, st in structure:
            phi = np.linspace(0, 2 * math.pi, 360, endpoint=False)
            c, s = math.cos(math.radians(st)), math.sin(math.radians(st))
            x = sx + sa * np.cos(phi) * c - sb * np.sin(phi) * s - cx
            y = sy + sa * np.cos(phi) * s + sb * np.sin(phi) * c - cy
            co, so = math.cos(math.radians(outline[5])), math.sin(math.radians(outline[5]))
            assert np.all(((x * co + y * so) / a) ** 2 + ((-x * so + y * co) / b) ** 2 < 1.0)
    spread = _outline_spread(outlines)  # size, aspect, position and rotation all vary from item to item
    assert spread[0] > 0.1 and spread[1] > 0.1 and min(spread[2:4]) > 0.03 and spread[4] > 20
    assert torch.equal(body_ellipses((64, 64), gen(3)), body_ellipses((64, 64), gen(3)))


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
    assert table[0][0] == 1.0
    torch.testing.assert_close(body_ellipses((64, 64), gen(5)), ellipses((64, 64), table) * MU_WATER)
    assert small_features((64, 64), table).sum() < 0.5 * 64 * 64


def test_pet_activity_is_nonnegative_and_zero_outside_a_body_that_varies():
    outlines, images = [], []
    for seed in range(30):
        phantom = pet_phantom(gen(seed))
        outlines.append(phantom.outline)
        x, mu = phantom.render((40, 48), average=False), phantom.mu((40, 48), average=False)
        body = ellipses((40, 48), [(1.0, *phantom.outline[1:])]) > 0
        assert x.shape == (40, 48) and x.min() >= 0 and torch.all(x[~body] == 0)
        assert float((x[body] == 1).float().mean()) > 0.3  # warm background dominates the body
        # μ: air outside, water inside except lung where the activity is below 0.6
        lung = body & (x < 0.6)
        assert torch.all(mu[~body] == 0) and torch.allclose(mu[body & ~lung], torch.tensor(MU_WATER_511KEV))
        assert torch.allclose(mu[lung], torch.tensor(MU_LUNG_511KEV))
        images.append(x)
        assert torch.equal(x, pet_activity((40, 48), gen(seed)))
    xs = torch.stack(images)
    assert xs.max() > 3 and (xs[xs > 0] < 0.3).any()  # hot and cold lesions occur
    spread = _outline_spread(outlines)
    assert spread[0] > 0.05 and min(spread[2:4]) > 0.03 and spread[4] > 10


def test_mri_phantom_has_peak_at_most_one_smooth_phase_and_a_head_that_varies():
    outlines = []
    for seed in range(8):
        phantom = mri_object(gen(seed))
        outlines.append(phantom.outline)
        x = phantom.render((64, 64), average=False)
        assert x.dtype == torch.complex64 and 0.3 < float(x.abs().max()) <= 1 + 1e-6
        head = ellipses((64, 64), [(1.0, *phantom.outline[1:])]) > 0
        assert torch.all(x[~head] == 0)
        both = (x.abs()[:, 1:] > 0) & (x.abs()[:, :-1] > 0)
        step = torch.angle(x[:, 1:] * x[:, :-1].conj())[both]  # phase change per pixel along x
        # |∂φ/∂x| ≤ (π/2)(|c₁| + 2|c₃| + |c₄|) ≤ 2π per unit length, pixels 2/64 long
        assert float(step.abs().max()) < 2 * math.pi * 2 / 64 + 1e-4
        assert float(step.abs().mean()) > 1e-3  # the phase is not constant
        assert torch.equal(x, mri_phantom((64, 64), gen(seed)))
    spread = _outline_spread(outlines)
    assert spread[0] > 0.1 and min(spread[2:4]) > 0.03 and spread[4] > 30


def test_pixel_averages_of_the_objects_are_the_mean_of_their_finer_renderings():
    # painted objects average supersample² points per pixel: rendering at 4x and pooling is the same average
    for phantom in (pet_phantom(gen(1)), mri_object(gen(1))):
        coarse = phantom.render((32, 32), supersample=4)
        fine = phantom.render((128, 128), average=False)
        torch.testing.assert_close(coarse, pixel_average(fine, 4), rtol=0, atol=1e-6)


@pytest.mark.parametrize(
    "call, error, words",
    [
        (lambda: lpd_ellipses((32,), gen()), ValueError, "2D image shape"),
        (lambda: lpd_ellipses((32, 32), 0), TypeError, "Generator"),
        (lambda: pet_activity((3, 4, 4), gen()), ValueError, "2D image shape"),
        (lambda: mri_phantom((32, 32.5), gen()), ValueError, "positive integers"),
    ],
)
def test_bad_input_is_named(call, error, words):
    with pytest.raises(error, match=words):
        call()


def test_shepp_logan_is_water_like():
    assert abs(float(shepp_logan((64, 64)).max()) - MU_WATER) < 1e-9
