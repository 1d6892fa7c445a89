"""Small geometries of every kind that runs on the CPU, shared by the CT tests."""

import numpy as np

from bridges import ct


def cpu_geometries(n=24):
    rng = np.random.default_rng(0)
    irregular = np.sort(rng.uniform(0, np.pi, 17))
    par = ct.ParallelBeam2D(
        angles=irregular,
        n_detectors=37,
        detector_spacing=0.9,
        image_shape=(n, n + 4),
        pixel_size=(1.0, 0.8),
        detector_offset=1.3,
    )
    return {
        "parallel": ct.ParallelBeam2D(angles=20, n_detectors=35, detector_spacing=1.0, image_shape=(n, n)),
        "parallel-irregular-offset": par,
        "parallel-vec-tilted": _tilted(par),
        "fan-flat": ct.FanBeam2D(
            angles=24,
            n_detectors=40,
            detector_spacing=1.5,
            source_distance=80,
            detector_distance=40,
            image_shape=(n, n),
            detector_offset=0.7,
        ),
        "fan-arc": ct.FanBeam2D(
            angles=24,
            n_detectors=40,
            detector_spacing=1.5,
            source_distance=80,
            detector_distance=40,
            image_shape=(n, n),
            detector_curve="arc",
        ),
        "parallel-3d-axial": ct.ParallelBeam3D(
            angles=12, detector_shape=(2, 30), detector_spacing=(1.0, 1.0), image_shape=(2, n, n)
        ),
    }


def _tilted(geometry):
    """A calibrated geometry: each view's detector slightly rotated and shifted."""
    vec = geometry.to_vec()
    tilt = np.deg2rad(2.0)
    rot = np.array([[np.cos(tilt), -np.sin(tilt)], [np.sin(tilt), np.cos(tilt)]])
    return ct.ParallelVec2D(
        ray_directions=vec.ray_directions,
        detector_centers=vec.detector_centers + 0.25,
        detector_axes=vec.detector_axes @ rot.T,
        n_detectors=vec.n_detectors,
        image_shape=vec.image_shape,
        pixel_size=vec.pixel_size,
    )
