"""python -m experiments evaluate RUN_DIR [section.key=value ...]

The trained model of a run folder against the classical baselines of its modality on the held-out
test set: PSNR and SSIM (scikit-image) and the data fit, as a markdown table (``results.md``) and a
figure grid (``results.png``: ground truth, baselines, learned, error maps). Baselines and their
tuning grids come from the configuration's ``[evaluate.baselines.NAME]`` tables (``method`` one of
`experiments.baselines`, fixed parameters, and ``tune = {param = [values]}`` searched on the
validation set, as the learned primal-dual paper tuned FBP and TV).

Example::

    python -m experiments train ct-lpd --out runs/ct-lpd && python -m experiments evaluate runs/ct-lpd
"""
from __future__ import annotations

import argparse
import time
from functools import partial
from pathlib import Path

import torch
from torch.utils.data import DataLoader

from experiments import baselines, metrics, report
from experiments.checkpoint import load_checkpoint
from experiments.config import apply_overrides
from experiments.tasks import Task, build_model, build_task

COLUMNS = ["method", "PSNR (dB)", "SSIM", "data fit", "s / image"]


def stack(dataset) -> dict:
    """A whole (small) dataset as one batch."""
    return next(iter(DataLoader(dataset, batch_size=len(dataset))))


def run_baselines(task: Task, cfg: dict, y: torch.Tensor, log=print) -> dict:
    """Each configured baseline on ``y``, its free parameters tuned first on the validation set."""
    out = {}
    val = None
    for name, spec in cfg.get("evaluate", {}).get("baselines", {}).items():
        spec = dict(spec)
        method_name, grid = spec.pop("method", None), spec.pop("tune", None)
        methods = [m for m in baselines.__all__ if m.islower() and m != "tune"]
        if method_name not in methods:
            raise ValueError(f"evaluate.baselines.{name}.method: expected one of {methods}, got {method_name!r}")
        method = getattr(baselines, method_name)
        if grid:
            val = val or stack(task.val)
            best, _ = baselines.tune(partial(method, **spec), task.op, val["y"], val["x"], grid)
            spec.update(best)
            log(f"{name}: tuned {best} on {len(task.val)} validation items")
        start = time.perf_counter()
        out[name] = (method(task.op, y, **spec), (time.perf_counter() - start) / y.shape[0])
    return out


def evaluate(task: Task, model: torch.nn.Module, cfg: dict, out: Path, log=print) -> list[dict]:
    """Rows of the results table (one per method), written with the figure to ``out``."""
    test = stack(task.test)
    y, x = test["y"], test["x"]
    recons = run_baselines(task, cfg, y, log)
    model.eval()
    start = time.perf_counter()
    with torch.no_grad():
        recons[cfg["model"]["name"]] = (model(y), (time.perf_counter() - start) / y.shape[0])
    kind = "poisson" if task.modality == "pet" else "l2"
    rows = []
    for method, (image, seconds) in recons.items():
        p, s = metrics.psnr(image, x), metrics.ssim(image, x)
        fit = metrics.data_fit(task.op, image, y, kind=kind)
        rows.append({"method": method, "PSNR (dB)": p, "SSIM": s, "data fit": fit, "s / image": seconds})
    table = report.markdown_table(rows, COLUMNS)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    header = f"{task.description}; {len(task.test)} test items (mean ± std)\n\n"
    (out / "results.md").write_text(header + table + "\n")
    report.figure_grid(out / "results.png", x, {m: r for m, (r, _) in recons.items()})
    log(header + table)
    log(f"\ntable: {out / 'results.md'}\nfigure: {out / 'results.png'}")
    return rows


def load_run(run_dir: Path, overrides=()) -> tuple[dict, Task, torch.nn.Module]:
    """Configuration, task and trained model of a run folder (its ``checkpoint.pt``)."""
    state = load_checkpoint(Path(run_dir) / "checkpoint.pt")
    cfg = apply_overrides(state["config"], overrides)
    task = build_task(cfg)
    model = build_model(task, cfg["model"])
    model.load_state_dict(state["model"])
    return cfg, task, model


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m experiments evaluate", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run_dir", type=Path, help="a folder written by `python -m experiments train`")
    parser.add_argument("overrides", nargs="*", help="section.key=value, e.g. data.n_test=32")
    args = parser.parse_intermixed_args(argv)
    cfg, task, model = load_run(args.run_dir, args.overrides)
    evaluate(task, model, cfg, args.run_dir)
