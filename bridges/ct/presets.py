"""Real scanner geometries from published parameters, with arguments to scale them down.

g = scanner("siemens-definition-as", view_step=8, detector_binning=4, image_shape=(128, 128))
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .geometry import ConeBeam3D, FanBeam2D, ParallelBeam2D

# Each entry: geometry class, its parameters at full resolution, reconstruction field of view (mm), source.
PRESETS: dict[str, dict[str, Any]] = {
    "siemens-definition-as": dict(
        kind=FanBeam2D,
        views=2304,
        channels=736,
        channel_pitch=1.2858,
        source_distance=595.0,
        detector_distance=1085.6 - 595.0,
        detector_curve="arc",
        fov=500.0,
        image_shape=(512, 512),
        source="Siemens SOMATOM Definition AS as used for the AAPM/Mayo Low Dose CT Grand Challenge: "
        "source-isocentre 595 mm, source-detector 1085.6 mm, 736 channels of 1.2858 mm on a "
        "cylindrical detector, 2304 views per rotation (McCollough et al., Med. Phys. 44(10):e339, 2017; "
        "DICOM-CT-PD format of the TCIA LDCT-and-Projection-data collection). Flying focal spot and the "
        "quarter-channel detector shift are not modelled.",
    ),
    "siemens-definition-as-helical": dict(
        kind="helical",
        views=2304,
        channels=736,
        channel_pitch=1.2858,
        rows=64,
        row_pitch=1.0947,
        source_distance=595.0,
        detector_distance=1085.6 - 595.0,
        pitch_factor=0.8,
        fov=500.0,
        image_shape=(64, 512, 512),
        source="Siemens SOMATOM Definition AS as for the AAPM/Mayo Low Dose CT Grand Challenge, helical: the "
        "geometry of 'siemens-definition-as' (McCollough et al., Med. Phys. 44(10):e339, 2017) with a "
        "cylindrical detector of 64 rows. Recalled, not verified from a source reachable here: the rows' "
        "axial width of 1.0947 mm at the detector (DicomCT-PD tag DetectorElementAxialSpacing; 0.6 mm at the "
        "isocentre, the 64 x 0.6 mm collimation) and the pitch factor 0.8 (the TCIA LDCT-and-Projection-data "
        "cases, Moen et al., Med. Phys. 48(2):902, 2021, use 0.6 to 1.0 by protocol). The z flying focal "
        "spot (128 slices from 64 rows) and the quarter-channel shift are not modelled. Needs CUDA.",
    ),
    "lodopab": dict(
        kind=ParallelBeam2D,
        views=1000,
        channels=513,
        channel_pitch=2 * 130.0 * math.sqrt(2) / 513,
        fov=260.0,
        image_shape=(362, 362),
        source="LoDoPaB-CT (Leuschner et al., Sci. Data 8:109, 2021): 2D parallel beam, 1000 angles over "
        "[0, π), 513 detector bins spanning the circumscribed circle of a 26 cm x 26 cm, 362 x 362 image "
        "(ODL's parallel_beam_geometry). Angles here start at 0; LoDoPaB's sit mid-step (add π/2000).",
    ),
    "varian-truebeam-cbct": dict(
        kind=ConeBeam3D,
        views=900,
        channels=1024,
        rows=768,
        channel_pitch=0.388,
        source_distance=1000.0,
        detector_distance=500.0,
        fov=260.0,
        image_shape=(192, 256, 256),
        source="Varian TrueBeam On-Board Imager kV cone-beam CT: source-isocentre 1000 mm, source-detector "
        "1500 mm, PaxScan 4030CB flat panel of 1024 x 768 pixels at 0.388 mm, full-fan about 900 "
        "projections per 360 degrees (Varian TrueBeam technical specifications; Srinivasan et al., "
        "J. Appl. Clin. Med. Phys. 15(3), 2014). Needs CUDA (ASTRA's 3D projectors).",
    ),
}


def scanner(
    name: str,
    *,
    view_step: int = 1,
    detector_binning: int = 1,
    image_shape=None,
    fov: float | None = None,
    n_turns: float | None = None,
):
    """The geometry of a real scanner, optionally down-sampled.

    ``view_step`` keeps every n-th view; ``detector_binning`` merges n adjacent channels
    (and rows) into one of n times the pitch; ``image_shape`` and ``fov`` (mm) set the
    reconstruction grid (default: the preset's), with cubic voxels in 3D. A helical preset
    turns ``n_turns`` times (default: enough for its detector to sweep the whole volume) at
    the table feed of its pitch factor. The parameters and their published source:
    ``PRESETS[name]["source"]``.
    """
    if name not in PRESETS:
        raise ValueError(f"expected a CT scanner preset, one of {sorted(PRESETS)}, got {name!r}")
    p = PRESETS[name]
    for arg, value, full in (("view_step", view_step, "views"), ("detector_binning", detector_binning, "channels")):
        if not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"{arg} must be a positive integer, got {value!r}")
        if value > p[full]:  # would leave no view or channel
            raise ValueError(f"{arg} must be at most the preset's {p[full]} {full}, got {value}")
    views = p["views"] // view_step
    channels = p["channels"] // detector_binning
    pitch = p["channel_pitch"] * detector_binning
    image_shape = tuple(image_shape or p["image_shape"])
    if not all(n > 0 for n in image_shape):  # checked here as well as by the geometry: the pixel size divides by it
        raise ValueError(f"image_shape must be positive, got {image_shape}")
    fov = p["fov"] if fov is None else fov
    if not (isinstance(fov, (int, float)) and math.isfinite(fov) and fov > 0):
        raise ValueError(f"fov must be a positive number of mm, got {fov!r}")
    pixel = fov / image_shape[-1]
    if n_turns is not None and p["kind"] != "helical":
        raise ValueError(f"n_turns is for helical presets only, got n_turns={n_turns!r} for {name!r}")
    if p["kind"] == "helical":
        return _helical(p, view_step, detector_binning, image_shape, pixel, n_turns)
    arc = math.pi if p["kind"] is ParallelBeam2D else 2 * math.pi
    angles = np.arange(views) * (arc / views)
    if p["kind"] is ParallelBeam2D:
        return ParallelBeam2D(
            angles=angles, n_detectors=channels, detector_spacing=pitch, image_shape=image_shape, pixel_size=pixel
        )
    if p["kind"] is FanBeam2D:
        return FanBeam2D(
            angles=angles,
            n_detectors=channels,
            detector_spacing=pitch,
            source_distance=p["source_distance"],
            detector_distance=p["detector_distance"],
            detector_curve=p["detector_curve"],
            image_shape=image_shape,
            pixel_size=pixel,
        )
    rows = p["rows"] // detector_binning
    return ConeBeam3D(
        angles=angles,
        detector_shape=(rows, channels),
        detector_spacing=(pitch, pitch),
        source_distance=p["source_distance"],
        detector_distance=p["detector_distance"],
        image_shape=image_shape,
        pixel_size=pixel,
    )


def _helical(p, view_step, binning, image_shape, pixel, n_turns):
    rows, channels = p["rows"] // binning, p["channels"] // binning
    row_pitch, channel_pitch = p["row_pitch"] * binning, p["channel_pitch"] * binning
    sdd = p["source_distance"] + p["detector_distance"]
    collimation = p["rows"] * p["row_pitch"] * p["source_distance"] / sdd  # axial coverage at the isocentre, mm
    feed = p["pitch_factor"] * collimation  # table travel per turn, mm
    if n_turns is None:  # the detector sweeps the whole volume: its z extent plus one collimation
        n_turns = (image_shape[0] * pixel + collimation) / feed
    if not (isinstance(n_turns, (int, float)) and math.isfinite(n_turns) and n_turns > 0):
        raise ValueError(f"n_turns must be a positive number, got {n_turns!r}")
    views_per_turn = p["views"] // view_step
    return ConeBeam3D.helical(
        n_views=max(1, round(views_per_turn * n_turns)),
        n_turns=n_turns,
        pitch=feed,
        detector_shape=(rows, channels),
        detector_spacing=(row_pitch, channel_pitch),
        source_distance=p["source_distance"],
        detector_distance=p["detector_distance"],
        image_shape=image_shape,
        pixel_size=pixel,
        detector_curve="arc",
    )
