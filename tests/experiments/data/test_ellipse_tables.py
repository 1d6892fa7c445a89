"""Ellipse phantoms as continuous objects: pixel areas and line integrals against closed forms and quadrature."""

import math

import numpy as np
import pytest
import torch
from scipy import integrate

from experiments.data.ellipse_tables import ellipses, line_integrals, painted, pixel_average
from experiments.data.objects import EllipseSum, body_regions


def disk_pixel_areas(n, radius, cx, cy, near=1.5):
    """The fraction of each pixel of an n² grid on [-1, 1]² that a disk covers, by adaptive quadrature of its
    vertical extent over each column of the pixel (pixels far from the edge: 1 or 0)."""
    h = 2 / n
    out = np.zeros((n, n))
    for j in range(n):
        for i in range(n):
            x0, y0 = i * h - 1, j * h - 1
            r = math.hypot(x0 + h / 2 - cx, y0 + h / 2 - cy)
            if abs(r - radius) > near * h:
                out[j, i] = float(r < radius)
                continue

            def height(x):
                d = radius**2 - (x - cx) ** 2
                if d <= 0:
                    return 0.0
                s = math.sqrt(d)
                return max(0.0, min(y0 + h, cy + s) - max(y0, cy - s))

            out[j, i] = integrate.quad(height, x0, x0 + h, limit=200, epsabs=1e-13)[0] / h**2
    return out


def test_pixel_averages_are_the_exact_covered_areas():
    n, radius, cx, cy = 48, 0.61, 0.0312, -0.0517
    reference = disk_pixel_areas(n, radius, cx, cy)
    got = ellipses((n, n), [(1.0, radius, radius, cx, cy, 0.0)], torch.float64, average=True).numpy()
    edge = (reference > 0) & (reference < 1)
    assert edge.sum() > 100
    # measured 2e-9 RMS, 2.5e-8 at worst: quadrature's own error; pixel-centre sampling is off by 0.24 RMS there
    assert np.abs(got - reference).max() < 1e-6
    centre = ellipses((n, n), [(1.0, radius, radius, cx, cy, 0.0)], torch.float64).numpy()
    assert np.sqrt(((centre - reference)[edge] ** 2).mean()) > 0.1
    # an ellipse's area is πab whatever it is turned by, and a grid's pixel areas add up to it
    for angle in (0.0, 17.0, 90.0, 133.0):
        image = ellipses((64, 64), [(1.0, 0.5, 0.2, 0.1, -0.2, angle)], torch.float64, average=True)
        assert float(image.sum()) * (2 / 64) ** 2 == pytest.approx(math.pi * 0.5 * 0.2, rel=1e-9)


def test_an_ellipse_smaller_than_a_pixel_keeps_its_area():
    image = ellipses((16, 16), [(2.0, 0.03, 0.02, 0.013, 0.021, 40.0)], torch.float64, average=True)
    assert float(image.sum()) * (2 / 16) ** 2 == pytest.approx(2.0 * math.pi * 0.03 * 0.02, rel=1e-9)
    assert (image > 0).sum() <= 4


def table_at(table, x, y, half):
    """The table's sum at points (x, y) in mm, the table's coordinates relative to the half-widths ``half``."""
    out = np.zeros_like(x)
    for v, a, b, cx, cy, t in table:
        c, s = math.cos(math.radians(t)), math.sin(math.radians(t))
        u, w = x / half[0] - cx, y / half[1] - cy
        out += v * (((u * c + w * s) / a) ** 2 + ((w * c - u * s) / b) ** 2 <= 1)
    return out


def test_line_integrals_of_turned_ellipses_against_quadrature():
    table = [(1.5, 0.6, 0.25, 0.1, -0.15, 35.0), (-0.5, 0.2, 0.1, -0.2, 0.1, 100.0)]
    half = (150.0, 110.0)  # mm: a field wider than deep, so x and y scale differently (the ellipses shear)
    rng = np.random.default_rng(0)
    angles = rng.uniform(0, 2 * np.pi, 40)
    directions = np.stack([np.cos(angles), np.sin(angles)], -1) * rng.uniform(0.5, 3, (40, 1))  # any length
    points = rng.uniform(-60, 60, (40, 2))
    got = line_integrals(table, points, directions, half)
    t = np.linspace(-400, 400, 400_001)  # 2 µm steps: a sampled indicator is off by at most a step at each edge
    for k in range(len(points)):
        d = directions[k] / np.linalg.norm(directions[k])
        reference = table_at(table, points[k, 0] + t * d[0], points[k, 1] + t * d[1], half).sum() * (t[1] - t[0])
        assert got[k] == pytest.approx(reference, abs=0.02), k
    assert np.count_nonzero(got) > 20  # most lines cross the ellipses


def test_line_integrals_of_more_lines_than_a_chunk_are_a_disks_chords():
    """A scanner's rays come in several chunks: each line still gets its own chord, 2 √(r² − d²)."""
    rng = np.random.default_rng(1)
    n = 150_000  # over two chunks of 65 536 lines
    angles = rng.uniform(0, np.pi, n)
    directions = np.stack([np.cos(angles), np.sin(angles)], -1)
    offsets = rng.uniform(-60, 60, n)  # mm from the centre, along the normal
    points = offsets[:, None] * np.stack([-directions[:, 1], directions[:, 0]], -1)
    got = line_integrals([(2.0, 0.5, 0.5, 0.0, 0.0, 0.0)], points, directions, (100.0, 100.0))  # radius 50 mm
    expected = 2.0 * 2 * np.sqrt(np.clip(50.0**2 - offsets**2, 0, None))
    np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-9)
    assert 0 < np.count_nonzero(got) < n


def test_painted_rows_set_their_value_and_supersampling_averages():
    rows = [(2.0, 0.5, 0.5, 0.0, 0.0, 0.0), (5.0, 0.2, 0.2, 0.0, 0.0, 0.0)]
    image = painted((32, 32), rows, base=1.0)
    assert set(torch.unique(image).tolist()) == {1.0, 2.0, 5.0}  # set, not added: no 7
    fine = painted((128, 128), rows, base=1.0)
    torch.testing.assert_close(painted((32, 32), rows, base=1.0, supersample=4), pixel_average(fine, 4))


def test_floored_sums_have_no_line_integrals():
    with pytest.raises(ValueError, match="finer grid"):
        EllipseSum(((1.0, 0.5, 0.5, 0, 0, 0),), floor=True).line_integrals(np.zeros((1, 2)), np.ones((1, 2)), (1, 1))


def test_body_regions_split_the_body_into_rim_and_interior():
    outline = (1.0, 0.7, 0.5, 0.05, -0.02, 25.0)
    regions = body_regions((64, 64), outline)
    body, rim, interior = regions["body"], regions["rim"], regions["interior"]
    assert torch.equal(interior | (rim & body), body) and not (interior & rim).any()
    # the rim reaches 2 pixels either side of the edge: every rim pixel is that close to a body and a non-body pixel
    near_body = torch.nn.functional.max_pool2d(body[None, None].float(), 5, 1, 2)[0, 0] > 0
    near_air = torch.nn.functional.max_pool2d((~body)[None, None].float(), 5, 1, 2)[0, 0] > 0
    assert torch.equal(rim, near_body & near_air)


@pytest.mark.parametrize(
    "call, words",
    [
        (lambda: ellipses((8,), []), "2D image shape"),
        (lambda: ellipses((8, 8), [(1.0, 0.0, 0.1, 0, 0, 0)]), "positive semi-axes"),
        (lambda: pixel_average(torch.zeros(10, 10), 3), "multiples of 3"),
        (lambda: line_integrals([], np.zeros((3, 2)), np.zeros((2, 2)), (1, 1)), "one shape"),
    ],
)
def test_bad_input_is_named(call, words):
    with pytest.raises(ValueError, match=words):
        call()
