"""PET scanner geometry: a ring of crystals, its 2D sinogram layout, and clinical presets.

A ring of ``N`` crystals at angles ``2π i / N`` on radius ``R`` (the effective
radius: inner radius plus mean depth of interaction) records coincidences along
the line between two crystals. Grouping the lines by direction gives ``N / 2``
views over [0, π); within a view the lines lie at signed distances
``s_r = R sin(π r / N)`` from the centre, r an integer, so the central radial
spacing is ``π R / N``, half the angular crystal pitch.

Two sinogram modes, both on ASTRA's CPU projectors:
- ``"arc"`` (arc-corrected): uniform radial bins ``s_k = (k - K//2) · bin_size``, on
  ASTRA's parallel-beam projector (`bridges.ct.ParallelBeam2D`);
- ``"exact"`` (not arc-corrected): each bin is the line between its two crystals, through
  ASTRA's vector geometry (one single-ray view per bin, `bridges.ct.ParallelVec2D`). Odd
  ``r - N/2`` lines are those of crystal pairs with an odd index sum; their direction is
  ``π / N`` past the view's (the usual mashing of two angles into one view).

Axes: image ``(y, x)`` in mm; sinogram ``(views, radial bins)``. Multi-slice data
(the ``2 n_rings - 1`` direct and cross planes after single-slice rebinning) put
the planes in the batch dimension; 3D PET with oblique segments needs ASTRA's
CUDA projectors and is not modelled here.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..ct.geometry import ParallelBeam2D, ParallelVec2D

__all__ = ["PETScanner", "PRESETS", "scanner"]

_MODES = ("arc", "exact")


@dataclass(frozen=True, kw_only=True)
class PETScanner:
    """A cylindrical PET scanner and the image grid it reconstructs on.

    Lengths in mm. ``ring_radius`` is the effective radius (inner radius plus mean
    depth of interaction); ``crystals_per_ring`` counts gap (virtual) crystals as
    scanners' sinograms do; ``crystal_pitch`` is the transaxial crystal pitch on the
    ring face; ``bin_size`` is the arc-corrected radial bin (default ``π R / N``).

    Shapes: image ``image_shape`` (y, x) with ``pixel_size`` (mm);
    sinogram ``(n_views, n_radial_bins)`` = ``(crystals_per_ring // 2, n_radial_bins)``.

    Example::

        >>> s = scanner("biograph-mmr", downsample=4)
        >>> s.sinogram_shape, s.image_shape
        ((63, 86), (50, 50))
        >>> type(s.geometry("arc")).__name__
        'ParallelBeam2D'
    """

    ring_radius: float
    crystals_per_ring: int
    crystal_pitch: float
    n_rings: int
    ring_spacing: float
    n_radial_bins: int
    image_shape: tuple
    pixel_size: float
    bin_size: float | None = None
    name: str = "custom"

    def __post_init__(self):
        for field in ("ring_radius", "crystal_pitch", "ring_spacing", "pixel_size"):
            value = getattr(self, field)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
                raise ValueError(f"{field} must be a positive number of mm, got {value!r}")
        for field in ("crystals_per_ring", "n_rings", "n_radial_bins"):
            value = getattr(self, field)
            if not (isinstance(value, (int, np.integer)) and value > 0):
                raise ValueError(f"{field} must be a positive integer, got {value!r}")
        if self.crystals_per_ring % 2:
            raise ValueError(
                f"crystals_per_ring must be even (views = crystals_per_ring / 2), got {self.crystals_per_ring}"
            )
        if self.crystal_pitch * self.crystals_per_ring > 2 * math.pi * self.ring_radius * 1.001:
            raise ValueError(
                f"{self.crystals_per_ring} crystals of pitch {self.crystal_pitch} mm do not fit on a "
                f"ring of radius {self.ring_radius} mm"
            )
        if self.n_radial_bins >= self.crystals_per_ring:
            raise ValueError(
                f"n_radial_bins must be below crystals_per_ring = {self.crystals_per_ring} (the lines "
                f"through the ring), got {self.n_radial_bins}"
            )
        shape = tuple(int(n) for n in np.broadcast_to(self.image_shape, (2,)))
        if any(n <= 0 for n in shape):
            raise ValueError(f"image_shape must be two positive sizes (y, x), got {self.image_shape!r}")
        object.__setattr__(self, "image_shape", shape)
        if self.bin_size is None:
            object.__setattr__(self, "bin_size", math.pi * self.ring_radius / self.crystals_per_ring)
        elif not (self.bin_size > 0 and math.isfinite(self.bin_size)):
            raise ValueError(f"bin_size must be a positive number of mm, got {self.bin_size!r}")
        half_image = math.hypot(*shape) * self.pixel_size / 2
        if half_image >= self.ring_radius:
            raise ValueError(
                f"the image (half-diagonal {half_image:.1f} mm) does not fit inside the ring "
                f"(radius {self.ring_radius} mm)"
            )

    @property
    def _bin(self) -> float:
        """``bin_size``, which `__post_init__` has filled in if it was left None."""
        assert self.bin_size is not None
        return self.bin_size

    # ------------------------------------------------------------ sinogram layout
    @property
    def n_views(self) -> int:
        return self.crystals_per_ring // 2

    @property
    def sinogram_shape(self) -> tuple:
        return (self.n_views, self.n_radial_bins)

    @property
    def n_planes(self) -> int:
        """Direct plus cross planes after single-slice rebinning: ``2 n_rings - 1``, ``ring_spacing / 2`` apart."""
        return 2 * self.n_rings - 1

    @property
    def view_angles(self) -> np.ndarray:
        """Angle of each view in radians, ``π v / n_views``."""
        return np.arange(self.n_views) * (math.pi / self.n_views)

    def radial_index(self) -> np.ndarray:
        """Integer r of each radial bin, ``k - K // 2``: bin ``K // 2`` passes through the centre."""
        return np.arange(self.n_radial_bins) - self.n_radial_bins // 2

    def radial_positions(self, mode: str = "arc") -> np.ndarray:
        """Signed distance of each bin's line from the centre in mm (``(views, bins)`` for ``"exact"``)."""
        r = self.radial_index()
        if _mode(mode) == "arc":
            return r * self._bin
        return np.broadcast_to(self.ring_radius * np.sin(math.pi * r / self.crystals_per_ring), self.sinogram_shape)

    # ------------------------------------------------------------ ASTRA geometries
    def geometry(self, mode: str = "arc", views=None):
        """The CT geometry whose line integrals are this scanner's sinogram, restricted to ``views``.

        ``"arc"``: a `ParallelBeam2D` with data ``(views, bins)``. ``"exact"``: a `ParallelVec2D`
        with one single-ray view per bin, data ``(views * bins, 1)`` in view-major order.
        """
        views = np.arange(self.n_views) if views is None else np.atleast_1d(np.arange(self.n_views)[views])
        K = self.n_radial_bins
        if _mode(mode) == "arc":
            # pixel k of ParallelBeam2D sits at (k - (K-1)/2) b + offset; the offset puts bin K//2 at 0
            return ParallelBeam2D(
                angles=self.view_angles[views],
                n_detectors=K,
                detector_spacing=self._bin,
                image_shape=self.image_shape,
                pixel_size=(self.pixel_size, self.pixel_size),
                detector_offset=((K - 1) / 2 - K // 2) * self._bin,
            )
        N, r = self.crystals_per_ring, self.radial_index()
        odd = (r - N // 2) % 2  # crystal pairs with an odd index sum lie π/N further round
        theta = self.view_angles[views][:, None] + (math.pi / N) * odd[None, :]
        s = self.ring_radius * np.sin(math.pi * r / N)
        u = np.stack([np.cos(theta), np.sin(theta)], -1).reshape(-1, 2)
        w = np.stack([-np.sin(theta), np.cos(theta)], -1).reshape(-1, 2)
        centers = u * np.broadcast_to(s, theta.shape).reshape(-1, 1)
        return ParallelVec2D(
            ray_directions=w,
            detector_centers=centers,
            detector_axes=self._bin * u,
            n_detectors=1,
            image_shape=self.image_shape,
            pixel_size=(self.pixel_size, self.pixel_size),
        )

    # ------------------------------------------------------------ presets
    def downsampled(self, factor: int = 1, axial_factor: int = 1) -> PETScanner:
        """Merge ``factor`` neighbouring crystals (and radial bins) and ``axial_factor`` rings.

        The image keeps its field of view: ``image_shape // factor`` pixels of ``factor`` times the size.
        """
        for name, f in (("factor", factor), ("axial_factor", axial_factor)):
            if not isinstance(f, (int, np.integer)) or f < 1:
                raise ValueError(f"{name} must be a positive integer, got {f!r}")
        if self.crystals_per_ring % (2 * factor):
            raise ValueError(
                f"factor must divide crystals_per_ring / 2 = {self.crystals_per_ring // 2} so that the "
                f"ring keeps an even number of crystals, got {factor}"
            )
        if self.n_rings % axial_factor:
            raise ValueError(f"axial_factor must divide n_rings = {self.n_rings}, got {axial_factor}")
        return dataclasses.replace(
            self,
            crystals_per_ring=self.crystals_per_ring // factor,
            crystal_pitch=self.crystal_pitch * factor,
            n_radial_bins=max(1, self.n_radial_bins // factor),
            bin_size=self._bin * factor,
            n_rings=self.n_rings // axial_factor,
            ring_spacing=self.ring_spacing * axial_factor,
            image_shape=tuple(max(1, n // factor) for n in self.image_shape),
            pixel_size=self.pixel_size * factor,
        )


# Each entry: the scanner's parameters at full resolution (PETScanner's fields) and their published source.
PRESETS: dict[str, dict[str, Any]] = {
    "biograph-mmr": dict(
        ring_radius=328.0 + 7.0,
        crystals_per_ring=504,
        crystal_pitch=4.0,
        n_rings=64,
        ring_spacing=4.0625,
        n_radial_bins=344,
        bin_size=2.08626,
        image_shape=(200, 200),
        pixel_size=2.08626,
        name="Siemens Biograph mMR",
        source="Siemens Biograph mMR: 504 crystals per ring (56 blocks of 8 crystals plus one gap crystal), 64 rings, "
        "effective radius 328 + 7 mm, ring spacing 4.0625 mm, 344 radial bins of 2.08626 mm, LSO crystals "
        "4 x 4 x 20 mm (pitch 4.0 mm). Image: the central 200 x 200 of the scanner's 344 x 344 grid of "
        "2.08626 mm pixels (the square inside the 594 mm transaxial field of view). G. Delso et al., "
        '"Performance measurements of the Siemens mMR integrated whole-body PET/MR scanner", J Nucl Med '
        "52(12):1914-1922, 2011; STIR src/buildblock/Scanner.cxx (Siemens_mMR). downsample must divide 252 "
        "(e.g. 2, 3, 4, 6, 7, 9, 12).",
    ),
    "discovery-690": dict(
        ring_radius=405.1 + 9.4,
        crystals_per_ring=576,
        crystal_pitch=4.2,
        n_rings=24,
        ring_spacing=6.54,
        n_radial_bins=331,
        bin_size=2.1306,
        image_shape=(128, 128),
        pixel_size=700.0 / 192,
        name="GE Discovery 690",
        source="GE Discovery 690: 576 crystals per ring (64 blocks of 9), 24 rings, effective radius 405.1 + 9.4 mm, "
        "ring spacing 6.54 mm, 331 arc-corrected radial bins of 2.1306 mm, LYSO crystals 4.2 x 6.3 x 25 mm "
        "(pitch 4.2 mm transaxially). Image: the central 128 x 128 of the scanner's 192 x 192 grid of "
        "3.646 mm pixels (70 cm field of view), the square that the radial bins cover. V. Bettinardi et al., "
        '"Physical performance of the new hybrid PET/CT Discovery-690", Med Phys 38(10):5394-5411, 2011; '
        "STIR src/buildblock/Scanner.cxx (Discovery690). downsample must divide 288 (e.g. 2, 3, 4, 6, 8, 9, "
        "12, 16). The detector's intrinsic tilt (-5.021 degrees in STIR) is left out: views start at angle 0.",
    ),
}


def scanner(name: str, *, downsample: int = 1, axial_downsample: int = 1) -> PETScanner:
    """A clinical PET scanner from its published parameters, optionally down-sampled (`PETScanner.downsampled`:
    ``downsample`` crystals and radial bins merged, ``axial_downsample`` rings). The parameters and their source:
    ``PRESETS[name]``.

    Example::

        >>> scanner("biograph-mmr", downsample=4).sinogram_shape
        (63, 86)
    """
    if name not in PRESETS:
        raise ValueError(f"expected a PET scanner preset, one of {sorted(PRESETS)}, got {name!r}")
    params = {k: v for k, v in PRESETS[name].items() if k != "source"}
    return PETScanner(**params).downsampled(downsample, axial_downsample)


def _mode(mode):
    if mode not in _MODES:
        raise ValueError(f"mode must be one of {_MODES}, got {mode!r}")
    return mode
