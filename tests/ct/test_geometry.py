"""Geometry objects: validation, slicing by view, comparison, presets."""

import math

import numpy as np
import pytest

from bridges import ct


def parallel(**changes):
    kw = dict(angles=30, n_detectors=40, detector_spacing=1.0, image_shape=(32, 32))
    return ct.ParallelBeam2D(**{**kw, **changes})


def fan(**changes):
    kw = dict(
        angles=30,
        n_detectors=60,
        detector_spacing=1.0,
        source_distance=100.0,
        detector_distance=50.0,
        image_shape=(32, 32),
    )
    return ct.FanBeam2D(**{**kw, **changes})


def test_number_of_views_spreads_over_the_natural_arc():
    assert np.allclose(parallel().angles, np.arange(30) * math.pi / 30)
    assert np.allclose(fan().angles, np.arange(30) * 2 * math.pi / 30)


def test_slicing_by_view_keeps_the_rest():
    g = fan()
    sub = g[3:9]
    assert sub.n_views == 6 and np.allclose(sub.angles, g.angles[3:9])
    assert sub.source_distance == g.source_distance and sub.image_shape == g.image_shape
    assert g[np.array([0, 5])].n_views == 2


def test_isclose_within_tolerance():
    assert parallel().isclose(parallel(detector_spacing=1.0 + 1e-12))
    assert not parallel().isclose(parallel(detector_spacing=1.01))
    assert not parallel().isclose(fan())


def test_caller_arrays_stay_writable():
    angles = np.linspace(0, 1, 5)
    parallel(angles=angles)
    angles[0] = 3.0  # would raise if the geometry had frozen the caller's array


@pytest.mark.parametrize(
    "bad, match",
    [
        (dict(detector_spacing=float("nan")), "detector_spacing must be finite"),
        (dict(detector_spacing=-1.0), "detector_spacing must be positive"),
        (dict(n_detectors=0), "n_detectors must be positive"),
        (dict(image_shape=(0, 32)), "image_shape must be positive"),
        (dict(pixel_size=float("inf")), "pixel_size must be finite"),
        (dict(angles=np.array([0.0, np.nan])), "angles must be finite"),
        (dict(angles=np.array([])), "at least one view"),
        (dict(image_shape=(32.9, 32.1)), r"image_shape must be whole numbers, got \(32.9, 32.1\)"),  # not (32, 32)
    ],
)
def test_bad_parameters_raise(bad, match):
    with pytest.raises(ValueError, match=match):
        parallel(**bad)


def test_fan_bad_parameters():
    with pytest.raises(ValueError, match="detector_curve must be 'flat' or 'arc'"):
        fan(detector_curve="round")
    with pytest.raises(ValueError, match="lies inside the image"):
        fan(source_distance=10.0)
    with pytest.raises(ValueError, match="no flat-detector vector form"):
        fan(detector_curve="arc").to_vec()


def test_detector_too_small_warns():
    with pytest.warns(UserWarning, match="rays miss part of the image"):
        parallel(n_detectors=10)
    with pytest.warns(UserWarning, match="rays miss part of the image"):
        fan(n_detectors=10)


def test_vector_form_checks_shapes():
    with pytest.raises(ValueError, match=r"detector_centers must have shape \(3, 2\), got \(2, 2\)"):
        ct.ParallelVec2D(
            ray_directions=np.ones((3, 2)),
            detector_centers=np.zeros((2, 2)),
            detector_axes=np.ones((3, 2)),
            n_detectors=4,
            image_shape=(4, 4),
        )


def cone(**changes):
    kw = dict(
        angles=8,
        detector_shape=(6, 20),
        detector_spacing=(1.0, 1.0),
        source_distance=100.0,
        detector_distance=50.0,
        image_shape=(4, 8, 8),
    )
    return ct.ConeBeam3D(**{**kw, **changes})


@pytest.mark.parametrize(
    "geometry",
    [
        parallel(),
        fan(),
        cone(),
        cone(detector_curve="arc"),
        ct.ParallelBeam3D(angles=8, detector_shape=(4, 12), detector_spacing=1.0, image_shape=(4, 8, 8)),
    ],
    ids=["parallel", "fan", "cone", "cone-arc", "parallel-3d"],
)
def test_vector_forms_lead_astras_vectors_with_their_beam(geometry):
    """Each vector form names the vector that fixes its beam (ray direction or source), and ASTRA's vectors of a
    view start with it; views and data shape are the circular geometry's."""
    vec = geometry.to_vec()
    beam = vec.ray_directions if hasattr(vec, "ray_directions") else vec.sources
    assert vec.beam() is beam
    assert (vec.n_views, vec.sinogram_shape, len(vec[2:5])) == (geometry.n_views, geometry.sinogram_shape, 3)
    _, projection, _ = vec.to_astra()
    flip = 1.0 if vec.is_3d else np.array([1.0, -1.0])  # 2D: y mirrored to ASTRA's rows
    np.testing.assert_allclose(projection["Vectors"][:, : beam.shape[1]], beam * flip)


def test_fan_vector_form_checks_its_sources():
    with pytest.raises(ValueError, match=r"detector_axes must have shape \(3, 2\), got \(3, 3\)"):
        ct.FanVec2D(
            sources=np.ones((3, 2)),
            detector_centers=np.zeros((3, 2)),
            detector_axes=np.ones((3, 3)),
            n_detectors=4,
            image_shape=(4, 4),
        )
    with pytest.raises(ValueError, match=r"sources must have shape \(3, 3\), got \(3, 2\)"):
        ct.ConeVec3D(
            sources=np.ones((3, 2)),
            detector_centers=np.zeros((3, 3)),
            column_axes=np.ones((3, 3)),
            row_axes=np.ones((3, 3)),
            detector_shape=(2, 2),
            image_shape=(2, 2, 2),
        )


def test_helical_path_advances_by_pitch_per_turn():
    g = ct.ConeBeam3D.helical(
        n_views=72,
        n_turns=2,
        pitch=30.0,
        detector_shape=(16, 32),
        detector_spacing=1.0,
        source_distance=500,
        detector_distance=400,
        image_shape=(16, 32, 32),
    )
    z = g.sources[:, 2]
    assert np.allclose(np.diff(z), 30.0 / 36) and abs(z.mean()) < 1e-9
    assert np.allclose(np.linalg.norm(g.sources[:, :2], axis=1), 500)


@pytest.mark.parametrize("name", sorted(ct.PRESETS))
def test_presets_downsample_and_cite(name):
    turns = {"n_turns": 1} if ct.PRESETS[name]["kind"] == "helical" else {}  # the same turns at both sizes
    full = ct.scanner(name, **turns)
    small = ct.scanner(
        name, view_step=4, detector_binning=2, image_shape=(64, 64) if not full.is_3d else (16, 32, 32), **turns
    )
    assert small.n_views == full.n_views // 4
    assert "(" in ct.PRESETS[name]["source"]  # a citation with its reference
    if name == "siemens-definition-as":
        assert full.source_distance == 595.0 and full.source_distance + full.detector_distance == 1085.6
        assert full.n_detectors == 736 and full.n_views == 2304 and small.detector_spacing == 2 * 1.2858
    with pytest.raises(ValueError, match="view_step must be a positive integer"):
        ct.scanner(name, view_step=0)


@pytest.mark.parametrize(
    "bad, match",
    [
        (dict(image_shape=(0, 0)), r"image_shape must be positive, got \(0, 0\)"),
        (dict(image_shape=(32.9, 32.1)), "image_shape must be whole numbers"),
        (dict(view_step=5000), "view_step must be at most the preset's 2304 views, got 5000"),
        (dict(detector_binning=737), "detector_binning must be at most the preset's 736 channels, got 737"),
        (dict(fov=0), "fov must be a positive number of mm, got 0"),
    ],
)
def test_presets_refuse_what_would_leave_nothing(bad, match):
    with pytest.raises(ValueError, match=match):
        ct.scanner("siemens-definition-as", **bad)


def test_unknown_preset_lists_the_known_ones():
    with pytest.raises(
        ValueError, match=r"expected a CT scanner preset, one of \[.*'lodopab'.*\], got 'ge-revolution'"
    ):
        ct.scanner("ge-revolution")


def test_geometries_take_keywords_only():
    with pytest.raises(TypeError):
        ct.ParallelBeam2D(20, 35, 1.0, (24, 24))
