"""Closed-form references: disks, their exact line integrals, and the CT / PET rays written from first principles.

Nothing here calls the geometry code under test (`ray_geometry`, `to_vec`, `PETScanner.geometry`):
the rays are rebuilt from the conventions stated in `bridges.ct.geometry`'s docstring and from the
crystal positions of a PET ring, so that an error in those conventions shows up as a mismatch.

Conventions (mm, radians; images (y, x), pixel centres at ``(i + ½ − n/2) · h``):
- parallel beam at angle θ: rays along ``(−sin θ, cos θ)``, detector axis ``u = (cos θ, sin θ)``,
  channel k at ``s_k = (k − (n−1)/2) d + offset`` along u;
- fan beam: source ``R_s (sin θ, −cos θ)``, detector centre ``R_d (−sin θ, cos θ)``, detector axis u;
  a flat channel sits at ``s_k`` along u from the detector centre, an arc channel at fan angle
  ``γ = s_k / (R_s + R_d)`` from the central ray, on the circle of radius ``R_s + R_d`` about the source;
- cone beam (3D, z the rotation axis): the fan beam's source and flat detector in the plane z = 0,
  detector rows along z at ``(i − (rows−1)/2) d_row``;
- PET ring: crystal i at ``R (cos 2πi/N, sin 2πi/N)``; a line is the chord between two crystals.
"""

from __future__ import annotations

import math

import numpy as np
import torch

# Pixelised disk against exact line integrals: the error sits at the disk's edge, measured ≈ 0.25 h/ρ
# for pixel h and radius ρ on every CT and PET geometry here (a flipped or swapped axis gives > 100 %).
EDGE = 0.5


def edge_tol(pixel: float, radius: float) -> float:
    return EDGE * pixel / radius


def edge_note(pixel: float, radius: float) -> str:
    return f"pixelisation of the disk edge: {EDGE} h/ρ, h = {pixel:.3g} mm, ρ = {radius:.3g} mm"


def disk_image(image_shape, pixel_size, center, radius, value=1.0, supersample=8) -> torch.Tensor:
    """A disk (centre (x, y) mm, radius mm) rasterised with each pixel's covered fraction (``supersample²``
    sub-pixels), so that the image is the disk up to a second-order error at its edge. float32 (y, x)."""
    (ny, nx), (hy, hx) = image_shape, (pixel_size, pixel_size) if np.isscalar(pixel_size) else pixel_size
    sub = (np.arange(supersample) + 0.5) / supersample - 0.5
    ys = ((np.arange(ny) + 0.5 - ny / 2)[:, None] + sub[None, :]).reshape(-1) * hy
    xs = ((np.arange(nx) + 0.5 - nx / 2)[:, None] + sub[None, :]).reshape(-1) * hx
    inside = (xs[None, :] - center[0]) ** 2 + (ys[:, None] - center[1]) ** 2 < radius**2
    covered = inside.reshape(ny, supersample, nx, supersample).mean(axis=(1, 3))
    return torch.tensor(covered * value, dtype=torch.float32)


def inner_mask(image_shape, pixel_size, center, radius) -> torch.Tensor:
    """Pixels whose centres lie within ``radius`` of ``center`` (x, y): the region a mean is taken over."""
    (ny, nx), h = image_shape, pixel_size
    y = (torch.arange(ny, dtype=torch.float64) + 0.5 - ny / 2) * h
    x = (torch.arange(nx, dtype=torch.float64) + 0.5 - nx / 2) * h
    return (x[None, :] - center[0]) ** 2 + (y[:, None] - center[1]) ** 2 < radius**2


def chords(points: np.ndarray, directions: np.ndarray, center, radius) -> np.ndarray:
    """Length of the chord that the line through ``points`` along ``directions`` (both (..., 2)) cuts from the disk."""
    d = directions / np.linalg.norm(directions, axis=-1, keepdims=True)
    rel = np.asarray(center, dtype=float) - points
    distance = np.abs(rel[..., 0] * d[..., 1] - rel[..., 1] * d[..., 0])  # |rel × d|
    return 2 * np.sqrt(np.clip(radius**2 - distance**2, 0, None))


def channels(n, spacing, offset=0.0) -> np.ndarray:
    """Detector coordinate of each of ``n`` channels: ``(k − (n−1)/2) · spacing + offset``."""
    return (np.arange(n) - (n - 1) / 2) * spacing + offset


def parallel_rays(angles, positions):
    """(points, directions), each (views, channels, 2), of a parallel beam with channels at ``positions`` mm."""
    c, s = np.cos(angles)[:, None], np.sin(angles)[:, None]
    t = np.asarray(positions)[None, :]
    points = np.stack([t * c, t * s], axis=-1)
    directions = np.broadcast_to(np.stack([-s, c], axis=-1), points.shape)
    return points, directions


def fan_rays(angles, positions, source_distance, detector_distance, curve):
    """(sources, directions), each (views, channels, 2), of a fan beam with a "flat" or "arc" detector whose
    channels sit at ``positions`` mm (arc length for an arc detector)."""
    c, s = np.cos(angles)[:, None], np.sin(angles)[:, None]
    beam, axis = np.stack([-s, c], -1), np.stack([c, s], -1)  # central ray direction, detector axis
    t = np.asarray(positions)[None, :, None]
    sources = np.broadcast_to(source_distance * np.stack([s, -c], -1), (len(angles), t.shape[1], 2))
    if curve == "flat":  # the channel's point on the detector, minus the source
        directions = (source_distance + detector_distance) * beam + t * axis
    else:
        gamma = t / (source_distance + detector_distance)
        directions = np.cos(gamma) * beam + np.sin(gamma) * axis
    return sources, np.broadcast_to(directions, sources.shape)


def disk_sinogram(geometry, center, radius, value=1.0) -> torch.Tensor:
    """Exact line integrals of a disk for a `ParallelBeam2D` or `FanBeam2D`, from its parameters alone."""
    g = geometry
    positions = channels(g.n_detectors, g.detector_spacing, g.detector_offset)
    if hasattr(g, "source_distance"):
        points, directions = fan_rays(g.angles, positions, g.source_distance, g.detector_distance, g.detector_curve)
    else:
        points, directions = parallel_rays(g.angles, positions)
    return torch.from_numpy(value * chords(points, directions, center, radius))


def ball_projections(geometry, center, radius, value=1.0) -> torch.Tensor:
    """Exact line integrals of a ball (centre (x, y, z) mm) for a circular `ConeBeam3D`, flat or cylindrical
    (column positions are arc lengths on the circle of radius D about the source), (rows, views, columns)."""
    g = geometry
    (rows, cols), (d_row, d_col) = g.detector_shape, g.detector_spacing
    c, s = np.cos(g.angles), np.sin(g.angles)
    zero = np.zeros_like(c)
    source = g.source_distance * np.stack([s, -c, zero], -1)  # (views, 3)
    beam, axis = np.stack([-s, c, zero], -1), np.stack([c, s, zero], -1)
    u = channels(cols, d_col, g.detector_offset[1])
    v = channels(rows, d_row, g.detector_offset[0])
    sdd = g.source_distance + g.detector_distance
    if g.detector_curve == "arc":  # column u at fan angle u / D
        along, across = sdd * np.cos(u / sdd), sdd * np.sin(u / sdd)
    else:
        along, across = np.full_like(u, sdd), u
    directions = (
        along[None, None, :, None] * beam[None, :, None, :]
        + across[None, None, :, None] * axis[None, :, None, :]
        + v[:, None, None, None] * np.array([0.0, 0.0, 1.0])
    )  # (rows, views, cols, 3)
    d = directions / np.linalg.norm(directions, axis=-1, keepdims=True)
    rel = np.asarray(center, dtype=float) - source[None, :, None, :]
    distance2 = (rel**2).sum(-1) - ((rel * d).sum(-1)) ** 2
    return torch.from_numpy(value * 2 * np.sqrt(np.clip(radius**2 - distance2, 0, None)))


def pet_crystal_pairs(crystals_per_ring, n_views, radial_index):
    """Crystal indices (a, b), each (views, bins), of the sinogram's lines.

    A chord from crystal a to b has its normal at angle π(a + b)/N and lies R cos(π(b − a)/N) from
    the centre; the sinogram puts the line of view v and radial index r at normal angle ≈ πv/n_views
    and distance R sin(πr/N), so ``b − a = N/2 − r`` and ``a + b = 2v`` or ``2v + 1`` (their parity must agree).
    """
    N = crystals_per_ring
    r = np.asarray(radial_index)[None, :]
    v = np.arange(n_views)[:, None]
    diff = N // 2 - r
    total = 2 * v + diff % 2
    return (total - diff) // 2, (total + diff) // 2


def pet_disk_sinogram(scanner, mode, center, radius, value=1.0) -> torch.Tensor:
    """Exact line integrals of a disk for each sinogram bin of a `PETScanner`: "exact" from the crystal
    positions, "arc" on the uniform radial grid ``(k − K//2) · bin_size`` at view angles ``πv/n_views``."""
    r = np.arange(scanner.n_radial_bins) - scanner.n_radial_bins // 2
    if mode == "arc":
        angles = np.arange(scanner.n_views) * (math.pi / scanner.n_views)
        points, directions = parallel_rays(angles, r * scanner.bin_size)
    else:
        a, b = pet_crystal_pairs(scanner.crystals_per_ring, scanner.n_views, r)

        def crystal(i):
            phi = 2 * math.pi * i / scanner.crystals_per_ring
            return scanner.ring_radius * np.stack([np.cos(phi), np.sin(phi)], -1)

        points, directions = crystal(a), crystal(b) - crystal(a)
    return torch.from_numpy(value * chords(points, directions, center, radius))
