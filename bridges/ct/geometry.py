"""CT acquisition geometries in physical units, and their conversion to ASTRA.

World coordinates are in mm with the isocentre at the origin; angles are in
radians. A geometry holds the reconstruction grid too, so that one object
fixes the operator.

Axes (DESIGN.md): 2D images ``(y, x)``, index increasing with the coordinate;
3D volumes ``(z, y, x)``; 2D sinograms ``(views, detector)``; 3D projections
``(detector rows, views, detector columns)``. A 2D image here is ODL's array
transposed (ODL indexes ``(x, y)``).

Rotation conventions follow ODL, so that the same parameters give the same data:
at angle θ a parallel beam travels along ``(-sin θ, cos θ)`` onto a detector whose
axis is ``(cos θ, sin θ)``; a fan-beam source sits at ``R_s (sin θ, -cos θ)``
and the detector centre at ``R_d (-sin θ, cos θ)``. In 3D the rotation axis is z
and detector rows run along z.
"""
from __future__ import annotations

import dataclasses
import math
import warnings
from dataclasses import dataclass

import numpy as np

__all__ = ["ParallelBeam2D", "FanBeam2D", "ParallelVec2D", "FanVec2D", "ParallelBeam3D", "ConeBeam3D",
           "ParallelVec3D", "ConeVec3D", "CylConeVec3D", "uniform_angles"]


def uniform_angles(n_views: int, arc: float = math.pi, start: float = 0.0) -> np.ndarray:
    """``n_views`` angles spaced evenly over ``[start, start + arc)``, in radians."""
    return start + np.arange(n_views) * (arc / n_views)


# ---------------------------------------------------------------- validation
def _positive(name, value):
    values = np.atleast_1d(np.asarray(value, dtype=float))
    if not np.all(np.isfinite(values)):
        raise ValueError(f"{name} must be finite, got {value}")
    if np.any(values <= 0):
        raise ValueError(f"{name} must be positive, got {value}")


def _finite(name, array):
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} must be finite (no NaN or Inf), got {array}")


def _converted(name, values, kind):
    """``kind(v)`` of each value; sizes must be whole, so that (32.9, 32.1) is refused rather than truncated."""
    out = tuple(kind(v) for v in values)
    if kind is int and any(o != v for o, v in zip(out, values)):
        raise ValueError(f"{name} must be whole numbers, got {tuple(values)}")
    return out


def _pair(name, value, kind=float):
    pair = _converted(name, value if np.ndim(value) else (value, value), kind)
    if len(pair) != 2:
        raise ValueError(f"{name} must be a number or a pair, got {value}")
    _positive(name, pair)
    return pair


def _triple(name, value, kind=float):
    triple = _converted(name, value if np.ndim(value) else (value,) * 3, kind)
    if len(triple) != 3:
        raise ValueError(f"{name} must be a number or a triple, got {value}")
    _positive(name, triple)
    return triple


def _angles(value, arc):
    """An int means that many views evenly over `arc`; otherwise explicit angles."""
    if isinstance(value, (int, np.integer)):
        _positive("angles (number of views)", value)
        return uniform_angles(int(value), arc)
    angles = np.array(value, dtype=float).reshape(-1)  # a copy: the caller's array stays writable
    if angles.size == 0:
        raise ValueError("angles must hold at least one view, got none")
    _finite("angles", angles)
    angles.setflags(write=False)
    return angles


def _vectors(name, value, n_views, dim):
    vectors = np.array(value, dtype=float)  # a copy: frozen below, the caller's array stays writable
    if vectors.shape != (n_views, dim):
        raise ValueError(f"{name} must have shape ({n_views}, {dim}), got {vectors.shape}")
    _finite(name, vectors)
    vectors.setflags(write=False)
    return vectors


def _rotations(angles):
    """Per view: the beam direction w = (-sin θ, cos θ) and detector axis u = (cos θ, sin θ)."""
    c, s = np.cos(angles), np.sin(angles)
    return np.stack([-s, c], axis=1), np.stack([c, s], axis=1)


class _Geometry:
    """Shared behaviour: slicing by view, comparison within a tolerance, ASTRA volume."""

    def __len__(self):
        return self.n_views

    def __getitem__(self, views):
        """The same geometry restricted to a subset of views (a slice or index array)."""
        index = np.arange(self.n_views)[views]
        index = np.atleast_1d(index)
        changes = {f.name: getattr(self, f.name)[index] for f in dataclasses.fields(self)
                   if isinstance(getattr(self, f.name), np.ndarray)}
        return dataclasses.replace(self, **changes)

    def isclose(self, other, tol: float = 1e-9) -> bool:
        """Same type and parameters equal within `tol`."""
        if type(other) is not type(self):
            return False
        for f in dataclasses.fields(self):
            a, b = getattr(self, f.name), getattr(other, f.name)
            if isinstance(a, (np.ndarray, tuple, float, int)) and not isinstance(a, str):
                if np.shape(a) != np.shape(b) or not np.allclose(a, b, atol=tol, rtol=0):
                    return False
            elif a != b:
                return False
        return True

    @property
    def is_3d(self) -> bool:
        return len(self.image_shape) == 3

    def _image_radius(self):
        """Radius of the field of view the image asks for: the circle through the middles of its
        longer sides (CT's field of view is a disc; the corners of a square image lie outside it)."""
        return max(n * p / 2 for n, p in zip(self.image_shape[-2:], self.pixel_size[-2:]))

    def astra_volume(self):
        """ASTRA volume geometry; in 2D the rows run to -y (ASTRA's row 0 is at the top),
        which `_astra_2d` compensates by mirroring y in the projection vectors."""
        import astra
        if self.is_3d:
            (nz, ny, nx), (dz, dy, dx) = self.image_shape, self.pixel_size
            return astra.create_vol_geom(ny, nx, nz, -nx * dx / 2, nx * dx / 2, -ny * dy / 2, ny * dy / 2,
                                         -nz * dz / 2, nz * dz / 2)
        (ny, nx), (dy, dx) = self.image_shape, self.pixel_size
        return astra.create_vol_geom(ny, nx, -nx * dx / 2, nx * dx / 2, -ny * dy / 2, ny * dy / 2)


def _astra_2d(kind, n_detectors, first, centers, axes):
    """ASTRA 2D vector geometry; y is mirrored to match ASTRA's row orientation."""
    import astra
    flip = np.array([1.0, -1.0])
    vectors = np.concatenate([first * flip, centers * flip, axes * flip], axis=1)
    return astra.create_proj_geom(kind, n_detectors, vectors)


# ---------------------------------------------------------------- 2D vector forms
@dataclass(frozen=True, eq=False, kw_only=True)
class ParallelVec2D(_Geometry):
    """General 2D parallel beam: per view a ray direction, detector centre and pixel vector.

    ``detector_axes[i]`` is the vector from detector pixel 0 to pixel 1 (its length
    is the pixel spacing in mm). Any calibrated geometry (offsets, irregular angles) fits.
    Shapes: image (y, x), sinogram (views, n_detectors).
    """
    ray_directions: np.ndarray
    detector_centers: np.ndarray
    detector_axes: np.ndarray
    n_detectors: int
    image_shape: tuple
    pixel_size: tuple = (1.0, 1.0)

    def __post_init__(self):
        _positive("n_detectors", self.n_detectors)
        object.__setattr__(self, "image_shape", _pair("image_shape", self.image_shape, int))
        object.__setattr__(self, "pixel_size", _pair("pixel_size", self.pixel_size))
        n = np.asarray(self.ray_directions).shape[0]
        for name in ("ray_directions", "detector_centers", "detector_axes"):
            object.__setattr__(self, name, _vectors(name, getattr(self, name), n, 2))
        if np.any(np.linalg.norm(self.ray_directions, axis=1) == 0):
            raise ValueError("ray_directions must be non-zero vectors")
        if np.any(np.linalg.norm(self.detector_axes, axis=1) == 0):
            raise ValueError("detector_axes must be non-zero vectors (the pixel spacing)")

    @property
    def n_views(self):
        return self.ray_directions.shape[0]

    @property
    def sinogram_shape(self):
        return (self.n_views, self.n_detectors)

    def to_vec(self):
        return self

    def to_astra(self):
        """(volume geometry, projection geometry, shape of the data ASTRA sees)."""
        return (self.astra_volume(), _astra_2d("parallel_vec", self.n_detectors, self.ray_directions, self.detector_centers,
                                               self.detector_axes), self.sinogram_shape)


@dataclass(frozen=True, eq=False, kw_only=True)
class FanVec2D(_Geometry):
    """General 2D fan beam with a flat detector: per view a source, detector centre, pixel vector.

    Shapes: image (y, x), sinogram (views, n_detectors); positions in mm.
    """
    sources: np.ndarray
    detector_centers: np.ndarray
    detector_axes: np.ndarray
    n_detectors: int
    image_shape: tuple
    pixel_size: tuple = (1.0, 1.0)

    def __post_init__(self):
        _positive("n_detectors", self.n_detectors)
        object.__setattr__(self, "image_shape", _pair("image_shape", self.image_shape, int))
        object.__setattr__(self, "pixel_size", _pair("pixel_size", self.pixel_size))
        n = np.asarray(self.sources).shape[0]
        for name in ("sources", "detector_centers", "detector_axes"):
            object.__setattr__(self, name, _vectors(name, getattr(self, name), n, 2))
        if np.any(np.linalg.norm(self.detector_axes, axis=1) == 0):
            raise ValueError("detector_axes must be non-zero vectors (the pixel spacing)")

    @property
    def n_views(self):
        return self.sources.shape[0]

    @property
    def sinogram_shape(self):
        return (self.n_views, self.n_detectors)

    def to_vec(self):
        return self

    def to_astra(self):
        return (self.astra_volume(), _astra_2d("fanflat_vec", self.n_detectors, self.sources, self.detector_centers,
                                               self.detector_axes), self.sinogram_shape)


# ---------------------------------------------------------------- 2D circular forms
@dataclass(frozen=True, eq=False, kw_only=True)
class ParallelBeam2D(_Geometry):
    """2D parallel beam on a circular orbit.

    Example::

        g = ParallelBeam2D(angles=180, n_detectors=183, detector_spacing=1.0, image_shape=(128, 128))

    ``angles``: a number of views spread over [0, π), or explicit angles in radians.
    Detector pixel k sits at ``(k - (n-1)/2) * detector_spacing + detector_offset`` mm.
    """
    angles: np.ndarray
    n_detectors: int
    detector_spacing: float
    image_shape: tuple
    pixel_size: tuple = (1.0, 1.0)
    detector_offset: float = 0.0

    def __post_init__(self):
        object.__setattr__(self, "angles", _angles(self.angles, math.pi))
        _positive("n_detectors", self.n_detectors)
        _positive("detector_spacing", self.detector_spacing)
        _finite("detector_offset", self.detector_offset)
        object.__setattr__(self, "image_shape", _pair("image_shape", self.image_shape, int))
        object.__setattr__(self, "pixel_size", _pair("pixel_size", self.pixel_size))
        half_width = self.n_detectors * self.detector_spacing / 2 - abs(self.detector_offset)
        if half_width < self._image_radius() * (1 - 1e-9):
            warnings.warn(f"the detector covers radius {half_width:.1f} mm but the image reaches "
                          f"{self._image_radius():.1f} mm: rays miss part of the image", stacklevel=3)

    @property
    def n_views(self):
        return self.angles.size

    @property
    def sinogram_shape(self):
        return (self.n_views, self.n_detectors)

    def to_vec(self) -> ParallelVec2D:
        w, u = _rotations(self.angles)
        return ParallelVec2D(ray_directions=w, detector_centers=self.detector_offset * u,
                             detector_axes=self.detector_spacing * u, n_detectors=self.n_detectors,
                             image_shape=self.image_shape, pixel_size=self.pixel_size)

    def to_astra(self):
        return self.to_vec().to_astra()


@dataclass(frozen=True, eq=False, kw_only=True)
class FanBeam2D(_Geometry):
    """2D fan beam on a circular orbit, flat or arc (curved, equiangular) detector.

    ``source_distance``: source to isocentre; ``detector_distance``: isocentre to
    detector centre (mm). ``detector_spacing`` is the channel pitch on the detector
    (arc length for an arc detector, centred on the source). ``detector_curve``: "flat",
    or "arc" for a curved (equiangular) detector on a circle about the source, as clinical
    scanners have. ``angles``: a number of views over [0, 2π), or explicit angles.

    Example::

        g = FanBeam2D(angles=360, n_detectors=256, detector_spacing=1.2, source_distance=500,
                      detector_distance=500, image_shape=(128, 128))
    """
    angles: np.ndarray
    n_detectors: int
    detector_spacing: float
    source_distance: float
    detector_distance: float
    image_shape: tuple
    pixel_size: tuple = (1.0, 1.0)
    detector_offset: float = 0.0
    detector_curve: str = "flat"

    def __post_init__(self):
        object.__setattr__(self, "angles", _angles(self.angles, 2 * math.pi))
        for name in ("n_detectors", "detector_spacing", "source_distance", "detector_distance"):
            _positive(name, getattr(self, name))
        _finite("detector_offset", self.detector_offset)
        if self.detector_curve not in ("flat", "arc"):
            raise ValueError(f"detector_curve must be 'flat' or 'arc', got {self.detector_curve!r}")
        object.__setattr__(self, "image_shape", _pair("image_shape", self.image_shape, int))
        object.__setattr__(self, "pixel_size", _pair("pixel_size", self.pixel_size))
        radius = self._image_radius()
        if radius >= self.source_distance:
            raise ValueError(f"the source (at {self.source_distance} mm) lies inside the image "
                             f"(radius {radius:.1f} mm)")
        if self._half_fan_angle() < math.asin(radius / self.source_distance) * (1 - 1e-9):
            warnings.warn(f"the fan covers {math.degrees(self._half_fan_angle()):.2f} degrees each side but the "
                          f"image needs {math.degrees(math.asin(radius / self.source_distance)):.2f}: "
                          "rays miss part of the image", stacklevel=3)

    @property
    def n_views(self):
        return self.angles.size

    @property
    def sinogram_shape(self):
        return (self.n_views, self.n_detectors)

    @property
    def source_detector_distance(self):
        return self.source_distance + self.detector_distance

    def _half_fan_angle(self):
        half = self.n_detectors * self.detector_spacing / 2 - abs(self.detector_offset)
        if self.detector_curve == "arc":
            return half / self.source_detector_distance
        return math.atan(half / self.source_detector_distance)

    def channel_positions(self) -> np.ndarray:
        """Detector coordinate of each channel in mm (arc length for an arc detector)."""
        return (np.arange(self.n_detectors) - (self.n_detectors - 1) / 2) * self.detector_spacing + self.detector_offset

    def to_vec(self) -> FanVec2D:
        """The flat-detector vector form (an arc detector has none: see `to_astra`)."""
        if self.detector_curve == "arc":
            raise ValueError("an arc detector has no flat-detector vector form; use to_astra()")
        w, u = _rotations(self.angles)
        return FanVec2D(sources=-self.source_distance * w,
                        detector_centers=self.detector_distance * w + self.detector_offset * u,
                        detector_axes=self.detector_spacing * u, n_detectors=self.n_detectors,
                        image_shape=self.image_shape, pixel_size=self.pixel_size)

    def ray_geometry(self):
        """Per ray (view-major): source, the point of the channel on the detector, the channel's
        tangent vector. An arc detector becomes one single-pixel flat detector per ray, which
        gives exact line integrals on ASTRA's ray-driven fan projector."""
        w, u = _rotations(self.angles)
        gamma = self.channel_positions() / self.source_detector_distance  # fan angle of each channel
        sg, cg = np.sin(gamma)[None, :, None], np.cos(gamma)[None, :, None]
        w, u = w[:, None, :], u[:, None, :]
        sources = np.broadcast_to(-self.source_distance * w, (self.n_views, self.n_detectors, 2))
        centers = sources + self.source_detector_distance * (cg * w + sg * u)
        tangents = self.detector_spacing * (cg * u - sg * w)
        return [a.reshape(-1, 2) for a in (sources, centers, tangents)]

    def to_astra(self):
        if self.detector_curve == "flat":
            return self.to_vec().to_astra()
        sources, centers, tangents = self.ray_geometry()
        return (self.astra_volume(), _astra_2d("fanflat_vec", 1, sources, centers, tangents),
                (self.n_views * self.n_detectors, 1))


# ---------------------------------------------------------------- 3D
@dataclass(frozen=True, eq=False, kw_only=True)
class _Vec3D(_Geometry):
    """What the 3D vector geometries share: per view a first vector (``_first``: the ray direction
    or the source, a field of each subclass), the detector centre, column and row vectors; ASTRA's
    ``astra_kind`` of them."""
    detector_centers: np.ndarray
    column_axes: np.ndarray
    row_axes: np.ndarray
    detector_shape: tuple
    image_shape: tuple
    pixel_size: tuple = (1.0, 1.0, 1.0)
    _first = "sources"
    astra_kind = "cone_vec"

    def __post_init__(self):
        _init_3d(self, self._first)

    @property
    def n_views(self):
        return getattr(self, self._first).shape[0]

    @property
    def sinogram_shape(self):
        return (self.detector_shape[0], self.n_views, self.detector_shape[1])

    def to_vec(self):
        return self

    def astra_vectors(self) -> np.ndarray:
        """ASTRA's rows of numbers per view."""
        return np.concatenate([getattr(self, self._first), self.detector_centers, self.column_axes, self.row_axes], 1)

    def to_astra(self):
        import astra
        rows, cols = self.detector_shape
        return (self.astra_volume(), astra.create_proj_geom(self.astra_kind, rows, cols, self.astra_vectors()),
                self.sinogram_shape)


@dataclass(frozen=True, eq=False, kw_only=True)
class ParallelVec3D(_Vec3D):
    """General 3D parallel beam: per view ray direction, detector centre, column and row pixel vectors.

    Shapes: volume (z, y, x), projections (n_rows, views, n_cols).
    """
    ray_directions: np.ndarray
    _first = "ray_directions"
    astra_kind = "parallel3d_vec"

    def axial_slices(self):
        """True when every ray lies in an axial plane through the centre of one volume slice, so the
        3D transform is the 2D one slice by slice (and runs on ASTRA's CPU projectors)."""
        nz, dz = self.image_shape[0], self.pixel_size[0]
        row_z = self.row_axes[:, 2]
        return (self.detector_shape[0] == nz and np.allclose(self.ray_directions[:, 2], 0)
                and np.allclose(self.column_axes[:, 2], 0) and np.allclose(self.row_axes[:, :2], 0)
                and np.allclose(row_z, dz) and np.allclose(self.detector_centers[:, 2], 0))

    def central_slice(self) -> ParallelVec2D:
        """The 2D geometry of one axial slice (valid when `axial_slices()` holds)."""
        return ParallelVec2D(ray_directions=self.ray_directions[:, :2], detector_centers=self.detector_centers[:, :2],
                             detector_axes=self.column_axes[:, :2], n_detectors=self.detector_shape[1],
                             image_shape=self.image_shape[1:], pixel_size=self.pixel_size[1:])


@dataclass(frozen=True, eq=False, kw_only=True)
class ConeVec3D(_Vec3D):
    """General cone beam with a flat detector: per view source, detector centre, column and row vectors.

    Helical and other non-circular source paths are cone vector geometries (see `ConeBeam3D.helical`).
    Shapes: volume (z, y, x), projections (n_rows, views, n_cols).
    """
    sources: np.ndarray


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

    def __post_init__(self):
        super().__post_init__()
        _positive("detector_radius", self.detector_radius)

    astra_kind = "cyl_cone_vec"

    def astra_vectors(self) -> np.ndarray:
        return np.concatenate([super().astra_vectors(), np.full((self.n_views, 1), float(self.detector_radius))], 1)


def _init_3d(geom, first):
    object.__setattr__(geom, "detector_shape", _pair("detector_shape", geom.detector_shape, int))
    object.__setattr__(geom, "image_shape", _triple("image_shape", geom.image_shape, int))
    object.__setattr__(geom, "pixel_size", _triple("pixel_size", geom.pixel_size))
    n = np.asarray(getattr(geom, first)).shape[0]
    for name in (first, "detector_centers", "column_axes", "row_axes"):
        object.__setattr__(geom, name, _vectors(name, getattr(geom, name), n, 3))


def _circular_3d(angles, distance_src, distance_det, spacing, offset=(0.0, 0.0)):
    """Per view: beam direction, detector column and row axes of a circular orbit about z."""
    w2, u2 = _rotations(angles)
    zeros = np.zeros((angles.size, 1))
    w, u = np.concatenate([w2, zeros], 1), np.concatenate([u2, zeros], 1)
    v = np.broadcast_to(np.array([0.0, 0.0, 1.0]), w.shape)
    center = distance_det * w + offset[1] * u + offset[0] * v
    return w, -distance_src * w, center, spacing[1] * u, spacing[0] * v


@dataclass(frozen=True, eq=False, kw_only=True)
class ParallelBeam3D(_Geometry):
    """3D parallel beam rotating about z; detector rows along z.

    ``detector_spacing`` and ``detector_offset`` are (row, column) in mm. When the
    rows match the volume's slices the transform is the 2D one per slice and runs on CPU.
    """
    angles: np.ndarray
    detector_shape: tuple
    detector_spacing: tuple
    image_shape: tuple
    pixel_size: tuple = (1.0, 1.0, 1.0)
    detector_offset: tuple = (0.0, 0.0)

    def __post_init__(self):
        object.__setattr__(self, "angles", _angles(self.angles, math.pi))
        object.__setattr__(self, "detector_shape", _pair("detector_shape", self.detector_shape, int))
        object.__setattr__(self, "detector_spacing", _pair("detector_spacing", self.detector_spacing))
        object.__setattr__(self, "image_shape", _triple("image_shape", self.image_shape, int))
        object.__setattr__(self, "pixel_size", _triple("pixel_size", self.pixel_size))
        _finite("detector_offset", np.asarray(self.detector_offset, dtype=float))

    @property
    def n_views(self):
        return self.angles.size

    @property
    def sinogram_shape(self):
        return (self.detector_shape[0], self.n_views, self.detector_shape[1])

    def to_vec(self) -> ParallelVec3D:
        w, _, center, col, row = _circular_3d(self.angles, 0.0, 0.0, self.detector_spacing, self.detector_offset)
        return ParallelVec3D(ray_directions=w, detector_centers=center, column_axes=col, row_axes=row,
                             detector_shape=self.detector_shape, image_shape=self.image_shape,
                             pixel_size=self.pixel_size)

    def to_astra(self):
        return self.to_vec().to_astra()


@dataclass(frozen=True, eq=False, kw_only=True)
class ConeBeam3D(_Geometry):
    """Circular cone beam (rows along z): a flat detector as in flat-panel and micro-CT, or with
    ``detector_curve="arc"`` a cylindrical one centred on the source, as in clinical multi-row CT
    (columns on an arc of radius source-detector distance, ``detector_spacing[1]`` their arc length).
    Needs CUDA: ASTRA's 3D projectors run only on a GPU.

    Example::

        g = ConeBeam3D(angles=360, detector_shape=(64, 96), detector_spacing=(1.0, 1.0),
                       source_distance=500, detector_distance=300, image_shape=(48, 64, 64))
    """
    angles: np.ndarray
    detector_shape: tuple
    detector_spacing: tuple
    source_distance: float
    detector_distance: float
    image_shape: tuple
    pixel_size: tuple = (1.0, 1.0, 1.0)
    detector_offset: tuple = (0.0, 0.0)
    detector_curve: str = "flat"

    def __post_init__(self):
        object.__setattr__(self, "angles", _angles(self.angles, 2 * math.pi))
        object.__setattr__(self, "detector_shape", _pair("detector_shape", self.detector_shape, int))
        object.__setattr__(self, "detector_spacing", _pair("detector_spacing", self.detector_spacing))
        object.__setattr__(self, "image_shape", _triple("image_shape", self.image_shape, int))
        object.__setattr__(self, "pixel_size", _triple("pixel_size", self.pixel_size))
        _positive("source_distance", self.source_distance)
        _positive("detector_distance", self.detector_distance)
        _finite("detector_offset", np.asarray(self.detector_offset, dtype=float))
        if self.detector_curve not in ("flat", "arc"):
            raise ValueError(f"detector_curve must be 'flat' or 'arc', got {self.detector_curve!r}")

    @property
    def n_views(self):
        return self.angles.size

    @property
    def sinogram_shape(self):
        return (self.detector_shape[0], self.n_views, self.detector_shape[1])

    @property
    def source_detector_distance(self):
        return self.source_distance + self.detector_distance

    def to_vec(self) -> ConeVec3D | CylConeVec3D:
        if self.detector_curve == "arc":
            return self._cylinder_vec()
        _, src, center, col, row = _circular_3d(self.angles, self.source_distance, self.detector_distance,
                                                self.detector_spacing, self.detector_offset)
        return ConeVec3D(sources=src, detector_centers=center, column_axes=col, row_axes=row,
                         detector_shape=self.detector_shape, image_shape=self.image_shape, pixel_size=self.pixel_size)

    def _cylinder_vec(self) -> CylConeVec3D:
        # The column offset is an arc length: it turns the detector centre about the source by
        # offset / D, the same rule as FanBeam2D's channels, since ASTRA's cylinder has no offset of its own.
        w, src, _, col, row = _circular_3d(self.angles, self.source_distance, self.detector_distance,
                                           self.detector_spacing)
        u = col / self.detector_spacing[1]
        d = self.source_detector_distance
        g0 = self.detector_offset[1] / d
        centers = src + d * (math.cos(g0) * w + math.sin(g0) * u) + [0.0, 0.0, self.detector_offset[0]]
        tangents = self.detector_spacing[1] * (math.cos(g0) * u - math.sin(g0) * w)
        return CylConeVec3D(sources=src, detector_centers=centers, column_axes=tangents, row_axes=row,
                            detector_radius=d, detector_shape=self.detector_shape, image_shape=self.image_shape,
                            pixel_size=self.pixel_size)

    def to_astra(self):
        return self.to_vec().to_astra()

    @classmethod
    def helical(cls, *, n_views: int, n_turns: float, pitch: float, detector_shape, detector_spacing,
                source_distance, detector_distance, image_shape, pixel_size=(1.0, 1.0, 1.0),
                detector_curve: str = "flat") -> ConeVec3D | CylConeVec3D:
        """A helical source path: the table advances ``pitch`` mm per turn (table feed, not the pitch
        factor), centred on z = 0; ``detector_curve`` as in `ConeBeam3D`."""
        _positive("n_views", n_views)
        _positive("n_turns", n_turns)
        _finite("pitch", pitch)
        turned = np.arange(n_views) * (2 * math.pi * n_turns / n_views)
        z = pitch * turned / (2 * math.pi)
        z = z - z.mean()
        circ = cls(angles=turned, detector_shape=detector_shape, detector_spacing=detector_spacing,
                   source_distance=source_distance, detector_distance=detector_distance,
                   image_shape=image_shape, pixel_size=pixel_size, detector_curve=detector_curve).to_vec()
        shift = np.stack([np.zeros_like(z), np.zeros_like(z), z], axis=1)
        return dataclasses.replace(circ, sources=circ.sources + shift, detector_centers=circ.detector_centers + shift)
