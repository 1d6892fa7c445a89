"""The batched ASTRA 3D vectors of the CUDA path, checked on ASTRA's CPU projectors.

CI has no GPU, so it can never run the CUDA kernels; it can check the geometry they are given. Each
batched 3D problem is cut back into one 2D problem per slice (the rows or views whose plane is that
slice's), read the way ASTRA's documentation defines the vectors, and run on ASTRA's 2D CPU
projectors: every slice must equal the 2D `Projector` of the original geometry.
"""

import math

import astra
import numpy as np
import pytest
import torch

from bridges import ct
from bridges.ct.astra_layout import astra_3d
from experiments.validation import analytic
from tests.conftest import rel

IMAGE = dict(image_shape=(24, 20), pixel_size=(1.5, 1.25))
GEOMETRIES = {
    "parallel": ct.ParallelBeam2D(angles=20, n_detectors=40, detector_spacing=1.0, detector_offset=1.7, **IMAGE),
    "fan-flat": ct.FanBeam2D(
        angles=24,
        n_detectors=48,
        detector_spacing=1.5,
        source_distance=120,
        detector_distance=80,
        detector_offset=-2.3,
        **IMAGE,
    ),
    "fan-arc": ct.FanBeam2D(
        angles=24,
        n_detectors=48,
        detector_spacing=1.5,
        source_distance=120,
        detector_distance=80,
        detector_offset=2.9,
        detector_curve="arc",
        **IMAGE,
    ),
}
BATCH = 3


def slice_centres(problem):
    """z of each volume slice's centre, from ASTRA's volume geometry."""
    vol = problem.volume_geometry()
    lo, hi, n = vol["option"]["WindowMinZ"], vol["option"]["WindowMaxZ"], vol["GridSliceCount"]
    return lo + (np.arange(n) + 0.5) * (hi - lo) / n


def cylinder_pixels(vectors, n_cols):
    """Per view and column of a one-row ``cyl_cone_vec`` detector: (source, pixel centre, column tangent of one
    column's arc length), by ASTRA's definition (CylConeVec geometry docs; GeometryUtil3D getCylConeAxes)."""
    s, d, u, v, radius = vectors[:, 0:3], vectors[:, 3:6], vectors[:, 6:9], vectors[:, 9:12], vectors[:, 12:13]
    unorm = np.linalg.norm(u, axis=1, keepdims=True)
    a = -np.cross(u, v) * radius / (unorm * np.linalg.norm(v, axis=1, keepdims=True))  # radial
    a = np.where(
        np.linalg.norm(d - a - s, axis=1, keepdims=True) > np.linalg.norm(d + a - s, axis=1, keepdims=True), -a, a
    )  # the cylinder's centre is the one nearer the source
    b = u * radius / unorm
    theta = ((np.arange(n_cols) - (n_cols - 1) / 2)[None, :] * unorm / radius)[..., None]
    centre = (d - a)[:, None, :]
    pixels = centre + a[:, None] * np.cos(theta) + b[:, None] * np.sin(theta)
    tangents = (b[:, None] * np.cos(theta) - a[:, None] * np.sin(theta)) * unorm[:, None] / radius[:, None]
    return np.broadcast_to(s[:, None], pixels.shape), pixels, tangents


def per_slice_2d(geometry, problem, b):
    """The 2D geometry of slice b cut from the batched 3D problem, checking that its rays lie in that slice."""
    z = slice_centres(problem)[b]
    vec, image = problem.vectors, dict(image_shape=geometry.image_shape, pixel_size=geometry.pixel_size)
    if problem.kind == "parallel3d_vec":
        rows = problem.detector_shape[0]
        row_z = vec[:, 5] + (b - (rows - 1) / 2) * vec[:, 11]
        assert np.allclose(row_z, z) and np.allclose(vec[:, [2, 8, 9, 10]], 0)
        return ct.ParallelVec2D(
            ray_directions=vec[:, 0:2],
            detector_centers=vec[:, 3:5],
            detector_axes=vec[:, 6:8],
            n_detectors=problem.detector_shape[1],
            **image,
        )
    n_views = geometry.n_views
    mine = vec[b * n_views : (b + 1) * n_views]
    assert problem.detector_shape[0] == 1
    assert np.allclose(mine[:, [2, 5]], z) and np.allclose(mine[:, [8, 9, 10]], 0)
    if problem.kind == "cone_vec":
        return ct.FanVec2D(
            sources=mine[:, 0:2],
            detector_centers=mine[:, 3:5],
            detector_axes=mine[:, 6:8],
            n_detectors=problem.detector_shape[1],
            **image,
        )
    assert problem.kind == "cyl_cone_vec"
    sources, pixels, tangents = cylinder_pixels(mine, problem.detector_shape[1])
    assert np.allclose(pixels[..., 2], z)
    # one single-pixel flat detector per ray: a line integral along source -> pixel centre
    return ct.FanVec2D(
        sources=sources[..., :2].reshape(-1, 2),
        detector_centers=pixels[..., :2].reshape(-1, 2),
        detector_axes=tangents[..., :2].reshape(-1, 2),
        n_detectors=1,
        **image,
    )


@pytest.mark.parametrize("name", GEOMETRIES)
def test_batched_vectors_cut_per_slice_equal_the_2d_projector(name):
    g = GEOMETRIES[name]
    problem = astra_3d(g, BATCH)
    assert problem.volume_shape == (BATCH, *g.image_shape)
    x = torch.rand(BATCH, *g.image_shape, generator=torch.Generator().manual_seed(0))
    want = ct.Projector(g)(x)
    for b in range(BATCH):
        got = ct.Projector(per_slice_2d(g, problem, b))(x[b]).reshape(g.sinogram_shape)
        assert rel(got, want[b]) < 1e-5, f"slice {b}"


@pytest.mark.parametrize("name", GEOMETRIES)
def test_projection_layout_is_the_sinogram_batch_memory(name):
    g = GEOMETRIES[name]
    problem = astra_3d(g, BATCH)
    sinograms = torch.empty(BATCH, *g.sinogram_shape)
    astra_view = sinograms.view(problem.projection_shape)  # raises if a copy were needed
    assert astra_view.data_ptr() == sinograms.data_ptr()
    geom = problem.projection_geometry()  # ASTRA accepts the vectors (shape, count)
    assert (geom["DetectorRowCount"], len(geom["Vectors"]), geom["DetectorColCount"]) == problem.projection_shape


def test_only_the_arc_batch_asks_for_the_ray_driven_backprojector_and_astra_reads_it(capfd):
    kernels = {name: astra_3d(g, BATCH).settings.get("ProjectionKernel") for name, g in GEOMETRIES.items()}
    assert kernels == {"parallel": None, "fan-flat": None, "fan-arc": "matched_bp"}
    # ASTRA makes CUDA projectors without a GPU, and names any configuration entry it did not read
    for g in GEOMETRIES.values():
        astra.projector3d.delete(astra_3d(g, BATCH).create_projector())
    assert "unused configuration" not in capfd.readouterr().err


def test_batch_must_be_a_positive_integer():
    for bad in (0, -1, 2.5, True):
        with pytest.raises(ValueError, match="batch must be a positive integer"):
            astra_3d(GEOMETRIES["parallel"], bad)


def cylinder_around(fan, rows=5):
    """A circular cone beam with a cylindrical detector whose central row is the arc fan beam ``fan``."""
    return ct.ConeBeam3D(
        angles=fan.angles,
        detector_shape=(rows, fan.n_detectors),
        detector_spacing=(1.0, fan.detector_spacing),
        source_distance=fan.source_distance,
        detector_distance=fan.detector_distance,
        image_shape=(4, *fan.image_shape),
        detector_offset=(0.0, fan.detector_offset),
        detector_curve="arc",
    )


def test_cylindrical_cone_beam_central_row_is_the_arc_fan_beam():
    fan = GEOMETRIES["fan-arc"]
    cone = cylinder_around(fan)
    problem = astra_3d(cone)
    assert problem.kind == "cyl_cone_vec" and problem.projection_shape == cone.sinogram_shape
    sources, pixels, tangents = cylinder_pixels(problem.vectors, cone.detector_shape[1])  # the central row
    want_sources, want_pixels, want_tangents = fan.ray_geometry()
    assert np.allclose(pixels[..., 2], 0) and np.allclose(sources[..., 2], 0)
    assert np.allclose(sources[..., :2].reshape(-1, 2), want_sources)
    assert np.allclose(pixels[..., :2].reshape(-1, 2), want_pixels)
    assert np.allclose(tangents[..., :2].reshape(-1, 2), want_tangents)


def test_ball_closed_form_central_row_is_the_disk_of_the_arc_fan():
    """validate's and the CUDA tests' reference for cylindrical detectors, against the 2D one."""
    fan = GEOMETRIES["fan-arc"]
    ball = analytic.ball_projections(cylinder_around(fan), (3.0, -2.0, 0.0), 6.0)
    assert np.allclose(ball[2], analytic.disk_sinogram(fan, (3.0, -2.0), 6.0))


def test_helical_preset_is_the_published_multi_row_scanner():
    g = ct.scanner("siemens-definition-as-helical", image_shape=(16, 64, 64), fov=250.0, n_turns=2)
    assert isinstance(g, ct.CylConeVec3D) and g.detector_shape == (64, 736)
    assert math.isclose(g.detector_radius, 1085.6)
    row_at_isocentre = np.linalg.norm(g.row_axes[0]) * 595.0 / 1085.6
    assert math.isclose(row_at_isocentre, 0.6, rel_tol=1e-3)  # 64 x 0.6 mm collimation
    per_turn = 2304
    assert g.n_views == 2 * per_turn
    feed = g.sources[per_turn, 2] - g.sources[0, 2]
    assert math.isclose(feed, 0.8 * 64 * 0.6, rel_tol=1e-3)  # pitch factor 0.8
    assert np.allclose(g.detector_centers[:, 2], g.sources[:, 2])  # the detector travels with the source
    # every detector pixel lies on the cylinder about its source
    sources, pixels, _ = cylinder_pixels(astra_3d(g).vectors[:8], 736)
    assert np.allclose(np.linalg.norm((pixels - sources)[..., :2], axis=-1), 1085.6)


def test_helical_default_turns_cover_the_volume_and_turns_refused_elsewhere():
    g = ct.scanner("siemens-definition-as-helical", view_step=16, detector_binning=8, image_shape=(32, 64, 64))
    z_extent = 32 * 500.0 / 64
    assert g.sources[:, 2].max() - g.sources[:, 2].min() >= z_extent - 1e-6
    with pytest.raises(ValueError, match="n_turns is for helical presets only"):
        ct.scanner("lodopab", n_turns=2)
    with pytest.raises(ValueError, match="n_turns must be a positive number"):
        ct.scanner("siemens-definition-as-helical", n_turns=0)


def test_cuda_only_projector_reports_cuda_device_and_fdk_refuses_an_arc_detector():
    g = ct.ConeBeam3D(
        angles=4,
        detector_shape=(8, 16),
        detector_spacing=1.0,
        source_distance=500,
        detector_distance=400,
        image_shape=(8, 16, 16),
        detector_curve="arc",
    )
    A = ct.Projector(g)
    assert A.device.type == "cuda" and (2.0 * A).device.type == "cuda" and A.T.device.type == "cuda"
    assert ct.Projector(GEOMETRIES["parallel"]).device.type == "cpu"
    with pytest.raises(ValueError, match="cylindrical"):
        ct.fdk(A, torch.zeros(g.sinogram_shape))


def test_odl_cylindrical_detector_has_our_pixels():
    """ODL's own cylindrical detector, from `odl_geometry`, puts every pixel where ASTRA's vectors do."""
    from bridges.odl.geometry import odl_geometry

    cone = cylinder_around(GEOMETRIES["fan-arc"])
    odl_geom = odl_geometry(cone)
    _, pixels, _ = cylinder_pixels(astra_3d(cone).vectors, cone.detector_shape[1])  # the central row
    columns = odl_geom.det_partition.meshgrid[0].ravel()
    theirs = np.stack([[odl_geom.det_point_position(a, (c, 0.0)) for c in columns] for a in cone.angles])
    assert type(odl_geom.detector).__name__ == "CylindricalDetector"
    assert np.allclose(theirs, pixels, atol=1e-9)
