"""Analytic phantoms and their exact line integrals (the closed-form references)."""
import numpy as np
import torch


def image_coordinates(geometry):
    """Pixel-centre coordinates (y, x) in mm of a 2D geometry's image grid."""
    (ny, nx), (dy, dx) = geometry.image_shape, geometry.pixel_size
    y = (np.arange(ny) + 0.5) * dy - ny * dy / 2
    x = (np.arange(nx) + 0.5) * dx - nx * dx / 2
    return np.meshgrid(y, x, indexing="ij")


def disk_image(geometry, center=(0.0, 0.0), radius=30.0, mu=0.02, supersample=4):
    """A disk (centre (x, y) mm, radius mm, attenuation 1/mm), pixel values averaged over subpixels."""
    (ny, nx), (dy, dx) = geometry.image_shape, geometry.pixel_size
    offsets = (np.arange(supersample) + 0.5) / supersample - 0.5
    yy, xx = image_coordinates(geometry)
    acc = np.zeros((ny, nx))
    for oy in offsets:
        for ox in offsets:
            acc += ((xx + ox * dx - center[0]) ** 2 + (yy + oy * dy - center[1]) ** 2) < radius ** 2
    return torch.tensor(acc / supersample ** 2 * mu, dtype=torch.float32)


def chord(points, directions, center, radius):
    """Length of the chords of a disk cut by lines through `points` along `directions` (N, 2)."""
    d = directions / np.linalg.norm(directions, axis=1, keepdims=True)
    rel = np.asarray(center)[None, :] - points
    along = (rel * d).sum(1)
    dist2 = (rel ** 2).sum(1) - along ** 2
    return 2 * np.sqrt(np.clip(radius ** 2 - dist2, 0, None))


def disk_sinogram(geometry, center=(0.0, 0.0), radius=30.0, mu=0.02):
    """Exact line integrals of the disk for every ray of a 2D parallel or fan geometry (views, detectors)."""
    from bridges.ct import FanBeam2D, ParallelBeam2D
    if isinstance(geometry, FanBeam2D):
        sources, centers, _ = geometry.ray_geometry() if geometry.detector_curve == "arc" else _flat_fan_rays(geometry)
        values = chord(sources, centers - sources, center, radius)
    elif isinstance(geometry, ParallelBeam2D):
        vec = geometry.to_vec()
        s = np.arange(geometry.n_detectors) - (geometry.n_detectors - 1) / 2
        points = vec.detector_centers[:, None, :] + s[None, :, None] * vec.detector_axes[:, None, :]
        dirs = np.broadcast_to(vec.ray_directions[:, None, :], points.shape)
        values = chord(points.reshape(-1, 2), dirs.reshape(-1, 2), center, radius)
    else:
        raise TypeError(type(geometry))
    return mu * values.reshape(geometry.sinogram_shape)


def _flat_fan_rays(geometry):
    vec = geometry.to_vec()
    s = np.arange(geometry.n_detectors) - (geometry.n_detectors - 1) / 2
    pixels = vec.detector_centers[:, None, :] + s[None, :, None] * vec.detector_axes[:, None, :]
    sources = np.broadcast_to(vec.sources[:, None, :], pixels.shape)
    return sources.reshape(-1, 2), pixels.reshape(-1, 2), None
