"""CT geometries and array layouts between this project and ODL's tomography package.

Same world coordinates (mm, isocentre at the origin) and rotation conventions on
both sides; only the array layouts differ:

    image 2D    ours (y, x)               ODL (x, y)                 odl = ours.permute(1, 0)
    volume 3D   ours (z, y, x)            ODL (x, y, z)              odl = ours.permute(2, 1, 0)
    sinogram    ours (views, detector)    ODL (angles, detector)     the same
    projections ours (rows, views, cols)  ODL (angles, u, v)         odl = ours.permute(1, 2, 0)

with our detector columns along ODL's first detector axis ``u`` and rows along ``v``
(along z for ODL's default axis geometries). ODL's uniform angle partitions put the
angles mid-cell; conversions here carry the angles themselves, never the partition bounds.
"""

from __future__ import annotations

import math

import numpy as np
import odl
from odl.applications import tomo

from ..ct import geometry as G

IMAGE_PERM = {2: (1, 0), 3: (2, 1, 0)}
DATA_PERM = {2: (0, 1), 3: (1, 2, 0)}


def layout(geometry) -> tuple:
    """(image permutation, data permutation) taking our arrays to ODL's: ``odl = ours.permute(p)``."""
    n = 3 if geometry.is_3d else 2
    return IMAGE_PERM[n], DATA_PERM[n]


def volume_space(geometry, dtype="float32") -> odl.DiscretizedSpace:
    """ODL's image space of a geometry: centred on the isocentre, extents in mm, (x, y[, z]) order."""
    shape, cell = geometry.image_shape[::-1], np.asarray(geometry.pixel_size[::-1])
    half = cell * np.asarray(shape) / 2
    return odl.uniform_discr(-half, half, shape, dtype=dtype)


def _angle_partition(angles: np.ndarray) -> odl.RectPartition:
    """A partition whose points are exactly ``angles`` (uniform when they are evenly spaced)."""
    if angles.size > 1:
        step = (angles[-1] - angles[0]) / (angles.size - 1)
        if step > 0 and np.allclose(np.diff(angles), step, rtol=1e-9, atol=1e-12):
            return odl.uniform_partition(angles[0] - step / 2, angles[-1] + step / 2, angles.size)
    return odl.nonuniform_partition(np.asarray(angles, dtype=float))


def _detector_partition(n, spacing, offset):
    n, spacing, offset = np.atleast_1d(n), np.atleast_1d(spacing), np.atleast_1d(offset)
    lo, hi = offset - n * spacing / 2, offset + n * spacing / 2
    return odl.uniform_partition(
        lo if lo.size > 1 else lo[0], hi if hi.size > 1 else hi[0], tuple(n) if n.size > 1 else int(n[0])
    )


def odl_geometry(geometry) -> tomo.Geometry:
    """The ODL geometry of one of our circular geometries (parallel, fan flat/arc, 3D parallel, cone).

    Vector geometries (``*Vec*``, helical) have no ODL counterpart and raise ``TypeError``.
    """
    apart = _angle_partition(np.asarray(geometry.angles)) if hasattr(geometry, "angles") else None
    if isinstance(geometry, G.ParallelBeam2D):
        return tomo.Parallel2dGeometry(
            apart, _detector_partition(geometry.n_detectors, geometry.detector_spacing, geometry.detector_offset)
        )
    if isinstance(geometry, G.FanBeam2D):
        if geometry.detector_curve == "arc":  # ODL's circular detector is parametrised by the fan angle
            radius = geometry.source_detector_distance
            dpart = _detector_partition(
                geometry.n_detectors, geometry.detector_spacing / radius, geometry.detector_offset / radius
            )
            return tomo.FanBeamGeometry(
                apart, dpart, geometry.source_distance, geometry.detector_distance, det_curvature_radius=radius
            )
        dpart = _detector_partition(geometry.n_detectors, geometry.detector_spacing, geometry.detector_offset)
        return tomo.FanBeamGeometry(apart, dpart, geometry.source_distance, geometry.detector_distance)
    if isinstance(geometry, (G.ParallelBeam3D, G.ConeBeam3D)):
        rows, cols = geometry.detector_shape
        (d_row, d_col), (o_row, o_col) = geometry.detector_spacing, geometry.detector_offset
        dpart = _detector_partition((cols, rows), (d_col, d_row), (o_col, o_row))
        if isinstance(geometry, G.ParallelBeam3D):
            return tomo.Parallel3dAxisGeometry(apart, dpart)
        if geometry.detector_curve == "arc":  # ODL's cylindrical detector: columns by fan angle, rows in mm
            radius = geometry.source_detector_distance
            dpart = _detector_partition((cols, rows), (d_col / radius, d_row), (o_col / radius, o_row))
            return tomo.ConeBeamGeometry(
                apart, dpart, geometry.source_distance, geometry.detector_distance, det_curvature_radius=(radius, None)
            )
        return tomo.ConeBeamGeometry(apart, dpart, geometry.source_distance, geometry.detector_distance)
    raise TypeError(
        f"expected a ParallelBeam2D, FanBeam2D, ParallelBeam3D or ConeBeam3D geometry (ODL has "
        f"no vector geometries), got {type(geometry).__name__}"
    )


def data_space(geometry, odl_geom=None, dtype="float32") -> odl.DiscretizedSpace:
    """ODL's data space, built by ``RayTransform``'s rule: weighted by the mean cell volume of the
    partition, unless the volume space is unweighted (unit cells), which leaves it unweighted too.
    Vector geometries: views of unit width by detector pixels of their spacing in mm."""
    if odl_geom is None:
        try:
            odl_geom = odl_geometry(geometry)
        except TypeError:
            odl_geom = None
    if odl_geom is not None:
        part = odl_geom.partition
    else:
        vec = geometry.to_vec()
        cell: tuple  # the detector cell (mm), one length per detector axis: one in 2D, two in 3D
        shape: tuple
        if geometry.is_3d:
            rows, cols = geometry.detector_shape
            cell, shape = (np.linalg.norm(vec.column_axes[0]), np.linalg.norm(vec.row_axes[0])), (cols, rows)
        else:
            cell, shape = (np.linalg.norm(vec.detector_axes[0]),), (geometry.n_detectors,)
        half = np.multiply(cell, shape) / 2
        part = odl.uniform_partition([0.0, *-half], [geometry.n_views, *half], (geometry.n_views, *shape))
    weighting = None
    if volume_space(geometry).is_weighted:
        weighting = float(part.extent.prod()) / float(part.size)
    return odl.DiscretizedSpace(part, odl.tensor_space(part.shape, dtype=dtype, weighting=weighting))


def geometry_from_odl(odl_geom, vol_space):
    """Our geometry reproducing ODL's ``RayTransform(vol_space, odl_geom)``: a vector geometry built from
    ODL's own source, detector and axis positions per angle (so detector shifts, flying focal
    spots, translations and initial orientations carry over), with the volume re-centred on the
    origin; a ``FanBeam2D`` with an arc detector for ODL's circular detector on the source circle."""
    if not isinstance(vol_space, odl.DiscretizedSpace) or not vol_space.is_uniform:
        raise TypeError(f"expected a uniform odl.DiscretizedSpace as volume, got {vol_space!r}")
    if not odl_geom.det_partition.is_uniform:
        raise ValueError(f"expected a uniformly sampled detector, got {odl_geom.det_partition}")
    centre = (np.asarray(vol_space.min_pt) + np.asarray(vol_space.max_pt)) / 2
    image = dict(image_shape=vol_space.shape[::-1], pixel_size=tuple(vol_space.cell_sides[::-1]))
    angles = np.asarray(odl_geom.angles, dtype=float)
    mid = odl_geom.det_params.mid_pt
    cells = odl_geom.det_partition.cell_sides
    det = odl_geom.detector
    if isinstance(det, tomo.CircularDetector):
        return _arc_from_odl(odl_geom, angles, centre, image)
    if not isinstance(det, (tomo.Flat1dDetector, tomo.Flat2dDetector)):
        raise TypeError(f"expected a flat or (fan-beam) circular detector, got {type(det).__name__}")
    centers = odl_geom.det_point_position(angles, mid if odl_geom.ndim == 3 else float(mid[0])) - centre
    divergent = isinstance(odl_geom, tomo.DivergentBeamGeometry)
    if odl_geom.ndim == 2:
        axes = odl_geom.det_axis(angles) * cells[0]
        n = odl_geom.det_partition.shape[0]
        if divergent:
            return G.FanVec2D(
                sources=odl_geom.src_position(angles) - centre,
                detector_centers=centers,
                detector_axes=axes,
                n_detectors=n,
                **image,
            )
        return G.ParallelVec2D(
            ray_directions=-odl_geom.det_to_src(angles, float(mid[0])),
            detector_centers=centers,
            detector_axes=axes,
            n_detectors=n,
            **image,
        )
    axes = odl_geom.det_axes(angles)
    cols, rows = odl_geom.det_partition.shape
    common = dict(
        detector_centers=centers,
        column_axes=axes[:, 0] * cells[0],
        row_axes=axes[:, 1] * cells[1],
        detector_shape=(rows, cols),
        **image,
    )
    if divergent:
        return G.ConeVec3D(sources=odl_geom.src_position(angles) - centre, **common)
    return G.ParallelVec3D(ray_directions=-odl_geom.det_to_src(angles, mid), **common)


def _arc_from_odl(odl_geom, angles, centre, image):
    if odl_geom.ndim != 2 or not isinstance(odl_geom, tomo.FanBeamGeometry):
        raise TypeError(f"expected a 2D FanBeamGeometry with a circular detector, got {type(odl_geom).__name__}")
    radius = odl_geom.det_curvature_radius
    sdd = odl_geom.src_radius + odl_geom.det_radius
    cell, mid = float(odl_geom.det_partition.cell_sides[0]), float(odl_geom.det_params.mid_pt[0])
    ours = G.FanBeam2D(
        angles=angles,
        n_detectors=odl_geom.det_partition.shape[0],
        detector_spacing=cell * sdd,
        source_distance=odl_geom.src_radius,
        detector_distance=odl_geom.det_radius,
        detector_offset=mid * sdd,
        detector_curve="arc",
        **image,
    )
    # Our arc detectors are centred on the source; any other curvature, shift or orientation has no equivalent.
    sources, points, _ = ours.ray_geometry()
    theirs_src = np.repeat(odl_geom.src_position(angles) - centre, ours.n_detectors, axis=0)
    theirs_pts = odl_geom.det_point_position(angles[:, None], odl_geom.det_partition.coord_vectors[0][None, :])
    if not (
        math.isclose(radius, sdd, rel_tol=1e-9)
        and np.allclose(sources, theirs_src, atol=1e-6 * sdd)
        and np.allclose(points, theirs_pts.reshape(-1, 2) - centre, atol=1e-6 * sdd)
    ):
        raise TypeError(
            f"an ODL circular detector maps to FanBeam2D(detector_curve='arc') only when centred on the "
            f"source (curvature radius {sdd}, got {radius}) without shifts or re-orientation"
        )
    return ours
