"""Ellipse phantoms as continuous objects: their average over each pixel of any grid, and their exact line integrals.

A row ``(value, a, b, cx, cy, angle)`` is a filled ellipse with semi-axis ``a`` along the direction at ``angle``
degrees from x (counter-clockwise) and ``b`` across it, centred at ``(cx, cy)``; lengths and the centre are
relative to the image's half-widths, so the image spans [-1, 1]², x with the column and y with the row, pixel
``i`` of ``n`` centred at ``(i + ½)·2/n − 1``. A table is a list of rows; its image is their sum (`ellipses`) or,
painted in order, each row's value over what lies beneath (`painted`).

Why pixel averages: a reconstruction on a grid estimates the object's average over each pixel. Sampling the
object at the pixel centres gives a truth that only the grid's own projector reproduces (the inverse crime).
`ellipses` with ``average`` gives each pixel the exact area each ellipse covers of it (the pixel mapped into the
frame where the ellipse is the unit disk, a polygon whose intersection with the disk has a closed form), at
the cost of the pixels the edges cross: a few ms for a 64² body phantom. Supersampling at 16² points per pixel
would still leave 0.4 % RMS error on the edge pixels (a disk at 64², against quadrature) at 0.2 s.

Example::

    table = [(1.0, 0.6, 0.4, 0.1, 0.0, 30.0)]
    truth = ellipses((64, 64), table, average=True)       # each pixel's covered area fraction
    p = line_integrals(table, points, directions, (150.0, 150.0))   # exact chords, mm
"""

from __future__ import annotations

import functools
import math

import numpy as np
import torch

__all__ = ["ellipses", "painted", "pixel_average", "line_integrals"]


@functools.lru_cache(maxsize=16)
def _grid(n: int) -> torch.Tensor:
    """Pixel centres in [-1, 1]: ``(i + ½) · 2/n − 1``."""
    return (torch.arange(n, dtype=torch.float64) + 0.5) * 2 / n - 1


def _levels(x, y, rows: torch.Tensor) -> torch.Tensor:
    """``(u/a)² + (v/b)²``, each ellipse's implicit function (≤ 1 inside), at the points of the grid x × y.

    Shapes: x (nx,), y (ny,), rows (K, 6) -> (K, ny, nx).
    """
    _, a, b, cx, cy, angle = (c[:, None, None] for c in rows.T)
    c, s = torch.cos(torch.deg2rad(angle)), torch.sin(torch.deg2rad(angle))
    dx, dy = x[None, None, :] - cx, y[None, :, None] - cy  # (K, 1, nx), (K, ny, 1)
    # the quadratic form A dx² + B dx dy + C dy²: one full-size product instead of rotating every point
    xx, xy, yy = (c / a) ** 2 + (s / b) ** 2, 2 * c * s * (1 / a**2 - 1 / b**2), (s / a) ** 2 + (c / b) ** 2
    return (xy * dy) * dx + (xx * dx**2 + yy * dy**2)


def _chunks(rows: torch.Tensor, shape):
    """The rows in groups small enough that a (K, y, x) array of them stays near 4 M values."""
    size = max(1, 4_000_000 // (shape[0] * shape[1]))
    return rows.split(size)


def _covered(shape, rows: torch.Tensor) -> torch.Tensor:
    """The exact fraction of each pixel that each ellipse covers. Pixels whose four corners lie inside are covered
    whole (an ellipse is convex), those farther from it than half a diagonal not at all; only the pixels its
    edge crosses are mapped into the frame where the ellipse is the unit disk, whose intersection with the
    mapped pixel (a parallelogram) `_disk_area` gives in closed form.

    Shapes: rows (K, 6) -> (K, y, x) float64.
    """
    ny, nx = shape
    corners_x = torch.arange(nx + 1, dtype=torch.float64) * 2 / nx - 1
    corners_y = torch.arange(ny + 1, dtype=torch.float64) * 2 / ny - 1
    corner_in = _levels(corners_x, corners_y, rows) <= 1
    whole = corner_in[:, :-1, :-1] & corner_in[:, 1:, :-1] & corner_in[:, :-1, 1:] & corner_in[:, 1:, 1:]
    # |M(p − c)| − 1, times the shorter semi-axis, bounds the distance from p to the edge from below
    reach = (_levels(_grid(nx), _grid(ny), rows).sqrt() - 1) * rows[:, 1:3].min(dim=1).values[:, None, None]
    edge = ~whole & (reach <= math.hypot(1 / nx, 1 / ny) * (1 + 1e-9))
    fraction = whole.to(torch.float64)
    k, jj, ii = torch.nonzero(edge, as_tuple=True)
    if len(k):
        x0, y0, x1, y1 = corners_x[ii], corners_y[jj], corners_x[ii + 1], corners_y[jj + 1]
        square = torch.stack(
            [
                torch.stack([x0, y0], -1),
                torch.stack([x1, y0], -1),
                torch.stack([x1, y1], -1),
                torch.stack([x0, y1], -1),
            ],
            1,
        )  # (E, 4, 2), anticlockwise
        a, b = rows[k, 1], rows[k, 2]
        area = _disk_area(_to_unit_disk(square, rows[k])) * a * b  # the map to the disk divides areas by ab
        area = (area / ((2 / nx) * (2 / ny))).clamp(0, 1)
        fraction[k, jj, ii] = torch.where(area < 1e-12, 0.0, area)  # rounding where a pixel only touches the edge
    return fraction


def _to_unit_disk(points, rows):
    """Points (E, corners, 2) in the frames where the ellipses of ``rows`` (E, 6) are the unit disk,
    ``D R(−angle) (p − c)``."""
    _, a, b, cx, cy, angle = (c[:, None] for c in rows.T)
    c, s = torch.cos(torch.deg2rad(angle)), torch.sin(torch.deg2rad(angle))
    x, y = points[..., 0] - cx, points[..., 1] - cy
    return torch.stack([(x * c + y * s) / a, (y * c - x * s) / b], -1)


def _disk_area(polygon: torch.Tensor) -> torch.Tensor:
    """The area of a convex polygon's intersection with the unit disk, exactly: the sum over its edges AB of the
    signed area that the triangle (0, A, B) shares with the disk, a triangle where the edge runs inside and a
    sector where it runs outside.

    Shapes: polygon (K, corners, 2), anticlockwise -> (K,).
    """
    a, b = polygon, polygon.roll(-1, dims=1)
    d = b - a
    dd, ad, aa = (d * d).sum(-1), (a * d).sum(-1), (a * a).sum(-1)
    root = (ad**2 - dd * (aa - 1)).clamp_min(0).sqrt()
    t1 = ((-ad - root) / dd).clamp(0, 1)  # where the edge enters the disk and leaves it, clipped to the edge
    t2 = ((-ad + root) / dd).clamp(0, 1)
    p1, p2 = a + t1[..., None] * d, a + t2[..., None] * d

    def cross(u, v):
        return u[..., 0] * v[..., 1] - u[..., 1] * v[..., 0]

    def angle(u, v):
        return torch.atan2(cross(u, v), (u * v).sum(-1))

    return (0.5 * (angle(a, p1) + cross(p1, p2) + angle(p2, b))).sum(-1)


def ellipses(image_shape, table, dtype=torch.float32, average: bool = False) -> torch.Tensor:
    """The sum of a table's filled ellipses: each pixel the value at its centre, or with ``average`` the exact
    average over the pixel (the area each ellipse covers of it, `_covered`).

    Shapes: image_shape (y, x) -> (y, x) of ``dtype``.
    """
    shape = _shape(image_shape)
    image = torch.zeros(shape, dtype=torch.float64)
    for rows in _chunks(_rows(table), shape):
        inside = _covered(shape, rows) if average else (_levels(_grid(shape[1]), _grid(shape[0]), rows) <= 1).double()
        image += torch.einsum("k,kyx->yx", rows[:, 0], inside)
    return image.to(dtype)


def painted(image_shape, table, base: float = 0.0, dtype=torch.float64, supersample: int = 1) -> torch.Tensor:
    """Painter's algorithm: each row sets (not adds) its value inside its ellipse, in order, over ``base``; a
    pixel is the mean of ``supersample²`` points of it, each painted so (painting is not a sum, so the exact
    area of each ellipse alone does not give the average).

    Shapes: image_shape (y, x) -> (y, x) of ``dtype``.
    """
    shape = _shape(image_shape)
    _check_factor(supersample, "supersample")
    fine = (shape[0] * supersample, shape[1] * supersample)
    image = torch.full(fine, float(base), dtype=torch.float64)
    xs, ys = _grid(fine[1]), _grid(fine[0])
    for row in _rows(table):
        rows, cols = _box(row, fine)  # the points an ellipse can reach: most rows are small
        inside = _levels(xs[cols], ys[rows], row[None])[0] <= 1
        image[rows, cols] = image[rows, cols].masked_fill(inside, float(row[0]))
    return pixel_average(image, supersample).to(dtype)


def _box(row, shape) -> tuple[slice, slice]:
    """The slices of a grid's points that may lie inside the ellipse of ``row``: its bounding box, one point wider."""
    _, a, b, cx, cy, angle = row.tolist()
    c, s = math.cos(math.radians(angle)), math.sin(math.radians(angle))
    extent = (math.hypot(a * c, b * s), math.hypot(a * s, b * c))  # half-widths of the box in x and y
    spans = []
    for centre, half, n in ((cy, extent[1], shape[0]), (cx, extent[0], shape[1])):
        lo = max(math.floor((centre - half + 1) * n / 2 - 0.5) - 1, 0)
        spans.append(slice(lo, max(min(math.ceil((centre + half + 1) * n / 2 - 0.5) + 2, n), lo)))
    return spans[0], spans[1]


def pixel_average(image: torch.Tensor, factor: int) -> torch.Tensor:
    """The mean over each ``factor`` x ``factor`` block: an image on a grid ``factor`` times coarser in each axis.

    Shapes: (*batch, y, x) with y and x multiples of ``factor`` -> (*batch, y / factor, x / factor).
    """
    _check_factor(factor, "factor")
    *batch, ny, nx = image.shape
    if ny % factor or nx % factor:
        raise ValueError(f"expected an image whose sides are multiples of {factor}, got shape {tuple(image.shape)}")
    return image.reshape(*batch, ny // factor, factor, nx // factor, factor).mean(dim=(-3, -1))


# Chunks of lines bound the pairs' memory: a scanner's 3 million rays by 50 ellipses would take gigabytes.
_LINES_PER_CHUNK = 1 << 16


def line_integrals(table, points, directions, half_widths) -> np.ndarray:
    """``Σ value · chord``: the exact integral of a table's sum along each line ``points + t · directions``.

    The table's relative coordinates become mm through the image's ``half_widths`` ``(x, y)`` mm (``n · h / 2``).
    An ellipse is ``(q − c)ᵀ Q (q − c) ≤ 1`` (``Q = R D² Rᵀ``, ``D = diag(1/a, 1/b)``); a line ``q = p + t e`` spends
    ``2 √((pᵀQe)² − eᵀQe (pᵀQp − 1)) / eᵀQe`` of its parameter inside it (``p`` taken from ``c``), which is mm for
    a unit direction in mm. Only the pairs whose line comes near the ellipse are computed.

    Shapes: points, directions (..., 2) in mm, (x, y) -> (...) float64, value · mm.
    """
    points, directions = np.asarray(points, dtype=np.float64), np.asarray(directions, dtype=np.float64)
    if points.shape != directions.shape or points.shape[-1:] != (2,):
        raise ValueError(
            f"expected points and directions of one shape (..., 2), got {points.shape} and {directions.shape}"
        )
    rows = np.asarray(table, dtype=np.float64).reshape(-1, 6)
    scale = 1 / np.asarray(half_widths, dtype=np.float64)
    d = directions.reshape(-1, 2)
    d = d / np.linalg.norm(d, axis=1, keepdims=True)
    p = points.reshape(-1, 2)
    p = (p - (p * d).sum(1, keepdims=True) * d) * scale  # the line's point nearest the centre, for small numbers
    e = d * scale
    value, a, b, cx, cy, angle = rows.T
    c, s = np.cos(np.radians(angle)), np.sin(np.radians(angle))
    q = ((c / a) ** 2 + (s / b) ** 2, c * s * (1 / a**2 - 1 / b**2), (s / a) ** 2 + (c / b) ** 2)
    ellipses = (value, np.maximum(a, b) * (1 + 1e-9), cx, cy, *q)
    out = np.zeros(len(p))
    for start in range(0, len(p), _LINES_PER_CHUNK):
        chunk = slice(start, start + _LINES_PER_CHUNK)
        out[chunk] = _chords(p[chunk], e[chunk], ellipses)
    return out.reshape(points.shape[:-1])


def _chords(p, e, ellipses) -> np.ndarray:
    """``Σ value · chord`` for each line ``p + t e`` (relative units) through the ellipses' sum."""
    value, reach, cx, cy, qxx, qxy, qyy = ellipses
    # Most lines miss most ellipses: keep the pairs whose line passes within the ellipse's longer semi-axis of
    # its centre (|(c − p) × e| / |e| ≤ max(a, b), in relative units), one product for all pairs.
    px, py, ex, ey = p[:, 0], p[:, 1], e[:, 0], e[:, 1]
    norm_e = np.hypot(ex, ey)[:, None]
    distance = np.abs(np.stack([-ey, ex, px * ey - py * ex], 1) @ np.stack([cx, cy, np.ones_like(cx)])) / norm_e
    line, k = np.nonzero(distance <= reach)
    gx, gy = cx * qxx + cy * qxy, cx * qxy + cy * qyy  # Q c
    px, py, ex, ey = px[line], py[line], ex[line], ey[line]
    qxx, qxy, qyy, gx, gy = qxx[k], qxy[k], qyy[k], gx[k], gy[k]
    eqe = qxx * ex * ex + 2 * qxy * ex * ey + qyy * ey * ey
    pqe = qxx * px * ex + qxy * (px * ey + py * ex) + qyy * py * ey - gx * ex - gy * ey
    pqp = qxx * px * px + 2 * qxy * px * py + qyy * py * py - 2 * (gx * px + gy * py) + cx[k] * gx + cy[k] * gy - 1
    chords = 2 * np.sqrt(np.clip(pqe * pqe - eqe * pqp, 0, None)) / eqe
    return np.bincount(line, weights=chords * value[k], minlength=len(p))


def _rows(table) -> torch.Tensor:
    rows = torch.as_tensor(table, dtype=torch.float64).reshape(-1, 6)
    if len(rows) and not bool((rows[:, 1:3] > 0).all()):
        raise ValueError(f"expected positive semi-axes a and b in every row, got {rows[:, 1:3].min().item():.3g}")
    return rows


def _shape(image_shape) -> tuple:
    shape = tuple(image_shape)
    if len(shape) != 2 or not all(isinstance(n, int) and n > 0 for n in shape):
        raise ValueError(f"expected a 2D image shape (y, x) of positive integers, got {image_shape!r}")
    return shape


def _check_factor(value, name):
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"expected {name} as a positive integer, got {value!r}")
