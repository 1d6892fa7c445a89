"""Parallel-hole SPECT acquisition geometry: the image grid and the camera's orbit (one or two heads,
step-and-shoot stops, a circular or per-view radius)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = ["SPECTGeometry"]


@dataclass(frozen=True)
class SPECTGeometry:
    """Where each camera stop sees the image from.

    View ``v`` looks along the detector normal ``n = (cos θ_v, sin θ_v)`` (x, y components; x along image
    columns, y along image rows, both increasing with the index, origin at the image centre): the collimator
    face lies at ``radii[v]`` mm from the centre of rotation, on the +n side. A point ``p`` is seen at detector
    coordinate ``t = p · (−sin θ_v, cos θ_v)`` (bin ``k`` centred at ``(k − (n_bins − 1)/2) · pixel_size``, so
    bins are as wide as pixels) and lies ``d = radii[v] − p · n`` mm from the collimator face (taken as 0 where
    negative: activity is expected inside the orbit, corners of the grid may lie outside it, as in PyTomography). In 3D the
    rotation axis is z; detector rows are the image's slices (rows as thick as slices).

    Views are in acquisition order (``heads[v]`` is the head that took view ``v``: all stops of head 0, then
    of head 1, as DICOM NM frames are ordered). Build one with `circular`; ``subset(views)`` cuts views.

    Shapes: image ``(y, x)`` or ``(z, y, x)``; projections ``(views, bins)`` or ``(z, views, bins)`` (ASTRA's
    (rows, views, columns) order, so that ordered subsets cut axis −2 as for CT and PET).

    Example::

        >>> g = SPECTGeometry.circular((2, 128, 128), pixel_size=4.42, n_views=120, radius=250.0, heads=2)
        >>> g.range_shape
        (2, 120, 128)
    """

    image_shape: tuple
    pixel_size: float
    angles: tuple
    radii: tuple
    heads: tuple = ()
    slice_thickness: float | None = None
    n_bins: int | None = None

    def __post_init__(self):
        shape = tuple(int(s) for s in self.image_shape)
        if len(shape) not in (2, 3) or any(s <= 0 for s in shape):
            raise ValueError(f"expected image_shape (y, x) or (z, y, x) of positive sizes, got {self.image_shape}")
        if not (math.isfinite(self.pixel_size) and self.pixel_size > 0):
            raise ValueError(f"expected a positive pixel_size in mm, got {self.pixel_size!r}")
        angles = tuple(float(a) for a in np.atleast_1d(np.asarray(self.angles, dtype=float)))
        if not angles or not all(math.isfinite(a) for a in angles):
            raise ValueError(f"expected at least one finite angle (radians), got {self.angles!r}")
        radii = np.atleast_1d(np.asarray(self.radii, dtype=float))
        if radii.size == 1:
            radii = np.full(len(angles), float(radii[0]))
        if radii.size != len(angles):
            raise ValueError(f"expected one radius or one per view ({len(angles)}), got {radii.size}")
        heads = np.zeros(len(angles), int) if len(self.heads) == 0 else np.asarray(self.heads, dtype=int)
        if heads.size != len(angles):
            raise ValueError(f"expected one head index per view ({len(angles)}), got {heads.size}")
        if not np.all(np.isfinite(radii) & (radii > 0)):
            raise ValueError(f"expected positive radii in mm, got a minimum of {radii.min():.3g}")
        thickness = self.pixel_size if self.slice_thickness is None else float(self.slice_thickness)
        if not thickness > 0:
            raise ValueError(f"expected a positive slice_thickness in mm, got {self.slice_thickness!r}")
        n_bins = shape[-1] if self.n_bins is None else int(self.n_bins)
        if n_bins <= 0:
            raise ValueError(f"expected a positive n_bins, got {self.n_bins!r}")
        for name, value in (
            ("image_shape", shape),
            ("angles", angles),
            ("radii", tuple(radii.tolist())),
            ("heads", tuple(heads.tolist())),
            ("slice_thickness", thickness),
            ("n_bins", n_bins),
            ("pixel_size", float(self.pixel_size)),
        ):
            object.__setattr__(self, name, value)

    @classmethod
    def circular(
        cls,
        image_shape,
        pixel_size: float,
        n_views: int,
        radius,
        *,
        heads: int = 1,
        arc: float = 2 * math.pi,
        start: float = 0.0,
        head_spacing: float | None = None,
        direction: int = 1,
        slice_thickness: float | None = None,
        n_bins: int | None = None,
    ):
        """A step-and-shoot orbit: ``n_views`` stops in all over ``arc`` (radians), split evenly among ``heads``
        heads ``head_spacing`` apart (default ``arc / heads``: 180° for two heads over 360°, "H-mode"; 90° for two
        over 180°, the cardiac "L-mode"). Head h's i-th stop is at ``start + direction (h·head_spacing + i·arc/n_views)``.
        ``radius`` is one number (a circular orbit) or one per view (a body-contour orbit), in mm.
        """
        if n_views <= 0 or n_views % heads:
            raise ValueError(f"expected n_views a positive multiple of heads ({heads}), got {n_views}")
        if direction not in (1, -1):
            raise ValueError(f"expected direction +1 or -1, got {direction!r}")
        spacing = arc / heads if head_spacing is None else head_spacing
        per_head = n_views // heads
        stops = np.arange(per_head) * (arc / n_views)
        angles = np.concatenate([start + direction * (h * spacing + stops) for h in range(heads)])
        return cls(
            image_shape,
            pixel_size,
            tuple(angles),
            radius,
            tuple(np.repeat(np.arange(heads), per_head)),
            slice_thickness,
            n_bins,
        )

    @property
    def is_3d(self) -> bool:
        return len(self.image_shape) == 3

    @property
    def n_views(self) -> int:
        return len(self.angles)

    @property
    def _bins(self) -> int:
        """``n_bins``, which `__post_init__` has filled in if it was left None."""
        assert self.n_bins is not None
        return self.n_bins

    @property
    def range_shape(self) -> tuple:
        """``(views, bins)``, or ``(z, views, bins)`` for a volume."""
        return (*self.image_shape[:-2], self.n_views, self.n_bins)

    def subset(self, views) -> SPECTGeometry:
        """The same camera on some of its views (a slice or an index array)."""
        index = np.atleast_1d(np.arange(self.n_views)[views])
        pick = lambda t: tuple(np.asarray(t)[index].tolist())  # noqa: E731
        return SPECTGeometry(
            self.image_shape,
            self.pixel_size,
            pick(self.angles),
            pick(self.radii),
            pick(self.heads),
            self.slice_thickness,
            self.n_bins,
        )

    def bin_positions(self) -> np.ndarray:
        """Detector bin centres t_k in mm."""
        return (np.arange(self._bins) - (self._bins - 1) / 2) * self.pixel_size

    def pixel_positions(self) -> tuple:
        """In-plane pixel centres (x_j, y_i) in mm, each a 1D array."""
        ny, nx = self.image_shape[-2:]
        h = self.pixel_size
        return (np.arange(nx) - (nx - 1) / 2) * h, (np.arange(ny) - (ny - 1) / 2) * h
