"""2D geometries on a circular orbit: parallel beam, and fan beam with a flat or an arc detector, in mm.

Conventions: `bridges.ct.geometry`.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np

from .geometry_base import _angles, _astra_2d, _CircularOrbit, _finite, _pair, _positive, _rotations
from .vector_geometry import FanVec2D, ParallelVec2D


@dataclass(frozen=True, eq=False, kw_only=True)
class ParallelBeam2D(_CircularOrbit):
    """2D parallel beam on a circular orbit.

    Example::

        >>> g = ParallelBeam2D(angles=180, n_detectors=183, detector_spacing=1.0, image_shape=(128, 128))
        >>> g.sinogram_shape
        (180, 183)

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
            warnings.warn(
                f"the detector covers radius {half_width:.1f} mm but the image reaches "
                f"{self._image_radius():.1f} mm: rays miss part of the image",
                stacklevel=3,
            )

    def to_vec(self) -> ParallelVec2D:
        w, u = _rotations(self.angles)
        return ParallelVec2D(
            ray_directions=w,
            detector_centers=self.detector_offset * u,
            detector_axes=self.detector_spacing * u,
            n_detectors=self.n_detectors,
            image_shape=self.image_shape,
            pixel_size=self.pixel_size,
        )

    def to_astra(self):
        return self.to_vec().to_astra()


@dataclass(frozen=True, eq=False, kw_only=True)
class FanBeam2D(_CircularOrbit):
    """2D fan beam on a circular orbit, flat or arc (curved, equiangular) detector.

    ``source_distance``: source to isocentre; ``detector_distance``: isocentre to
    detector centre (mm). ``detector_spacing`` is the channel pitch on the detector
    (arc length for an arc detector, centred on the source). ``detector_curve``: "flat",
    or "arc" for a curved (equiangular) detector on a circle about the source, as clinical
    scanners have. ``angles``: a number of views over [0, 2π), or explicit angles.

    Example::

        >>> g = FanBeam2D(angles=360, n_detectors=256, detector_spacing=1.2, source_distance=500,
        ...               detector_distance=500, image_shape=(128, 128))
        >>> g.sinogram_shape
        (360, 256)
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
            raise ValueError(
                f"the source (at {self.source_distance} mm) lies inside the image (radius {radius:.1f} mm)"
            )
        if self._half_fan_angle() < math.asin(radius / self.source_distance) * (1 - 1e-9):
            warnings.warn(
                f"the fan covers {math.degrees(self._half_fan_angle()):.2f} degrees each side but the "
                f"image needs {math.degrees(math.asin(radius / self.source_distance)):.2f}: "
                "rays miss part of the image",
                stacklevel=3,
            )

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
        return FanVec2D(
            sources=-self.source_distance * w,
            detector_centers=self.detector_distance * w + self.detector_offset * u,
            detector_axes=self.detector_spacing * u,
            n_detectors=self.n_detectors,
            image_shape=self.image_shape,
            pixel_size=self.pixel_size,
        )

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
        return (
            self.astra_volume(),
            _astra_2d("fanflat_vec", 1, sources, centers, tangents),
            (self.n_views * self.n_detectors, 1),
        )
