"""bridges.spect: operator checks, closed forms, a first-principles reference, EM, PyTomography."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from bridges import spect
from bridges.solvers import mlem, osem
from bridges.testing import check_operator
from experiments.validation.spect import (
    FIRST_PRINCIPLES_TOL,
    PYTOMOGRAPHY_TOL,
    first_principles,
    point_source_errors,
    pytomography_forward,
    smooth_phantom,
    water_disk_error,
)

LEHR = spect.collimator("siemens-symbia-lehr")


def small(shape, views=8, heads=1):
    return spect.SPECTGeometry.circular(shape, 64.0 / shape[-1], views, 60.0, heads=heads)


@pytest.mark.parametrize("shape", [(6, 6), (3, 6, 6)], ids=["2d", "3d"])
def test_operator_checks(shape):
    g = small(shape, views=4, heads=2)
    _, mu = smooth_phantom(g)
    A = spect.Projector(g, spect.collimator("ge-discovery-670-lehr"), attenuation=mu)
    figures = check_operator(A, adjoint_rtol=1e-5)
    assert figures["adjoint_error"] < 1e-6


@pytest.mark.parametrize("shape", [(16, 16), (2, 16, 16)], ids=["2d", "3d"])
def test_adjoint_float64(shape):
    g = small(shape)
    _, mu = smooth_phantom(g)
    A = spect.Projector(g, LEHR, attenuation=mu, dtype=torch.float64)
    assert A.adjoint_error() < 1e-13
    assert A.T.adjoint_error() < 1e-13


def test_point_source_fwhm_and_position():
    fwhm_err, pos_err = point_source_errors(LEHR)
    assert fwhm_err < 5e-3 and pos_err < 1e-9


def test_water_disk_attenuation():
    assert water_disk_error(views=4) < 2e-3  # measured 3.9e-4 over 12 views


@pytest.mark.parametrize("shape", [(20, 20), (3, 20, 20)], ids=["2d", "3d"])
def test_counts_conserved_without_attenuation(shape):
    """Convention: line integrals, so each view's bins (and rows) sum to pixel_size · Σ x for an image inside the
    inscribed disk, blurred or not (a 3D blur across rows keeps counts only away from the slab's faces: no z blur)."""
    g = spect.SPECTGeometry(
        shape, 3.0, tuple(np.linspace(0, 2 * math.pi, 10, endpoint=False)), 80.0, n_bins=40
    )  # detector wider than the image: no counts blurred past its edge
    xs, ys = g.pixel_positions()
    disk = torch.from_numpy((xs[None, :] ** 2 + ys[:, None] ** 2) < (8 * 3.0) ** 2)
    x = torch.rand(shape, dtype=torch.float64) * disk
    blur = LEHR if len(shape) == 2 else None
    y = spect.Projector(g, blur, dtype=torch.float64)(x)
    per_view = y.sum(-1) if len(shape) == 2 else y.sum((0, 2))
    assert torch.allclose(per_view, 3.0 * x.sum().expand_as(per_view), rtol=1e-12)


def test_first_principles_agreement():
    g = spect.SPECTGeometry.circular((32, 32), 8.0, 16, 180.0, heads=2)
    activity, mu = smooth_phantom(g)
    ours = spect.Projector(g, LEHR, attenuation=mu, dtype=torch.float64)(activity)
    reference = torch.from_numpy(first_principles(g, LEHR, activity, mu))
    assert float((ours - reference).norm() / reference.norm()) < FIRST_PRINCIPLES_TOL


def test_mlem_and_osem_reduce_poisson_nll():
    g = spect.SPECTGeometry.circular((24, 24), 4.0, 12, 80.0, heads=2)
    activity, mu = smooth_phantom(g, torch.float32)
    A = spect.Projector(g, LEHR, attenuation=mu)
    data = spect.simulate(A, activity, 2e4, scatter_fraction=0.2, windows=(3.0, 28.0, 3.0), seed=0)
    model = spect.Projector(g, LEHR, attenuation=mu, background=data.scatter)

    def nll(x):
        ybar = model.expected(x)
        return float((ybar - data.counts * torch.log(ybar)).sum())

    start = torch.ones_like(activity)
    for x in (mlem(model, data.counts, 5), osem(model, data.counts, 2, n_subsets=4)):
        assert nll(x) < nll(start) and bool((x >= 0).all())


def test_tew_unbiased_and_simulate_scale():
    g = small((16, 16))
    A = spect.Projector(g, LEHR)
    data = spect.simulate(A, torch.rand(16, 16), 1e6, scatter_fraction=0.3, windows=(3.0, 28.0, 3.0), seed=1)
    estimate = spect.tew_scatter(data.lower, data.upper, 3.0, 3.0, 28.0)
    assert abs(float(estimate.sum() / data.scatter.sum()) - 1) < 0.02
    assert abs(float(data.primary.sum()) - 1e6) < 1.0
    assert spect.tew_scatter(torch.tensor(6.0), torch.tensor(3.0), 3.0, 3.0, 28.0) == pytest.approx(42.0)


def test_collimator_formula_and_presets():
    c = spect.collimator("siemens-symbia-lehr")
    assert c.effective_length == pytest.approx(24.05 - 2 / spect.lead_mu(140.5))
    assert spect.lead_mu(140.5) == pytest.approx(
        2.692, rel=1e-3
    )  # log-log NIST XCOM (PyTomography interpolates to 2.834)
    d = 100.0
    assert c.fwhm(d) == pytest.approx(
        math.hypot(3.8 * math.sqrt(140 / 140.5), 1.11 * (c.effective_length + d) / c.effective_length)
    )
    geometry, _ = spect.camera("ge-discovery-670-lehr", image_shape=(8, 8), pixel_size=4.0, n_views=6)
    assert geometry.heads == (0, 0, 0, 1, 1, 1) and geometry.range_shape == (6, 8)
    with pytest.raises(ValueError, match="expected a preset"):
        spect.collimator("nope")


def test_bad_inputs():
    g = small((8, 8))
    with pytest.raises(ValueError, match="attenuation"):
        spect.Projector(g, LEHR, attenuation=torch.zeros(9, 9))
    with pytest.raises(ValueError, match="shape"):
        spect.Projector(g, LEHR)(torch.zeros(9, 9))
    with pytest.raises(ValueError, match="multiple of heads"):
        spect.SPECTGeometry.circular((8, 8), 1.0, 7, 50.0, heads=2)


def test_pytomography_agreement():
    pytest.importorskip("pytomography")
    g = spect.SPECTGeometry.circular((2, 32, 32), 8.84, 24, 250.0, heads=2)
    activity, mu = smooth_phantom(g, torch.float32)
    ours = spect.Projector(g, LEHR, attenuation=mu)(activity)
    theirs = pytomography_forward(g, LEHR, mu)(activity)
    assert float((ours.double() - theirs).norm() / theirs.norm()) < PYTOMOGRAPHY_TOL
