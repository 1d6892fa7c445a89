"""Evaluation of a trained model against the classical baselines of its modality, on held-out test items.

PSNR and SSIM (scikit-image), PSNR over the small features where items mark them (``"detail"``) and the
data fit, as a markdown table (``results.md``) and a figure grid (``results.png``: ground truth,
baselines, learned, error maps). Baselines and their tuning grids come
from the configuration's ``[evaluate.baselines.NAME]`` tables (``method`` a name of
`experiments.baselines.BASELINES`, fixed parameters, and ``tune = {param = [values]}`` searched on the
validation set, as the learned primal-dual paper tuned FBP and TV).

Example::

    cfg, task, model = load_run("runs/ct-lpd")
    evaluate(task, model, cfg, "runs/ct-lpd")
"""
from __future__ import annotations

import time
from pathlib import Path

import torch
from torch.utils.data import DataLoader

from experiments import baselines, metrics, report
from experiments.checkpoint import load_checkpoint
from experiments.config import apply_overrides, check_config
from experiments.tasks import Task, build_model, build_task, reconstruct

COLUMNS = ["method", "PSNR (dB)", "SSIM", "data fit", "s / image"]
PAIRED = "ΔPSNR vs best classical (95 % CI), wins"
SMALL = "PSNR small features (dB)"  # over items' "detail" masks (`experiments.data.small_features`), where given


def stack(dataset) -> dict:
    """A whole (small) dataset as one batch."""
    return next(iter(DataLoader(dataset, batch_size=len(dataset))))


def run_baselines(task: Task, cfg: dict, test: dict, log=print) -> dict:
    """Each configured baseline on the collated ``test`` items, with their operator (`Task.operator`: per item
    where items carry their own), its free parameters tuned first on the validation set."""
    out = {}
    val = None
    op, y = task.operator(test), test["y"]
    for name, spec in cfg.get("evaluate", {}).get("baselines", {}).items():
        spec = dict(spec)
        method, grid = spec.pop("method"), spec.pop("tune", None)  # names checked by config.check_config
        if grid:
            val = val or stack(task.val)
            best, _ = baselines.tune(baselines.BASELINES[method], task.operator(val), val["y"], val["x"], grid,
                                     **spec)
            spec.update(best)
            log(f"{name}: tuned {best} on {len(task.val)} validation items")
        method = baselines.baseline(method, **spec)
        start = time.perf_counter()
        out[name] = (method(op, y), (time.perf_counter() - start) / y.shape[0])
    return out


def evaluate(task: Task, model, cfg: dict, out: Path, log=print) -> list[dict]:
    """Rows of the results table (one per method), written with the figure to ``out``. ``model`` is the
    configuration's model, or a dict of named learned models (``[model]`` and ``[compare.NAME]``)."""
    test = stack(task.test)
    y, x = test["y"], test["x"]
    recons = run_baselines(task, cfg, test, log)
    n_classical = len(recons)
    models = model if isinstance(model, dict) else {cfg["model"]["name"]: model}
    for name, learned_model in models.items():
        learned_model.eval()
        start = time.perf_counter()
        with torch.no_grad():
            recons[name] = (reconstruct(learned_model, y, task.batch_operator(test)),
                            (time.perf_counter() - start) / y.shape[0])
    kind = "poisson" if task.modality == "pet" else "l2"
    op = task.operator(test)
    rows = []
    detail = test["detail"].any(dim=(-2, -1)) if "detail" in test else None  # the items with small features
    for method, (image, seconds) in recons.items():
        p, s = metrics.psnr(image, x), metrics.ssim(image, x)
        fit = metrics.data_fit(op, image, y, kind=kind)
        rows.append({"method": method, "PSNR (dB)": p, "SSIM": s, "data fit": fit, "s / image": seconds})
        if detail is not None and detail.any():
            rows[-1][SMALL] = metrics.region_psnr(image[detail], x[detail], test["detail"][detail])
    columns = COLUMNS + ([SMALL] if SMALL in rows[0] else [])
    columns += [PAIRED] if add_paired_column(rows, n_classical) else []
    paper = cfg.get("evaluate", {}).get("paper")
    if paper:
        column = f"paper: PSNR, SSIM ({cfg['evaluate'].get('paper_source', 'published')})"
        for row in rows:
            row[column] = "{:.2f}, {:.3f}".format(*paper[row["method"]]) if row["method"] in paper else "–"
        columns.append(column)
    table = report.markdown_table(rows, columns)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    header = f"{task.description}; {len(task.test)} test items (mean ± std)\n\n"
    (out / "results.md").write_text(header + table + "\n")
    report.figure_grid(out / "results.png", x, {m: r for m, (r, _) in recons.items()})
    log(header + table)
    log(f"\ntable: {out / 'results.md'}\nfigure: {out / 'results.png'}")
    return rows


def add_paired_column(rows: list[dict], n_classical: int) -> bool:
    """Fill `PAIRED` for the rows after the first ``n_classical`` (the learned models), image by image against
    the classical row of highest mean PSNR: the mean difference, its bootstrap 95 % interval, and the
    images won (``metrics.paired_difference``). False when there is no classical row to compare with."""
    if n_classical < 1:
        return False
    best = max(rows[:n_classical], key=lambda r: float(r["PSNR (dB)"].mean()))
    best[PAIRED] = "reference"
    for row in rows[n_classical:]:
        d = metrics.paired_difference(row["PSNR (dB)"], best["PSNR (dB)"])
        row[PAIRED] = (f"{d['mean']:+.2f} dB [{d['low']:+.2f}, {d['high']:+.2f}] vs {best['method']}, "
                       f"{d['wins']}/{d['n']}")
    return True


def load_run(run_dir: Path, overrides=()) -> tuple[dict, Task, torch.nn.Module]:
    """Configuration, task and trained model of a run folder (its ``checkpoint.pt``)."""
    state = load_checkpoint(Path(run_dir) / "checkpoint.pt")
    cfg = check_config(apply_overrides(state["config"], overrides))
    task = build_task(cfg)
    model = build_model(task, cfg["model"])
    model.load_state_dict(state["model"])
    return cfg, task, model
