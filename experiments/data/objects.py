"""Continuous objects: what a simulator measures and what a reconstruction grid's truth averages.

- `EllipseSum`: a sum of filled ellipses (CT attenuation), with exact line integrals unless floored at 0;
- `MRIPhantom`: painted ellipses times a smooth phase (a complex MR image);
- `PETPhantom`: activity painted inside a body, and the body's attenuation (water, lungs where cold);
- `FineImage`: an image given on a fine grid (real anatomy), the object being constant on each of its pixels.

Each has ``render(image_shape, average=True, supersample=4)``: the object on a grid, each pixel its average over
the pixel (the truth a reconstruction on that grid estimates; exact for ellipse sums, else the mean of
``supersample²`` points) or, ``average=False``, its value at the pixel centre (the point-sampled truth of a discrete
simulation). ``outline`` is the row of its body's ellipse (None where it has none); `body_regions` makes from it
the masks an evaluation scores separately: the body's rim, where an edge dominates, and its interior.

Example::

    obj = EllipseSum(table, scale=MU_WATER, outline=table[0])
    truth = obj.render((64, 64))                 # pixel averages, 1/mm
    regions = body_regions((64, 64), obj.outline)
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from experiments.data.ellipse_tables import ellipses, line_integrals, painted, pixel_average

__all__ = ["EllipseSum", "MRIPhantom", "PETPhantom", "FineImage", "body_regions", "RIM_WIDTH"]

# Painted and floored objects have no closed-form pixel average: the mean of supersample² points per pixel, by
# default 4² on the grid asked for. A simulator's fine grid, already 2-4x finer than the reconstruction's, asks
# for fewer, so that a truth pixel still averages 8² to 16² points.
SUPERSAMPLE = 4
RIM_WIDTH = 2  # pixels either side of the body's edge: the rim an evaluation scores apart from the interior


@dataclass(frozen=True, eq=False)
class EllipseSum:
    """``scale · Σ ellipses``, or with ``floor`` ``scale · max(Σ ellipses, 0)`` (then no closed-form line integrals).

    ``table`` rows are those of `experiments.data.ellipse_tables`; ``scale`` gives the units (``MU_WATER`` for μ in 1/mm).
    """

    table: tuple
    scale: float = 1.0
    floor: bool = False
    outline: tuple | None = None

    def render(self, image_shape, average: bool = True, supersample: int = SUPERSAMPLE) -> torch.Tensor:
        if not self.floor:  # exact pixel averages: ``supersample`` is not needed
            return (ellipses(image_shape, self.table, torch.float64, average) * self.scale).float()
        s = supersample if average else 1
        ny, nx = image_shape
        fine = ellipses((ny * s, nx * s), self.table, torch.float64).clamp_min(0)
        return (pixel_average(fine, s) * self.scale).float()

    @property
    def has_line_integrals(self) -> bool:
        return not self.floor

    def line_integrals(self, points, directions, half_widths):
        """Exact line integrals (`experiments.data.ellipse_tables.line_integrals`) times ``scale``."""
        if self.floor:
            raise ValueError(
                "a floored ellipse sum, max(Σ, 0), has no closed-form line integrals: measure it on a finer grid"
            )
        return self.scale * line_integrals(self.table, points, directions, half_widths)


@dataclass(frozen=True, eq=False)
class MRIPhantom:
    """``m · exp(iφ)``: ``m`` the rows painted in order over the head (``outline``, painted first with its level) and
    zero outside it, ``φ = c₀ + c₁x + c₂y + c₃x² + c₄xy + c₅y²`` from ``phase`` (x, y in [-1, 1])."""

    outline: tuple
    table: tuple
    phase: tuple

    def render(self, image_shape, average: bool = True, supersample: int = SUPERSAMPLE) -> torch.Tensor:
        s = supersample if average else 1
        ny, nx = image_shape
        fine = (ny * s, nx * s)
        head = ellipses(fine, [(1.0, *self.outline[1:])], torch.float64) > 0
        magnitude = painted(fine, [self.outline, *self.table]) * head
        y = ((torch.arange(fine[0], dtype=torch.float64) + 0.5) * 2 / fine[0] - 1)[:, None]
        x = ((torch.arange(fine[1], dtype=torch.float64) + 0.5) * 2 / fine[1] - 1)[None, :]
        c = self.phase
        phi = c[0] + c[1] * x + c[2] * y + c[3] * x * x + c[4] * x * y + c[5] * y * y
        return pixel_average(torch.polar(magnitude, phi), s).to(torch.complex64)


@dataclass(frozen=True, eq=False)
class PETPhantom:
    """Activity ``1`` inside the body (``outline``) with the rows (organs, lesions) painted over it, zero outside;
    attenuation water inside the body, and with ``lungs`` lung where the activity is below ``lung_below`` of the
    background's (FDG's lungs are cold)."""

    outline: tuple
    table: tuple
    mu_water: float
    mu_lung: float
    lungs: bool = True
    lung_below: float = 0.6

    def _activity_points(self, shape):
        body = ellipses(shape, [(1.0, *self.outline[1:])], torch.float64) > 0
        return painted(shape, self.table, base=1.0) * body, body

    def render(self, image_shape, average: bool = True, supersample: int = SUPERSAMPLE) -> torch.Tensor:
        """The activity, relative to the body's background."""
        s = supersample if average else 1
        activity, _ = self._activity_points((image_shape[0] * s, image_shape[1] * s))
        return pixel_average(activity, s).float()

    def mu(self, image_shape, average: bool = True, supersample: int = SUPERSAMPLE) -> torch.Tensor:
        """The μ-map in 1/mm (511 keV)."""
        s = supersample if average else 1
        activity, body = self._activity_points((image_shape[0] * s, image_shape[1] * s))
        mu = body * self.mu_water
        if self.lungs:
            mu = torch.where(body & (activity < self.lung_below), self.mu_lung, mu)
        return pixel_average(mu, s).float()


@dataclass(frozen=True, eq=False)
class FineImage:
    """An object given as an image on a fine grid, constant on each of its pixels: its average over a coarser
    pixel is the mean of the fine pixels inside it (the fine grid's sides are multiples of the coarse one's)."""

    image: torch.Tensor
    outline: tuple | None = None

    def render(self, image_shape, average: bool = True, supersample: int = SUPERSAMPLE) -> torch.Tensor:
        (fy, fx), (ny, nx) = self.image.shape[-2:], tuple(image_shape)
        if fy % ny or fx % nx or fy // ny != fx // nx:
            raise ValueError(f"expected a grid that divides the object's {fy}x{fx} pixels by one factor, got {ny}x{nx}")
        return pixel_average(self.image, fy // ny)


def body_regions(image_shape, outline, width: int = RIM_WIDTH) -> dict:
    """The body (pixels at least half inside ``outline``), its ``rim`` (pixels within ``width`` of the body's edge,
    inside or out: where an edge's blur or a learnt outline shows) and its ``interior`` (the body less the rim).

    Shapes: image_shape (y, x) -> each mask (y, x) bool.
    """
    body = ellipses(image_shape, [(1.0, *outline[1:])], torch.float64, average=True) >= 0.5
    k = 2 * width + 1
    grown = F.max_pool2d(body[None, None].float(), k, stride=1, padding=width)[0, 0] > 0
    shrunk = F.max_pool2d((~body)[None, None].float(), k, stride=1, padding=width)[0, 0] == 0
    return {"body": body, "rim": grown & ~shrunk, "interior": shrunk}
