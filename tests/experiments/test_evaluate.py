"""`python -m experiments evaluate RUN_DIR` and `python -m experiments shift`, on tiny settings."""

import csv
import re

import pytest
import torch

from experiments import baselines, evaluation, metrics
from experiments.commands import evaluate, shift
from experiments.config import load_config
from experiments.training import train

TINY_TV = ["evaluate.baselines.TV.n_iter=20", "evaluate.baselines.TV.tune={lam=[0.3, 1.0]}"]


def test_evaluate_reloads_a_run_and_writes_table_and_figure(tmp_path, capsys):
    cfg = load_config("smoke-ct", ["train.steps=4", 'evaluate.baselines.FBP.method="fbp"'])
    trained = train(cfg, tmp_path, progress=False)
    evaluate.main([str(tmp_path)])
    table = (tmp_path / "results.md").read_text()
    assert "| FBP " in table and "| LearnedPrimalDual " in table and (tmp_path / "results.png").exists()
    # paired statistics against the best classical row: its mark, and the model's difference, interval, wins
    assert evaluation.PAIRED in table and "| reference |" in table
    # the "lpd" phantom marks no small features and has no body; the real anatomy is scored apart
    assert all(column not in table for column in evaluation.REGIONS.values()) and evaluation.REAL in table
    assert (tmp_path / "results-real.png").exists()
    model_row = next(line for line in table.splitlines() if line.startswith("| LearnedPrimalDual "))
    assert re.search(r"[+-]\d+\.\d\d dB \[[+-]\d+\.\d\d, [+-]\d+\.\d\d\] vs \w+, \d+/4 \|$", model_row)
    # the reloaded model is the trained one: same reconstructions of the test set
    _, task, model = evaluation.load_run(tmp_path)
    y = evaluation.stack(task.test)["y"]
    with torch.no_grad():
        torch.testing.assert_close(model.eval()(y), trained.model.eval()(y))
    assert "PSNR" in capsys.readouterr().out


def test_region_columns_where_the_items_mark_their_regions(tmp_path):
    """Body phantoms mark their small ellipses ("detail"), the body's rim and its interior: the table scores every
    method over each of them too, and over the real-anatomy items."""
    cfg = load_config(
        "smoke-ct",
        ["train.steps=2", 'task.phantom="body"', "task.image_size=48", 'evaluate.baselines.FBP.method="fbp"'],
    )
    trained = train(cfg, tmp_path, progress=False)
    rows = evaluation.evaluate(trained.task, trained.model, cfg, tmp_path, log=lambda *_: None)
    test = evaluation.stack(trained.task.test)
    fbp = baselines.baseline("fbp")(trained.task.op, test["y"])
    table = (tmp_path / "results.md").read_text()
    for key, column in evaluation.REGIONS.items():
        marked = test[key].any(dim=(-2, -1))
        assert marked.any() and column in table
        assert all(row[column].shape == (int(marked.sum()),) for row in rows)
        torch.testing.assert_close(
            rows[0][column], metrics.region_psnr(fbp[marked], test["x"][marked], test[key][marked])
        )
    real = evaluation.stack(trained.task.real)
    torch.testing.assert_close(
        rows[0][evaluation.REAL], metrics.psnr(baselines.baseline("fbp")(trained.task.op, real["y"]), real["x"])
    )


def test_shift_reports_the_drop_and_the_fine_tuned_recovery(tmp_path):
    cfg = load_config(
        "ct-lpd",
        [
            "task.image_size=32",
            "task.detector_binning=16",
            "model.n_iter=2",
            "data.n_train=8",
            "data.n_val=2",
            "data.n_test=2",
            "train.steps=2",
            *TINY_TV,
        ],
    )
    rows = shift.shift(cfg, ["task.view_step=64"], ["task.view_step=96"], 2, tmp_path, log=lambda *a: None)
    assert [(r["model"].split(",")[0], r["tested on"]) for r in rows] == [
        ("LearnedPrimalDual", "source"),
        ("LearnedPrimalDual", "target"),
        ("LearnedPrimalDual", "target"),
        ("FBP", "target"),
        ("TV", "target"),
    ]
    assert (tmp_path / "shift.md").exists() and (tmp_path / "finetuned" / "checkpoint.pt").exists()
    with open(tmp_path / "finetuned" / "metrics.csv") as f:
        assert len(list(csv.DictReader(f))) == 2


def test_unknown_baseline_method_is_named_before_any_work():
    with pytest.raises(ValueError, match=r"evaluate.baselines.X.method: expected one of \['cg_sense', .*got 'fpb'"):
        load_config("smoke-ct", ['evaluate.baselines.X.method="fpb"'])
