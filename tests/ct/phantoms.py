"""A disk and its exact line integrals, with the CT tests' defaults: `experiments.validation.analytic`'s closed
forms, whose rays are written from the geometry conventions, not from the library's `ray_geometry`/`to_vec`."""

from experiments.validation import analytic


def disk_image(geometry, center=(0.0, 0.0), radius=30.0, mu=0.02, supersample=4):
    """A disk (centre (x, y) mm, radius mm, attenuation 1/mm), pixel values its covered fraction times ``mu``."""
    return analytic.disk_image(geometry.image_shape, geometry.pixel_size, center, radius, mu, supersample)


def disk_sinogram(geometry, center=(0.0, 0.0), radius=30.0, mu=0.02):
    """Exact line integrals of the disk for every ray of a `ParallelBeam2D` or `FanBeam2D` (views, detectors)."""
    return analytic.disk_sinogram(geometry, center, radius, mu).numpy()
