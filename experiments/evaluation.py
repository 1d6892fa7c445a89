"""Evaluation of a trained model against the classical baselines of its modality, on held-out test items.

PSNR and SSIM (scikit-image), PSNR over the regions the items mark (small features, the body's rim and
interior), PSNR on the task's real-anatomy items where it has them (out of distribution) and the data fit, as a
markdown table (``results.md``) and figure grids (``results.png``: ground truth, baselines, learned, error maps;
``results-real.png`` for the real anatomy). Baselines and their tuning grids come
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
from experiments.checkpoint import load_checkpoint, load_weights
from experiments.config import apply_overrides, check_config
from experiments.tasks import Task, build_model, build_task, reconstruct

COLUMNS = ["method", "PSNR (dB)", "SSIM", "data fit", "s / image"]
PAIRED = "ΔPSNR vs best classical (95 % CI), wins"
# PSNR over parts of each image (`metrics.region_psnr`), where the items mark them: the small features
# (`experiments.data.small_features`), the body's rim and its interior (`experiments.data.body_regions`)
REGIONS = {"detail": "PSNR small features (dB)", "rim": "PSNR rim (dB)", "interior": "PSNR interior (dB)"}
REAL = "PSNR real anatomy (dB)"  # the task's real-anatomy items (`Task.real`): out of distribution
PAIRED_INTERIOR = "ΔPSNR interior vs best classical (95 % CI), wins"


def stack(dataset) -> dict:
    """A whole (small) dataset as one batch."""
    return next(iter(DataLoader(dataset, batch_size=len(dataset))))


def tuned_baselines(task: Task, cfg: dict, log=print) -> dict:
    """Each configured baseline as ``method(op, y)``, its free parameters tuned first on the validation set (with
    its items' operators, `Task.operator`)."""
    methods, val = {}, None
    for name, spec in cfg["evaluate"]["baselines"].items():
        spec = dict(spec)
        method, grid = spec.pop("method"), spec.pop("tune", None)  # names checked by config.check_config
        if grid:
            val = val or stack(task.val)
            best, _ = baselines.tune(baselines.BASELINES[method], task.operator(val), val["y"], val["x"], grid, **spec)
            spec.update(best)
            log(f"{name}: tuned {best} on {len(task.val)} validation items")
        methods[name] = baselines.baseline(method, **spec)
    return methods


def reconstructions(task: Task, items: dict, methods: dict, models: dict) -> dict:
    """``{name: (images, seconds per image)}`` of each classical method (`tuned_baselines`) and learned model on the
    collated ``items``."""
    op, y = task.operator(items), items["y"]
    out = {}
    for name, method in methods.items():
        start = time.perf_counter()
        out[name] = (method(op, y), (time.perf_counter() - start) / y.shape[0])
    for name, model in models.items():
        model.eval()
        start = time.perf_counter()
        with torch.no_grad():
            out[name] = (reconstruct(model, y, task.batch_operator(items)), (time.perf_counter() - start) / y.shape[0])
    return out


def run_baselines(task: Task, cfg: dict, test: dict, log=print) -> dict:
    """Each configured baseline on the collated ``test`` items (`tuned_baselines`, `reconstructions`)."""
    return reconstructions(task, test, tuned_baselines(task, cfg, log), {})


def evaluate(task: Task, model, cfg: dict, out: Path, log=print) -> list[dict]:
    """Rows of the results table (one per method), written with the figure to ``out``. ``model`` is the
    configuration's model, or a dict of named learned models (``[model]`` and ``[compare.NAME]``)."""
    test = stack(task.test)
    x = test["x"]
    methods = tuned_baselines(task, cfg, log)
    models = model if isinstance(model, dict) else {cfg["model"]["name"]: model}
    recons = reconstructions(task, test, methods, models)
    real = stack(task.real) if task.real is not None else None
    real_recons = reconstructions(task, real, methods, models) if real is not None else {}
    kind = "poisson" if task.modality in ("pet", "spect") else "l2"
    op = task.operator(test)
    rows = []
    for method, (image, seconds) in recons.items():
        row = {
            "method": method,
            "PSNR (dB)": metrics.psnr(image, x),
            "SSIM": metrics.ssim(image, x),
            "data fit": metrics.data_fit(op, image, test["y"], kind=kind),
            "s / image": seconds,
        }
        row.update(region_scores(image, x, test))
        if method in real_recons:
            row[REAL] = metrics.psnr(real_recons[method][0], real["x"])
        rows.append(row)
    columns = COLUMNS + [c for c in (*REGIONS.values(), REAL) if c in rows[0]]
    columns += [PAIRED] if add_paired_column(rows, len(methods)) else []
    if PAIRED in columns and REGIONS["interior"] in rows[0]:  # an edge cannot carry the comparison
        add_paired_column(rows, len(methods), REGIONS["interior"], PAIRED_INTERIOR)
        columns.append(PAIRED_INTERIOR)
    paper = cfg["evaluate"]["paper"]
    if paper:
        column = f"paper: PSNR, SSIM ({cfg['evaluate']['paper_source']})"
        for row in rows:
            row[column] = "{:.2f}, {:.3f}".format(*paper[row["method"]]) if row["method"] in paper else "–"
        columns.append(column)
    table = report.markdown_table(rows, columns)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    header = f"{task.description}; {len(task.test)} test items (mean ± std)"
    if real is not None:
        header += f"; {REAL.split(' (')[0]}: {len(task.real)} items"
    header += "\n\n"
    (out / "results.md").write_text(header + table + "\n")
    origin = "upper" if task.modality == "mri" else "lower"  # CT, PET and SPECT images grow in y with the row
    report.figure_grid(out / "results.png", x, {m: r for m, (r, _) in recons.items()}, origin=origin)
    if real is not None:
        report.figure_grid(
            out / "results-real.png", real["x"], {m: r for m, (r, _) in real_recons.items()}, origin=origin
        )
    log(header + table)
    log(f"\ntable: {out / 'results.md'}\nfigure: {out / 'results.png'}")
    return rows


def region_scores(image, truth, items: dict) -> dict:
    """`REGIONS`' PSNR over each region that the items mark, over the items where it is not empty."""
    scores = {}
    for key, column in REGIONS.items():
        if key in items:
            has = items[key].any(dim=(-2, -1))
            if has.any():
                scores[column] = metrics.region_psnr(image[has], truth[has], items[key][has])
    return scores


def add_paired_column(rows: list[dict], n_classical: int, score: str = "PSNR (dB)", column: str = PAIRED) -> bool:
    """Fill ``column`` for the rows after the first ``n_classical`` (the learned models), image by image against
    the classical row of highest mean PSNR: the mean difference of ``score``, its bootstrap 95 % interval, and the
    images won (``metrics.paired_difference``). False when there is no classical row to compare with."""
    if n_classical < 1:
        return False
    best = max(rows[:n_classical], key=lambda r: float(r["PSNR (dB)"].mean()))
    best[column] = "reference"
    for row in rows[n_classical:]:
        d = metrics.paired_difference(row[score], best[score])
        row[column] = (
            f"{d['mean']:+.2f} dB [{d['low']:+.2f}, {d['high']:+.2f}] vs {best['method']}, {d['wins']}/{d['n']}"
        )
    return True


def load_run(run_dir: Path, overrides=()) -> tuple[dict, Task, torch.nn.Module]:
    """Configuration, task and trained model of a run folder (its ``checkpoint.pt``)."""
    path = Path(run_dir) / "checkpoint.pt"
    state = load_checkpoint(path, keys=("config", "model"))
    cfg = check_config(apply_overrides(state["config"], overrides))
    task = build_task(cfg)
    model = build_model(task, cfg["model"])
    load_weights(model, state, path, cfg["model"])
    return cfg, task, model
