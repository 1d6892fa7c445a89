"""3D geometries on a circular orbit about z: parallel beam and cone beam (flat or cylindrical detector, and
helical paths as cone vector geometries), in mm.

Conventions: `bridges.ct.geometry`.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np

from .geometry_base import _angles, _CircularOrbit, _finite, _pair, _positive, _rotations, _triple
from .vector_geometry import ConeVec3D, CylConeVec3D, ParallelVec3D


def _circular_3d(angles, distance_src, distance_det, spacing, offset=(0.0, 0.0)):
    """Per view: beam direction, detector column and row axes of a circular orbit about z."""
    w2, u2 = _rotations(angles)
    zeros = np.zeros((angles.size, 1))
    w, u = np.concatenate([w2, zeros], 1), np.concatenate([u2, zeros], 1)
    v = np.broadcast_to(np.array([0.0, 0.0, 1.0]), w.shape)
    center = distance_det * w + offset[1] * u + offset[0] * v
    return w, -distance_src * w, center, spacing[1] * u, spacing[0] * v


@dataclass(frozen=True, eq=False, kw_only=True)
class ParallelBeam3D(_CircularOrbit):
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

    def to_vec(self) -> ParallelVec3D:
        w, _, center, col, row = _circular_3d(self.angles, 0.0, 0.0, self.detector_spacing, self.detector_offset)
        return ParallelVec3D(
            ray_directions=w,
            detector_centers=center,
            column_axes=col,
            row_axes=row,
            detector_shape=self.detector_shape,
            image_shape=self.image_shape,
            pixel_size=self.pixel_size,
        )

    def to_astra(self):
        return self.to_vec().to_astra()


@dataclass(frozen=True, eq=False, kw_only=True)
class ConeBeam3D(_CircularOrbit):
    """Circular cone beam (rows along z): a flat detector as in flat-panel and micro-CT, or with
    ``detector_curve="arc"`` a cylindrical one centred on the source, as in clinical multi-row CT
    (columns on an arc of radius source-detector distance, ``detector_spacing[1]`` their arc length).
    Needs CUDA: ASTRA's 3D projectors run only on a GPU.

    Example::

        >>> g = ConeBeam3D(angles=360, detector_shape=(64, 96), detector_spacing=(1.0, 1.0),
        ...                source_distance=500, detector_distance=300, image_shape=(48, 64, 64))
        >>> g.sinogram_shape                # (rows, views, columns), ASTRA's layout
        (64, 360, 96)
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
    def source_detector_distance(self):
        return self.source_distance + self.detector_distance

    def to_vec(self) -> ConeVec3D | CylConeVec3D:
        if self.detector_curve == "arc":
            return self._cylinder_vec()
        _, src, center, col, row = _circular_3d(
            self.angles, self.source_distance, self.detector_distance, self.detector_spacing, self.detector_offset
        )
        return ConeVec3D(
            sources=src,
            detector_centers=center,
            column_axes=col,
            row_axes=row,
            detector_shape=self.detector_shape,
            image_shape=self.image_shape,
            pixel_size=self.pixel_size,
        )

    def _cylinder_vec(self) -> CylConeVec3D:
        # The column offset is an arc length: it turns the detector centre about the source by
        # offset / D, the same rule as FanBeam2D's channels, since ASTRA's cylinder has no offset of its own.
        w, src, _, col, row = _circular_3d(
            self.angles, self.source_distance, self.detector_distance, self.detector_spacing
        )
        u = col / self.detector_spacing[1]
        d = self.source_detector_distance
        g0 = self.detector_offset[1] / d
        centers = src + d * (math.cos(g0) * w + math.sin(g0) * u) + [0.0, 0.0, self.detector_offset[0]]
        tangents = self.detector_spacing[1] * (math.cos(g0) * u - math.sin(g0) * w)
        return CylConeVec3D(
            sources=src,
            detector_centers=centers,
            column_axes=tangents,
            row_axes=row,
            detector_radius=d,
            detector_shape=self.detector_shape,
            image_shape=self.image_shape,
            pixel_size=self.pixel_size,
        )

    def to_astra(self):
        return self.to_vec().to_astra()

    @classmethod
    def helical(
        cls,
        *,
        n_views: int,
        n_turns: float,
        pitch: float,
        detector_shape,
        detector_spacing,
        source_distance,
        detector_distance,
        image_shape,
        pixel_size=(1.0, 1.0, 1.0),
        detector_curve: str = "flat",
    ) -> ConeVec3D | CylConeVec3D:
        """A helical source path: the table advances ``pitch`` mm per turn (table feed, not the pitch
        factor), centred on z = 0; ``detector_curve`` as in `ConeBeam3D`."""
        _positive("n_views", n_views)
        _positive("n_turns", n_turns)
        _finite("pitch", pitch)
        turned = np.arange(n_views) * (2 * math.pi * n_turns / n_views)
        z = pitch * turned / (2 * math.pi)
        z = z - z.mean()
        circ = cls(
            angles=turned,
            detector_shape=detector_shape,
            detector_spacing=detector_spacing,
            source_distance=source_distance,
            detector_distance=detector_distance,
            image_shape=image_shape,
            pixel_size=pixel_size,
            detector_curve=detector_curve,
        ).to_vec()
        shift = np.stack([np.zeros_like(z), np.zeros_like(z), z], axis=1)
        return dataclasses.replace(circ, sources=circ.sources + shift, detector_centers=circ.detector_centers + shift)
