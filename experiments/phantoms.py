"""Analytic ellipse phantoms generated on the fly, in attenuation units (1/mm)."""
from __future__ import annotations

import math

import torch

MU_WATER = 0.0192  # 1/mm at about 70 keV

# Modified Shepp-Logan (Toft 1996): value, semi-axes (a, b), centre (x, y), rotation in degrees;
# coordinates relative to the half-width of the image.
MODIFIED_SHEPP_LOGAN = [
    (1.0, 0.69, 0.92, 0.0, 0.0, 0), (-0.8, 0.6624, 0.874, 0.0, -0.0184, 0),
    (-0.2, 0.11, 0.31, 0.22, 0.0, -18), (-0.2, 0.16, 0.41, -0.22, 0.0, 18),
    (0.1, 0.21, 0.25, 0.0, 0.35, 0), (0.1, 0.046, 0.046, 0.0, 0.1, 0), (0.1, 0.046, 0.046, 0.0, -0.1, 0),
    (0.1, 0.046, 0.023, -0.08, -0.605, 0), (0.1, 0.023, 0.023, 0.0, -0.606, 0),
    (0.1, 0.023, 0.046, 0.06, -0.605, 0),
]


def ellipses(shape, table, dtype=torch.float32) -> torch.Tensor:
    """Sum of filled ellipses on a (y, x) grid spanning [-1, 1]² (y increasing with the row)."""
    ny, nx = shape
    y = (torch.arange(ny, dtype=torch.float64) + 0.5) * 2 / ny - 1
    x = (torch.arange(nx, dtype=torch.float64) + 0.5) * 2 / nx - 1
    yy, xx = torch.meshgrid(y, x, indexing="ij")
    image = torch.zeros(shape, dtype=torch.float64)
    for value, a, b, cx, cy, angle in table:
        t = math.radians(angle)
        u = (xx - cx) * math.cos(t) + (yy - cy) * math.sin(t)
        v = -(xx - cx) * math.sin(t) + (yy - cy) * math.cos(t)
        image += value * ((u / a) ** 2 + (v / b) ** 2 <= 1)
    return image.to(dtype)


def shepp_logan(shape, mu=MU_WATER) -> torch.Tensor:
    """The modified Shepp-Logan phantom scaled so that its body is water-like (1/mm)."""
    return ellipses(shape, MODIFIED_SHEPP_LOGAN) * mu


def random_ellipses(shape, n_ellipses=10, generator: torch.Generator | None = None, mu=MU_WATER) -> torch.Tensor:
    """A random-ellipse phantom as in the learned primal-dual paper: non-negative, in 1/mm."""
    g = generator or torch.Generator().manual_seed(0)
    r = torch.rand(n_ellipses, 6, generator=g, dtype=torch.float64)
    table = [(float(v) - 0.3, 0.05 + 0.45 * float(a), 0.05 + 0.45 * float(b), float(cx) * 1.2 - 0.6,
              float(cy) * 1.2 - 0.6, 360 * float(t)) for v, a, b, cx, cy, t in r]
    return ellipses(shape, table).clamp_min(0) * mu
