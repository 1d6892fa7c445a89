"""CT data that the reconstruction's projector did not make: the object's exact line integrals along each ray of
the scanner, averaged over sub-rays across each detector element.

The reconstruction's `bridges.ct.Projector` integrates a pixelised image along one ray per channel (ASTRA's
line kernels). Data from that same projector on the same grid agree with it exactly, which no scanner's data do
(the inverse crime): on `ct-lpd`'s 64² grid the projector of the pixel-averaged truth differs from the exact line
integrals of its ellipses by 0.8 %, half the norm of the noise at I0 = 1e4 (`experiments.bench.data`), an error
that data from the projector itself never carry. `CTSimulator` measures the continuous object instead:

- ellipse sums (`experiments.data.objects.EllipseSum`): their chords in closed form, ``sub_rays`` rays per channel
  spread evenly across its width (the detector element integrates over it; a midpoint rule);
- objects without closed form (a floored sum, an image of real anatomy): ASTRA's projector on a grid ``fine``
  times finer, with each channel split into ``sub_rays`` as well.

The truth is the object's average over each pixel of the reconstruction grid: exact for ellipse sums, else the
mean of the fine rendering over each pixel.

Example::

    simulator = CTSimulator(geometry)                 # the reconstruction's geometry
    fields, clean = simulator(EllipseSum(table, MU_WATER))   # fields["x"]: the truth
    y = transmission_noise(clean, 1e4, generator)
"""

from __future__ import annotations

import dataclasses

import numpy as np
import torch

from bridges import ct
from experiments.data.ellipse_tables import pixel_average

# Points per fine pixel for objects without closed-form averages: 2² on the 4x grid, 8² per reconstruction pixel
FINE_SUPERSAMPLE = 2

__all__ = ["CTSimulator", "rays", "subdivided", "refined"]


def subdivided(geometry, n: int):
    """The geometry with each detector channel split into ``n`` of ``1/n`` its width: channel ``k``'s parts are
    channels ``k n`` to ``k n + n − 1``, centred ``(j + ½)/n − ½`` of a channel from its centre."""
    if isinstance(geometry, (ct.ParallelBeam2D, ct.FanBeam2D)):
        return dataclasses.replace(
            geometry, n_detectors=geometry.n_detectors * n, detector_spacing=geometry.detector_spacing / n
        )
    if isinstance(geometry, (ct.ParallelVec2D, ct.FanVec2D)):
        return dataclasses.replace(
            geometry, n_detectors=geometry.n_detectors * n, detector_axes=geometry.detector_axes / n
        )
    raise TypeError(
        f"expected a 2D CT geometry (ParallelBeam2D, FanBeam2D, ParallelVec2D, FanVec2D), got {type(geometry).__name__}"
    )


def refined(geometry, factor: int):
    """The geometry on an image grid ``factor`` times finer in each axis over the same field."""
    (ny, nx), (hy, hx) = geometry.image_shape, geometry.pixel_size
    return dataclasses.replace(geometry, image_shape=(ny * factor, nx * factor), pixel_size=(hy / factor, hx / factor))


def rays(geometry) -> tuple[np.ndarray, np.ndarray]:
    """``(points, directions)``, each (views, channels, 2) in mm (x, y): a point on each channel's ray (its source
    for a fan beam) and the ray's direction, from the geometry's own vectors (`to_vec`; an arc detector's
    `ray_geometry`)."""
    subdivided(geometry, 1)  # the type check
    n_views, n = geometry.n_views, geometry.n_detectors
    if isinstance(geometry, ct.FanBeam2D) and geometry.detector_curve == "arc":
        sources, on_detector, _ = geometry.ray_geometry()
        shape = (n_views, n, 2)
        return sources.reshape(shape), (on_detector - sources).reshape(shape)
    vec = geometry.to_vec()
    k = (np.arange(n) - (n - 1) / 2)[None, :, None]
    on_detector = vec.detector_centers[:, None, :] + k * vec.detector_axes[:, None, :]
    if isinstance(vec, ct.ParallelVec2D):
        return on_detector, np.broadcast_to(vec.ray_directions[:, None, :], on_detector.shape)
    sources = np.broadcast_to(vec.sources[:, None, :], on_detector.shape)
    return sources, on_detector - sources


class CTSimulator:
    """Noiseless CT data of continuous objects, and their truth on the reconstruction's grid (module docstring).

    Shapes: ``simulator(obj)`` -> ({"x": truth (y, x) float32, 1/mm}, line integrals (views, channels) float32).
    """

    def __init__(self, geometry, sub_rays: int = 4, fine: int = 4):
        for name, value in (("sub_rays", sub_rays), ("fine", fine)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"expected {name} as a positive integer, got {value!r}")
        self.geometry, self.sub_rays, self.fine = geometry, sub_rays, fine
        self.points, self.directions = rays(subdivided(geometry, sub_rays))
        (ny, nx), (hy, hx) = geometry.image_shape, geometry.pixel_size
        self.half_widths = (nx * hx / 2, ny * hy / 2)
        self._fine_projector = None

    def __call__(self, obj) -> tuple[dict, torch.Tensor]:
        """The item's fields (its truth ``"x"``: the object's average over each pixel) and its line integrals, each
        channel the mean of its ``sub_rays`` rays. Objects without closed forms are rendered once on the fine grid,
        their truth that rendering's mean over each reconstruction pixel, so that truth and data see one sampling."""
        if getattr(obj, "has_line_integrals", False):
            truth = obj.render(self.geometry.image_shape)
            lines = torch.from_numpy(obj.line_integrals(self.points, self.directions, self.half_widths))
        else:
            if self._fine_projector is None:  # built once, on first need: most objects have closed forms
                self._fine_projector = ct.Projector(
                    refined(subdivided(self.geometry, self.sub_rays), self.fine), matrix=False
                )
            fine = obj.render(self._fine_projector.domain_shape, supersample=FINE_SUPERSAMPLE).float()
            truth = pixel_average(fine, self.fine)
            with torch.no_grad():
                lines = self._fine_projector(fine)
        lines = lines.reshape(self.geometry.n_views, self.geometry.n_detectors, self.sub_rays).mean(-1)
        return {"x": truth}, lines.float()
