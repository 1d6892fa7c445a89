"""The spect-lpd job on a tiny version of its configuration: per-item operators (each item its μ-map and scatter),
training, and evaluation against MLEM, OSEM and post-filtered OSEM."""

import torch

from experiments import baselines
from experiments.commands.run import trained_job
from experiments.config import load_config
from experiments.evaluation import stack
from experiments.tasks import build_task

TINY = [
    "data.n_train=4",
    "data.n_val=2",
    "data.n_test=2",
    "train.steps=2",
    "train.batch_size=2",
    "task.image_size=16",
    "task.pixel_size=24.0",
    "task.n_views=12",
    "model.n_iter=2",
    "model.width=4",
    "evaluate.baselines.MLEM.tune={n_iter=[2, 4]}",
    "evaluate.baselines.OSEM.tune={n_iter=[1, 2]}",
    "evaluate.baselines.OSEM-filtered.tune={n_iter=[1, 2], fwhm=[0.0, 30.0]}",
]


def test_spect_job_with_a_mu_map_and_scatter_per_item(tmp_path):
    task = build_task(load_config("spect-lpd", TINY))
    batch = stack(task.test)
    op = task.batch_operator(batch)
    assert op.item_axes == 1 and op.domain_shape == (2, *task.op.domain_shape)
    with torch.no_grad():
        for i in range(2):
            own = task.op.with_attenuation(batch["mu"][i], background=batch["scatter"][i])
            torch.testing.assert_close(op.expected(batch["x"])[i], own.expected(batch["x"][i]))
            torch.testing.assert_close(op.adjoint(batch["y"])[i], own.adjoint(batch["y"][i]))
    assert "finer grid and detector" in task.description
    rows = trained_job("spect-lpd", tmp_path, overrides=TINY)
    assert [row["method"] for row in rows] == ["MLEM", "OSEM", "OSEM-filtered", "LearnedPrimalDual"]
    assert all(torch.isfinite(torch.as_tensor(row["PSNR (dB)"])).all() for row in rows)
    table = (tmp_path / "results.md").read_text()
    assert "ΔPSNR vs best classical" in table and (tmp_path / "results.png").stat().st_size > 10_000


def test_osem_post_filter_keeps_a_uniform_image_and_smooths_noise():
    flat = torch.full((3, 20, 20), 2.0)
    torch.testing.assert_close(baselines.gaussian_filter(flat, 3.0), flat)  # renormalised at the edges
    noise = torch.randn(3, 20, 20, generator=torch.Generator().manual_seed(0))
    assert float(baselines.gaussian_filter(noise, 3.0).std()) < 0.5 * float(noise.std())
    assert baselines.gaussian_filter(noise, 0.0) is noise
