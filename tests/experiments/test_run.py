"""The named jobs of `python -m experiments run`, on tiny versions of their embedded defaults."""

import pytest
import torch

from experiments.commands.run import ct_fbp, trained_job
from experiments.commands.run import main as run_main
from experiments.config import load_config
from experiments.evaluation import evaluate, load_run, stack
from experiments.tasks import build_task
from tests.experiments.data.fastmri_files import write_volumes

TINY = ["data.n_train=8", "data.n_val=2", "data.n_test=2", "train.steps=2", "train.batch_size=4"]
TINY_JOBS = {
    "ct-lpd": [
        "task.image_size=32",
        "task.view_step=64",
        "task.detector_binning=16",
        "model.n_iter=2",
        "evaluate.baselines.TV.n_iter=20",
        "evaluate.baselines.TV.tune={lam=[0.3, 1.0]}",
    ],
    "mri-cascade": [
        "task.image_size=32",
        "task.n_coils=4",
        "model.n_cascades=2",
        "model.width=8",
        "evaluate.baselines.L1-wavelet.n_iter=10",
    ],
    "mri-dagan": [
        "task.image_size=32",
        "task.n_coils=4",
        "model.width=8",
        "gan.width=8",
        "evaluate.baselines.L1-wavelet.n_iter=10",
    ],
    "pet-lpd": ["task.downsample=12", "model.n_iter=2", "evaluate.baselines.MLEM.tune={n_iter=[2, 4]}"],
    "lpd-paper": [
        "task.image_size=32",
        "task.fov=32.0",
        "model.n_iter=2",
        "model.width=8",
        "evaluate.baselines.TV.n_iter=20",
        "evaluate.baselines.TV.tune={lam=[0.3, 1.0]}",
    ],
}


def test_ct_fbp_job_reconstructs_and_writes_a_figure(tmp_path):
    rows = ct_fbp(tmp_path, seed=0)
    assert (tmp_path / "ct-fbp.png").stat().st_size > 10_000
    assert all(float(row["PSNR (dB)"]) > 22 for row in rows)


@pytest.mark.parametrize("job", sorted(TINY_JOBS))
def test_trained_job_compares_with_its_baselines(job, tmp_path):
    rows = trained_job(job, tmp_path, overrides=TINY + TINY_JOBS[job])
    methods = [row["method"] for row in rows]
    mri = ["zero-filled", "CG-SENSE", "L1-wavelet"]
    expected = {
        "ct-lpd": ["FBP", "TV", "LearnedPrimalDual"],
        "mri-cascade": [*mri, "DeepCascade"],
        "mri-dagan": [*mri, "FBPConvNet"],
        "pet-lpd": ["MLEM", "OSEM", "LearnedPrimalDual"],
        "lpd-paper": ["FBP", "TV", "LearnedPrimalDual", "FBPConvNet"],
    }[job]
    assert methods == expected
    assert all(torch.isfinite(torch.as_tensor(row["PSNR (dB)"])).all() for row in rows)
    table = (tmp_path / "results.md").read_text()
    assert all(f"| {m} " in table for m in methods)
    assert (tmp_path / "results.png").stat().st_size > 10_000 and (tmp_path / "checkpoint.pt").exists()


def test_lpd_paper_sets_the_papers_values_beside_ours(tmp_path):
    trained_job("lpd-paper", tmp_path, overrides=TINY + TINY_JOBS["lpd-paper"])
    table = (tmp_path / "results.md").read_text()
    assert "paper: PSNR, SSIM (Adler & Öktem 2018, table I, recalled)" in table
    assert "| 38.28, 0.989 |" in table.split("| LearnedPrimalDual ")[1].splitlines()[0]
    assert (tmp_path / "FBPConvNet" / "checkpoint.pt").exists()  # the compared model trained in its own folder
    # the paper's own simulation (discrete), and the same models on data it did not simulate
    assert "discrete: the inverse crime" in table
    free = (tmp_path / "crime-free" / "results.md").read_text()
    assert "exact line integrals" in free and "| LearnedPrimalDual " in free and "| FBPConvNet " in free


def test_fastmri_job_trains_and_evaluates_on_files_in_fastmris_layout(tmp_path, capsys):
    """python -m experiments run mri-varnet-fastmri --data PATH on three small volumes (train, validation, test):
    each batch with its slices' own maps and masks, evaluated against the baselines on the same per-item operator."""
    root = write_volumes(tmp_path / "files")
    tiny = [
        "task.image_size=32",
        "task.n_coils=4",
        "task.acceleration=2",
        "task.center_fraction=0.375",
        "task.calib_width=12",
        "model.n_cascades=2",
        "model.width=4",
        "model.depth=1",
        "train.steps=2",
        "train.batch_size=2",
        "evaluate.baselines.CG-SENSE.tune={n_iter=[2, 4]}",
    ]
    run_main(["mri-varnet-fastmri", "--data", str(root), "--out", str(tmp_path / "runs"), *tiny])
    out = tmp_path / "runs" / "mri-varnet-fastmri"
    table = (out / "results.md").read_text()
    assert all(f"| {m} " in table for m in ("zero-filled", "CG-SENSE", "VarNet"))
    assert "2 test items" in table and (out / "checkpoint.pt").exists()
    cfg, task, model = load_run(out)
    assert cfg["data"]["root"] == str(root) and len(task.train) == 2 and task.item_operator is not None
    rows = evaluate(task, model, cfg, tmp_path / "again", log=lambda *a: None)
    psnr = {row["method"]: float(row["PSNR (dB)"].mean()) for row in rows}
    assert psnr["CG-SENSE"] > psnr["zero-filled"] and all(torch.isfinite(torch.tensor(list(psnr.values()))))


def test_pet_job_with_a_mu_map_per_item(tmp_path):
    """Each PET item has its own body and μ-map: the batch's SystemModel is the items' own models stacked, and the
    job trains and evaluates with it (the learned primal-dual's OSEM start included)."""
    overrides = TINY + TINY_JOBS["pet-lpd"]
    task = build_task(load_config("pet-lpd", overrides))
    batch = stack(task.test)
    op = task.batch_operator(batch)
    assert op.item_axes == 1 and op.domain_shape == (2, *task.op.domain_shape)
    with torch.no_grad():
        for i in range(2):
            own = task.op.with_attenuation(batch["mu"][i])
            torch.testing.assert_close(op.expected(batch["x"])[i], own.expected(batch["x"][i]))
            torch.testing.assert_close(op.adjoint(batch["y"])[i], own.adjoint(batch["y"][i]))
    rows = trained_job("pet-lpd", tmp_path, overrides=overrides)
    assert [row["method"] for row in rows] == ["MLEM", "OSEM", "LearnedPrimalDual"]
    assert all(torch.isfinite(torch.as_tensor(row["PSNR (dB)"])).all() for row in rows)
