"""python -m experiments uncertainty on a seconds-long CT job, and the dropout it fine-tunes (learned.ConvBlock)."""

import time

import pytest
import torch

from experiments.commands.uncertainty import main as uncertainty_main
from experiments.commands.uncertainty import uncertainty
from experiments.config import apply_overrides, check_config, load_config
from experiments.tasks import SPLITS, build_model, build_task
from experiments.training import train
from experiments.uncertainty import methods


@pytest.fixture(scope="module")
def smoke_job(tmp_path_factory):
    out = tmp_path_factory.mktemp("smoke-job")
    cfg = load_config("smoke-ct", ["train.steps=4", "train.checkpoint_every=4"])
    train(cfg, out, progress=False)
    return out / "checkpoint.pt"


def test_dropout_adds_no_weights_and_samples_reproducibly(smoke_job):
    cfg = load_config("smoke-ct")
    task = build_task(cfg)
    plain = methods.load_model(task, cfg["model"], smoke_job)
    dropped = methods.load_model(task, {**cfg["model"], "dropout": 0.2}, smoke_job)  # a dropout-free checkpoint
    assert plain.state_dict().keys() == dropped.state_dict().keys()
    y = torch.stack([task.test[i]["y"] for i in range(2)])
    with torch.no_grad():
        assert torch.equal(plain(y), dropped(y))  # in eval mode dropout is off
    first, spread_a = methods.mc_dropout(dropped, y, None, n_samples=3, seed=0)
    again, spread_b = methods.mc_dropout(dropped, y, None, n_samples=3, seed=0)
    assert torch.equal(first, again) and torch.equal(spread_a, spread_b)
    assert (spread_a > 0).any() and not dropped.training and not any(m.training for m in dropped.modules())
    with pytest.raises(ValueError, match="no dropout"):
        methods.mc_dropout(plain, y, None, n_samples=2)
    with pytest.raises(ValueError, match=r"model.dropout.*\[0, 1\)"):
        check_config(apply_overrides(cfg, ["model.dropout=1.0"]))
    with pytest.raises(ValueError, match=r"dropout in \[0, 1\)"):
        build_model(task, {**cfg["model"], "dropout": -0.1})


def test_calibration_items_are_a_stream_of_their_own():
    cfg = load_config("smoke-ct", ["data.n_calib=3"])
    task = build_task(cfg)
    assert SPLITS["calib"] == 3 and len(task.calib) == 3
    calib = torch.stack([task.calib[i]["x"] for i in range(3)])
    for split in (task.train, task.val, task.test):
        others = torch.stack([split[i]["x"] for i in range(3)])
        assert not any(torch.equal(c, o) for c in calib for o in others)


def test_residual_map_is_the_scaled_back_projection_of_the_data_misfit():
    cfg = load_config("smoke-ct")
    task = build_task(cfg)
    item = task.test[0]
    x, y = item["x"][None], item["y"][None]
    image, norm = methods.residual(task.op, x, y)
    r = task.op(x) - y
    assert torch.allclose(image, task.op.T(r).abs() / task.op.norm() ** 2)
    assert norm.item() == pytest.approx((r.norm() / y.norm()).item(), rel=1e-5)


def test_uncertainty_command_writes_tables_and_figure_and_reuses_its_models(smoke_job, tmp_path, capsys):
    start = time.perf_counter()
    cfg = load_config("smoke-ct", ["train.steps=4", "train.checkpoint_every=4"])
    result = uncertainty(
        check_config(cfg), smoke_job, tmp_path, n_members=2, n_samples=3, dropout_steps=2, n_calib=24, n_test=4
    )
    table = (tmp_path / "results.md").read_text()
    for text in (
        "deep ensemble (K = 2)",
        "MC dropout (p = 0.1, 2 steps, T = 3)",
        "A^H(A x̂ − y)",
        "RCPS, Hoeffding-Bentkus",
        "CRC (in expectation)",
        "coverage (%)",
        "Spearman ρ (pixels)",
        "AUSE",
        "AUROC 24 views",
        "AUROC I0 = 2500",
        "AUROC real anatomy",
        "extra training",
    ):
        assert text in table, text
    assert (tmp_path / "uncertainty.png").stat().st_size > 10_000
    assert (tmp_path / "members" / "seed-1" / "checkpoint.pt").exists()
    # 24 calibration items: Hoeffding-Bentkus needs R̂ = 0 there, so λ covers every calibration pixel
    assert all(lam > 0 for lam in result["lambdas"].values())
    for row in result["calibration"]:
        if row["calibration"] == "RCPS, Hoeffding-Bentkus":
            assert float(row["coverage (%)"]) > 80
    capsys.readouterr()
    # a rerun from the command line reuses the trained members and the dropout model
    uncertainty_main(
        [
            "smoke",
            "--checkpoint",
            str(smoke_job),
            "--out",
            str(tmp_path),
            "--members",
            "2",
            "--samples",
            "3",
            "--dropout-steps",
            "2",
            "--n-calib",
            "24",
            "--n-test",
            "4",
            "train.steps=4",
            "train.checkpoint_every=4",
        ]
    )
    log = capsys.readouterr().out
    assert log.count("reusing") == 2 and not any(line.startswith("trained ") for line in log.splitlines())
    assert time.perf_counter() - start < 60


def test_a_checkpoint_from_an_older_schema_uses_the_jobs_file_if_it_matches(smoke_job, tmp_path):
    from experiments.checkpoint import load_checkpoint, save_checkpoint
    from experiments.commands.uncertainty import job_config

    state = load_checkpoint(smoke_job, keys=("config", "model"))
    old = {**state["config"], "train": {**state["config"]["train"], "threads": 1}}  # a key since renamed
    old["train"]["steps"] = load_config("smoke-ct")["train"]["steps"]
    old["train"].pop("checkpoint_every", None)
    save_checkpoint(tmp_path / "old.pt", {**state, "config": old})
    cfg = job_config("smoke-ct", tmp_path / "old.pt", log=lambda *a: None)
    assert cfg == check_config(load_config("smoke-ct"))
    old["model"] = {**old["model"], "width": 4}
    save_checkpoint(tmp_path / "other.pt", {**state, "config": old})
    with pytest.raises(ValueError, match=r"differs from it in \['model.width'\]"):
        job_config("smoke-ct", tmp_path / "other.pt")
