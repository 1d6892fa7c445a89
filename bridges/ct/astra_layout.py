"""How a geometry and a batch meet ASTRA's 3D CUDA projectors: one call for a whole batch of 2D slices.

A batch of B 2D images ``(B, y, x)`` is one ASTRA volume of B slices ``(z, y, x)`` whose rays stay
in their own slice (slice b at ``z_b = (b - (B - 1) / 2) dz``):

- parallel beam: ``parallel3d_vec``, the V views of a detector with B rows, row b in slice b's plane;
  ASTRA's projections ``(rows, views, columns) = (B, V, det)`` are the sinogram batch's own memory;
- flat fan beam: ``cone_vec``, B·V views of one detector row, view ``b V + i`` being view i with its
  source and row moved into slice b's plane: ``(1, B·V, det)`` is the memory of ``(B, V, det)``;
- arc (equiangular) fan beam: ``cyl_cone_vec``, the same layout with a cylindrical detector row.

Fan beams need one source per slice, hence one view per slice and angle. ASTRA's default 3D
backprojectors are voxel-driven: every voxel visits every view, so a fan batch would cost B times
its items' backprojections. ``cyl_cone_vec`` has a ray-driven backprojector ("matched_bp"), the FP's
exact transpose, whose cost grows with the batch and no faster: every cylindrical detector uses it.
``cone_vec`` has none, so a flat fan batch's backprojection grows as B²: `bench.gpu` measures where
that bites.

3D geometries run one item per call, on their own vectors (each item is already a large call).
Lengths are in mm throughout; ASTRA's 3D arrays index along +x, +y, +z, so unlike in 2D no axis is
mirrored.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .geometry import ConeBeam3D, FanBeam2D, FanVec2D, ParallelVec2D


@dataclass(frozen=True)
class Astra3D:
    """An ASTRA 3D problem: projection ``kind``, per-view ``vectors``, detector ``(rows, columns)``,
    volume ``(z, y, x)`` of voxels ``(dz, dy, dx)`` mm."""

    kind: str
    vectors: np.ndarray
    detector_shape: tuple
    volume_shape: tuple
    voxel_size: tuple

    @property
    def settings(self) -> dict:
        """The projector's configuration: a cylindrical detector takes the ray-driven, exactly transposed
        backprojector."""
        return {"ProjectionKernel": "matched_bp"} if self.kind == "cyl_cone_vec" else {}

    def create_projector(self) -> int:
        """An ASTRA ``cuda3d`` projector of this problem (its owner deletes it with ``astra.projector3d.delete``).

        ASTRA reads ``ProjectionKernel`` from the projector's own configuration: passed through
        ``astra.create_projector``'s options it is ignored, with only a printed warning.
        """
        import astra

        config = astra.astra_dict("cuda3d")
        config.update(
            ProjectionGeometry=self.projection_geometry(), VolumeGeometry=self.volume_geometry(), **self.settings
        )
        return astra.projector3d.create(config)

    @property
    def projection_shape(self) -> tuple:
        """ASTRA's projection array: (rows, views, columns)."""
        return (self.detector_shape[0], len(self.vectors), self.detector_shape[1])

    def volume_geometry(self) -> dict:
        import astra

        (nz, ny, nx), (dz, dy, dx) = self.volume_shape, self.voxel_size
        return astra.create_vol_geom(
            ny, nx, nz, -nx * dx / 2, nx * dx / 2, -ny * dy / 2, ny * dy / 2, -nz * dz / 2, nz * dz / 2
        )

    def projection_geometry(self) -> dict:
        import astra

        return astra.create_proj_geom(self.kind, *self.detector_shape, self.vectors)


def astra_3d(geometry, batch: int = 1) -> Astra3D:
    """The ASTRA 3D problem of ``batch`` images of a 2D geometry at once, or of one volume of a 3D one."""
    if geometry.is_3d:
        vec = geometry.to_vec()
        return Astra3D(vec.astra_kind, vec.astra_vectors(), vec.detector_shape, vec.image_shape, vec.pixel_size)
    if isinstance(batch, bool) or not isinstance(batch, (int, np.integer)) or batch < 1:
        raise ValueError(f"batch must be a positive integer, got {batch!r}")
    ny, nx = geometry.image_shape
    dy, dx = geometry.pixel_size
    dz = dx  # cubic voxels for square pixels: ASTRA's fast path, and rays never leave their slice anyway
    volume = dict(volume_shape=(batch, ny, nx), voxel_size=(dz, dy, dx))
    z = (np.arange(batch) - (batch - 1) / 2) * dz
    row = np.array([0.0, 0.0, dz])

    kind, first, centers, tangents, radius = _one_slice(geometry)
    n = len(first)
    if kind == "parallel3d_vec":  # parallel rays: one detector row per slice serves every slice at once
        vectors = np.concatenate([first, centers, tangents, np.broadcast_to(row, (n, 3))], 1)
        return Astra3D(kind, vectors, (batch, geometry.n_detectors), **volume)
    lift = z[:, None, None] * np.array([0.0, 0.0, 1.0])  # view b * n + i: view i moved into slice b's plane
    parts = [
        (first + lift).reshape(-1, 3),
        (centers + lift).reshape(-1, 3),
        np.tile(tangents, (batch, 1)),
        np.broadcast_to(row, (batch * n, 3)),
    ]
    if radius is not None:
        parts.append(np.full((batch * n, 1), radius))
    return Astra3D(kind, np.concatenate(parts, 1), (1, geometry.n_detectors), **volume)


def _one_slice(geometry):
    """A 2D geometry's rays as 3D vectors in the plane z = 0: (ASTRA kind, sources or ray directions,
    detector centres, column vectors, cylinder radius or None)."""
    if isinstance(geometry, FanBeam2D) and geometry.detector_curve == "arc":
        vec = ConeBeam3D(
            angles=geometry.angles,
            detector_shape=(1, geometry.n_detectors),
            detector_spacing=(1.0, geometry.detector_spacing),
            source_distance=geometry.source_distance,
            detector_distance=geometry.detector_distance,
            image_shape=(1, *geometry.image_shape),
            pixel_size=(1.0, *geometry.pixel_size),
            detector_offset=(0.0, geometry.detector_offset),
            detector_curve="arc",
        )._cylinder_vec()  # to_vec() of an arc detector, typed as the cylinder it is
        return "cyl_cone_vec", vec.sources, vec.detector_centers, vec.column_axes, vec.detector_radius
    vec = geometry.to_vec()
    if isinstance(vec, ParallelVec2D):
        return "parallel3d_vec", *map(_in_plane, (vec.ray_directions, vec.detector_centers, vec.detector_axes)), None
    if isinstance(vec, FanVec2D):
        return "cone_vec", *map(_in_plane, (vec.sources, vec.detector_centers, vec.detector_axes)), None
    raise TypeError(f"expected a 2D parallel or fan-beam geometry, got {type(geometry).__name__}")


def _in_plane(vectors2d: np.ndarray) -> np.ndarray:
    """2D vectors (n, 2) as 3D vectors in the plane z = 0."""
    return np.concatenate([vectors2d, np.zeros((len(vectors2d), 1))], 1)
