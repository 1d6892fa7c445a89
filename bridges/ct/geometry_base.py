"""What every CT geometry shares: checks of physical parameters, slicing by view, comparison, ASTRA's volume.

The conventions (units, axes, rotation) are stated once, in `bridges.ct.geometry`.
"""

from __future__ import annotations

import dataclasses
import math
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np


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

    if TYPE_CHECKING:
        # What the geometries (frozen dataclasses) built on this class define, stated for the type checker only:
        # at run time these would turn into dataclass fields or shadow the subclasses' properties.
        __dataclass_fields__: ClassVar[dict[str, Any]]
        image_shape: tuple
        pixel_size: tuple
        detector_shape: tuple
        n_detectors: int

        @property
        def n_views(self) -> int: ...

    def __len__(self):
        return self.n_views

    def __getitem__(self, views):
        """The same geometry restricted to a subset of views (a slice or index array)."""
        index = np.arange(self.n_views)[views]
        index = np.atleast_1d(index)
        changes = {
            f.name: getattr(self, f.name)[index]
            for f in dataclasses.fields(self)
            if isinstance(getattr(self, f.name), np.ndarray)
        }
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

    @property
    def sinogram_shape(self):
        """(views, n_detectors) in 2D; (detector rows, views, detector columns) in 3D, ASTRA's layout."""
        if self.is_3d:
            return (self.detector_shape[0], self.n_views, self.detector_shape[1])
        return (self.n_views, self.n_detectors)

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
            return astra.create_vol_geom(
                ny, nx, nz, -nx * dx / 2, nx * dx / 2, -ny * dy / 2, ny * dy / 2, -nz * dz / 2, nz * dz / 2
            )
        (ny, nx), (dy, dx) = self.image_shape, self.pixel_size
        return astra.create_vol_geom(ny, nx, -nx * dx / 2, nx * dx / 2, -ny * dy / 2, ny * dy / 2)


class _CircularOrbit(_Geometry):
    """A geometry on a circular orbit: one view per angle (radians)."""

    if TYPE_CHECKING:
        angles: np.ndarray

    @property
    def n_views(self):
        return self.angles.size


def _astra_2d(kind, n_detectors, first, centers, axes):
    """ASTRA 2D vector geometry; y is mirrored to match ASTRA's row orientation."""
    import astra

    flip = np.array([1.0, -1.0])
    vectors = np.concatenate([first * flip, centers * flip, axes * flip], axis=1)
    return astra.create_proj_geom(kind, n_detectors, vectors)
