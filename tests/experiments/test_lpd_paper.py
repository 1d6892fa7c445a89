"""The pieces of the learned primal-dual paper's setting (`python -m experiments run lpd-paper`), each against
an independent reference: ODL's geometry, the noise's moments, the phantoms' definitions."""

import math

import odl
import pytest
import torch
from odl.applications import tomo

from bridges import ct
from bridges.odl import geometry_from_odl
from experiments.config import load_config
from experiments.data import ellipses, lpd_ellipse_table, lpd_signed_ellipses, shepp_logan
from experiments.data.noise import relative_gaussian_noise
from experiments.tasks import build_task, paper_parallel_beam


@pytest.mark.parametrize("size, fov", [(128, 128.0), (64, 100.0)])
def test_parallel_beam_samples_as_odls_parallel_beam_geometry(size, fov):
    space = odl.uniform_discr([-fov / 2] * 2, [fov / 2] * 2, (size, size), dtype="float32")
    reference = geometry_from_odl(tomo.parallel_beam_geometry(space, num_angles=30), space)
    ours = paper_parallel_beam(size, fov, 30)
    x = torch.rand(size, size, generator=torch.Generator().manual_seed(0))
    a, b = ct.Projector(reference)(x), ct.Projector(ours)(x)
    assert ours.n_detectors == reference.n_detectors
    assert float((a - b).norm() / a.norm()) < 1e-5


def test_relative_gaussian_noise_has_the_papers_standard_deviation():
    data = torch.linspace(-2.0, 6.0, 200_000)
    noisy = relative_gaussian_noise(data, 0.05, torch.Generator().manual_seed(0))
    expected = 0.05 * float(data.abs().mean())
    assert float((noisy - data).std()) == pytest.approx(expected, rel=0.01)
    assert float((noisy - data).mean()) == pytest.approx(0.0, abs=3 * expected / math.sqrt(data.numel()))
    assert torch.equal(relative_gaussian_noise(data, 0.0, torch.Generator()), data)


@pytest.mark.parametrize("level", [-0.1, float("nan"), "5%"])
def test_relative_gaussian_noise_refuses_a_bad_level(level):
    with pytest.raises(ValueError, match="noise level"):
        relative_gaussian_noise(torch.zeros(3), level, torch.Generator())


def test_signed_phantom_is_the_tables_sum_unclipped():
    table = lpd_ellipse_table(torch.Generator().manual_seed(3))
    phantom = lpd_signed_ellipses((64, 64), torch.Generator().manual_seed(3))
    assert torch.equal(phantom, ellipses((64, 64), table))
    assert float(phantom.min()) < 0 < float(phantom.max())  # signed, as the paper's random_phantom


def test_lpd_paper_task_trains_on_ellipses_and_tests_on_shepp_logan():
    cfg = load_config("lpd-paper", ["task.image_size=32", "task.fov=32.0", "data.n_train=2", "data.n_test=2"])
    task = build_task(cfg)
    assert task.op.range_shape == (30, 47)
    truth = shepp_logan((32, 32), mu=1.0)
    assert all(torch.equal(task.test[i]["x"], truth) for i in range(2))
    assert not torch.equal(task.test[0]["y"], task.test[1]["y"])  # independent noise realisations
    assert not torch.equal(task.train[0]["x"], truth)


def test_a_published_value_must_be_psnr_and_ssim():
    with pytest.raises(ValueError, match=r"evaluate.paper.TV: expected \[PSNR in dB, SSIM\]"):
        load_config("lpd-paper", ["evaluate.paper={TV=[28.06]}"])
