"""Vector geometries: per view the vectors ASTRA takes (``parallel_vec``, ``fanflat_vec``, ``parallel3d_vec``,
``cone_vec``, ``cyl_cone_vec``), in mm. Any calibrated geometry (offsets, tilts, irregular angles, helical paths)
fits; the circular geometries convert to these with ``to_vec()``.

Conventions: `bridges.ct.geometry`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from .geometry_base import _astra_2d, _Geometry, _pair, _positive, _triple, _vectors


@dataclass(frozen=True, eq=False, kw_only=True)
class _VectorGeometry(_Geometry):
    """What every vector geometry shares: its per-view vectors are its array fields, each (views, dim), and one of
    them fixes the beam of each view (`beam`), the first of ASTRA's vectors."""

    detector_centers: np.ndarray
    astra_kind: ClassVar[str]  # ASTRA's name of the geometry, set by each concrete class

    def beam(self) -> np.ndarray:
        """Per view, the ray direction (parallel beam) or the source position (fan and cone beam), (views, dim)."""
        raise NotImplementedError

    def _check_vectors(self, dim: int):
        # the beam's count of views is the one the others must match, so an error names the one that differs
        n = np.asarray(self.beam()).shape[0]
        for f in dataclasses.fields(self):
            if f.type in ("np.ndarray", np.ndarray):
                object.__setattr__(self, f.name, _vectors(f.name, getattr(self, f.name), n, dim))

    @property
    def n_views(self):
        return self.detector_centers.shape[0]

    def to_vec(self):
        return self


# ---------------------------------------------------------------- 2D
@dataclass(frozen=True, eq=False, kw_only=True)
class _Vec2D(_VectorGeometry):
    """A 2D vector geometry: per view the beam, the detector centre and the vector from detector pixel 0 to
    pixel 1 (``detector_axes``, its length the pixel spacing in mm); ASTRA's ``astra_kind`` of them.
    Shapes: image (y, x), sinogram (views, n_detectors)."""

    detector_axes: np.ndarray
    n_detectors: int
    image_shape: tuple
    pixel_size: tuple = (1.0, 1.0)

    def __post_init__(self):
        _positive("n_detectors", self.n_detectors)
        object.__setattr__(self, "image_shape", _pair("image_shape", self.image_shape, int))
        object.__setattr__(self, "pixel_size", _pair("pixel_size", self.pixel_size))
        self._check_vectors(2)
        if np.any(np.linalg.norm(self.detector_axes, axis=1) == 0):
            raise ValueError("detector_axes must be non-zero vectors (the pixel spacing)")

    def to_astra(self):
        """(volume geometry, projection geometry, shape of the data ASTRA sees)."""
        return (
            self.astra_volume(),
            _astra_2d(self.astra_kind, self.n_detectors, self.beam(), self.detector_centers, self.detector_axes),
            self.sinogram_shape,
        )


@dataclass(frozen=True, eq=False, kw_only=True)
class ParallelVec2D(_Vec2D):
    """General 2D parallel beam: per view a ray direction, detector centre and pixel vector.

    ``detector_axes[i]`` is the vector from detector pixel 0 to pixel 1 (its length
    is the pixel spacing in mm). Any calibrated geometry (offsets, irregular angles) fits.
    Shapes: image (y, x), sinogram (views, n_detectors).
    """

    ray_directions: np.ndarray
    astra_kind = "parallel_vec"

    def __post_init__(self):
        super().__post_init__()
        if np.any(np.linalg.norm(self.ray_directions, axis=1) == 0):
            raise ValueError("ray_directions must be non-zero vectors")

    def beam(self):
        return self.ray_directions


@dataclass(frozen=True, eq=False, kw_only=True)
class FanVec2D(_Vec2D):
    """General 2D fan beam with a flat detector: per view a source, detector centre, pixel vector.

    Shapes: image (y, x), sinogram (views, n_detectors); positions in mm.
    """

    sources: np.ndarray
    astra_kind = "fanflat_vec"

    def beam(self):
        return self.sources


# ---------------------------------------------------------------- 3D
@dataclass(frozen=True, eq=False, kw_only=True)
class _Vec3D(_VectorGeometry):
    """A 3D vector geometry: per view the beam, the detector centre, column and row vectors; ASTRA's
    ``astra_kind`` of them. Shapes: volume (z, y, x), projections (n_rows, views, n_cols)."""

    column_axes: np.ndarray
    row_axes: np.ndarray
    detector_shape: tuple
    image_shape: tuple
    pixel_size: tuple = (1.0, 1.0, 1.0)

    def __post_init__(self):
        object.__setattr__(self, "detector_shape", _pair("detector_shape", self.detector_shape, int))
        object.__setattr__(self, "image_shape", _triple("image_shape", self.image_shape, int))
        object.__setattr__(self, "pixel_size", _triple("pixel_size", self.pixel_size))
        self._check_vectors(3)

    def astra_vectors(self) -> np.ndarray:
        """ASTRA's rows of numbers per view."""
        return np.concatenate([self.beam(), self.detector_centers, self.column_axes, self.row_axes], 1)

    def to_astra(self):
        import astra

        rows, cols = self.detector_shape
        return (
            self.astra_volume(),
            astra.create_proj_geom(self.astra_kind, rows, cols, self.astra_vectors()),
            self.sinogram_shape,
        )


@dataclass(frozen=True, eq=False, kw_only=True)
class ParallelVec3D(_Vec3D):
    """General 3D parallel beam: per view ray direction, detector centre, column and row pixel vectors.

    Shapes: volume (z, y, x), projections (n_rows, views, n_cols).
    """

    ray_directions: np.ndarray
    astra_kind = "parallel3d_vec"

    def beam(self):
        return self.ray_directions

    def axial_slices(self):
        """True when every ray lies in an axial plane through the centre of one volume slice, so the
        3D transform is the 2D one slice by slice (and runs on ASTRA's CPU projectors)."""
        nz, dz = self.image_shape[0], self.pixel_size[0]
        row_z = self.row_axes[:, 2]
        return (
            self.detector_shape[0] == nz
            and np.allclose(self.ray_directions[:, 2], 0)
            and np.allclose(self.column_axes[:, 2], 0)
            and np.allclose(self.row_axes[:, :2], 0)
            and np.allclose(row_z, dz)
            and np.allclose(self.detector_centers[:, 2], 0)
        )

    def central_slice(self) -> ParallelVec2D:
        """The 2D geometry of one axial slice (valid when `axial_slices()` holds)."""
        return ParallelVec2D(
            ray_directions=self.ray_directions[:, :2],
            detector_centers=self.detector_centers[:, :2],
            detector_axes=self.column_axes[:, :2],
            n_detectors=self.detector_shape[1],
            image_shape=self.image_shape[1:],
            pixel_size=self.pixel_size[1:],
        )


@dataclass(frozen=True, eq=False, kw_only=True)
class ConeVec3D(_Vec3D):
    """General cone beam with a flat detector: per view source, detector centre, column and row vectors.

    Helical and other non-circular source paths are cone vector geometries (see `ConeBeam3D.helical`).
    Shapes: volume (z, y, x), projections (n_rows, views, n_cols).
    """

    sources: np.ndarray
    astra_kind = "cone_vec"

    def beam(self):
        return self.sources


@dataclass(frozen=True, eq=False, kw_only=True)
class CylConeVec3D(_Vec3D):
    """General cone beam with a cylindrical detector (ASTRA's ``cyl_cone_vec``), as clinical CT has.

    Per view: source, detector centre (a point on the cylinder), ``column_axes`` the tangent of the
    cylinder at the centre, its length the arc length of one column (mm), and ``row_axes`` the vector
    between rows (along the cylinder's axis). The cylinder has radius ``detector_radius`` and its axis
    runs through ``centre - detector_radius * n``, n the unit normal pointing away from the source; a
    detector centred on the source (every clinical one) has ``detector_radius`` = source-detector distance.
    Shapes: volume (z, y, x), projections (n_rows, views, n_cols).
    """

    sources: np.ndarray
    detector_radius: float
    astra_kind = "cyl_cone_vec"

    def __post_init__(self):
        super().__post_init__()
        _positive("detector_radius", self.detector_radius)

    def beam(self):
        return self.sources

    def astra_vectors(self) -> np.ndarray:
        return np.concatenate([super().astra_vectors(), np.full((self.n_views, 1), float(self.detector_radius))], 1)
