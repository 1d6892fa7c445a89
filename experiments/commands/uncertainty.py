"""python -m experiments uncertainty JOB [--checkpoint PATH] [--out DIR] [options] [section.key=value ...]

Calibrated per-pixel intervals for a trained job (`experiments.uncertainty`): a deep ensemble, Monte Carlo dropout
and the data residual as heuristics, each turned into intervals ``x̂ ± λu`` with λ calibrated on held-out
calibration items (risk-controlling prediction sets with the Hoeffding and Hoeffding-Bentkus bounds, and
conformal risk control), then scored on test items in distribution, under shift (fewer views or a higher
acceleration, more noise) and on real anatomy. Writes ``results.md`` (two tables) and ``uncertainty.png`` (truth,
reconstruction, |error|, the interval's half-width, where the truth left it) to ``--out``.

The job's checkpoint (``runs/JOB/checkpoint.pt``, from ``python -m experiments run JOB``) is member 0 of the
ensemble; the other members (the job's configuration with seeds 1 .. K − 1) and the dropout model (the checkpoint
fine-tuned with ``model.dropout``) are trained once under ``--out`` and reused by later runs.

Example::

    python -m experiments run ct-lpd && python -m experiments uncertainty ct-lpd
"""

from __future__ import annotations

import argparse
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

from experiments import metrics, report
from experiments.checkpoint import load_checkpoint
from experiments.config import apply_overrides, check_config, load_config
from experiments.evaluation import stack, tuned_baselines
from experiments.tasks import Task, build_task, reconstruct
from experiments.uncertainty import calibration, measures, methods

ALPHA, DELTA = 0.1, 0.1
CHUNK = 128  # items per forward pass


@dataclass
class Heuristic:
    """One method's centre (magnitude) and per-pixel heuristic on a set of items; ``item_score`` its per-item
    uncertainty (default: the heuristic's mean over the mask)."""

    centre: torch.Tensor
    u: torch.Tensor | None
    item_score: torch.Tensor | None = None


@dataclass
class ItemSet:
    """A set of items and every heuristic's output on it."""

    name: str
    task: Task
    items: dict
    truth: torch.Tensor = None
    mask: torch.Tensor = None
    heuristics: dict = field(default_factory=dict)
    baselines: dict = field(default_factory=dict)  # name -> magnitude image
    seconds: dict = field(default_factory=dict)  # name -> seconds per image


def default_shifts(cfg: dict) -> list[tuple[str, list[str]]]:
    """The shifted settings, relative to the job's: CT two thirds of the views and a quarter of the photons (twice
    the noise's standard deviation), MRI 1.5 times the acceleration and three times the noise."""
    t = cfg["task"]
    if t["modality"] == "ct":
        if t.get("geometry") == "parallel":
            views = [f"task.n_views={max(1, round(t['n_views'] * 2 / 3))}"]
        else:
            views = [f"task.view_step={round(t['view_step'] * 3 / 2)}"]
        return [("fewer views", views), ("higher noise", [f"task.photons={float(t['photons']) / 4!r}"])]
    if t["modality"] == "mri" and cfg["data"]["source"] == "synthetic":
        return [
            ("higher acceleration", [f"task.acceleration={float(t['acceleration']) * 1.5!r}"]),
            ("higher noise", [f"task.noise_sigma={float(t['noise_sigma']) * 3!r}"]),
        ]
    return []


def _shift_label(name: str, task: Task, cfg: dict) -> str:
    t = cfg["task"]
    if name == "fewer views":
        return f"{task.op.range_shape[-2]} views"
    if name == "higher noise" and t["modality"] == "ct":
        return f"I0 = {float(t['photons']):g}"
    if name == "higher acceleration":
        return f"{float(t['acceleration']):g}x"
    if name == "higher noise":
        return f"σ = {float(t['noise_sigma']):g}"
    return name


def _predict(
    s: ItemSet,
    cfg: dict,
    dropout_cfg: dict,
    members: list,
    dropout_model: Path,
    n_samples: int,
    baseline_methods: dict,
    seed: int,
):
    items, task = s.items, s.task
    y, op, batch_op = items["y"], task.operator(items), task.batch_operator(items)
    s.truth = methods.magnitude(items["x"])
    s.mask = items["body"] if "body" in items else torch.ones_like(s.truth, dtype=torch.bool)
    n = y.shape[0]
    models = [methods.load_model(task, cfg["model"], m.path) for m in members]
    # a shared operator's items go in chunks (a thousand calibration items at once would hold gigabytes of
    # activations); a per-item operator's batch in one call
    chunks = [slice(i, i + CHUNK) for i in range(0, n, CHUNK)] if batch_op is None else [slice(None)]
    outputs, seconds = [], []
    with torch.no_grad():
        for model in models:
            start = time.perf_counter()
            outputs.append(torch.cat([reconstruct(model, y[c], batch_op) for c in chunks]))
            seconds.append((time.perf_counter() - start) / n)
    first = outputs[0]
    s.seconds["one model"], s.seconds["ensemble"] = seconds[0], sum(seconds)
    s.heuristics["ensemble"] = Heuristic(*methods.spread(outputs))
    mc_model = methods.load_model(task, dropout_cfg["model"], dropout_model)
    start = time.perf_counter()
    samples = [methods.mc_dropout(mc_model, y[c], batch_op, n_samples, seed + k) for k, c in enumerate(chunks)]
    s.seconds["mc dropout"] = (time.perf_counter() - start) / n
    s.heuristics["mc dropout"] = Heuristic(*(torch.cat(parts) for parts in zip(*samples)))
    start = time.perf_counter()
    res_map, res_norm = methods.residual(op, first, y)
    s.seconds["residual"] = s.seconds["one model"] + (time.perf_counter() - start) / n
    s.heuristics["residual"] = Heuristic(methods.magnitude(first), res_map)
    s.heuristics["residual norm"] = Heuristic(methods.magnitude(first), None, res_norm.double())
    for h in s.heuristics.values():
        if h.item_score is None:
            h.item_score = _masked_mean(h.u, s.mask)
    for name, method in baseline_methods.items():
        s.baselines[name] = methods.magnitude(method(op, y))


def _masked_mean(v: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    return (v.double() * mask).sum(dim=(-2, -1)) / mask.sum(dim=(-2, -1))


def uncertainty(
    cfg: dict,
    checkpoint: Path,
    out: Path,
    n_members: int = 3,
    n_samples: int = 10,
    dropout: float = 0.1,
    dropout_steps: int | None = None,
    alpha: float = ALPHA,
    delta: float = DELTA,
    n_calib: int = 64,
    n_test: int = 32,
    seed: int = 0,
    log=print,
) -> dict:
    """Train what the methods need (cached under ``out``), calibrate on ``n_calib`` items, score on ``n_test`` items
    of each setting; write ``results.md`` and ``uncertainty.png``. Returns the tables' rows and the λs."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    start_all = time.perf_counter()
    cfg = check_config(cfg)
    eval_cfg = check_config(apply_overrides(cfg, [f"data.n_calib={n_calib}", f"data.n_test={n_test}"]))
    task = build_task(eval_cfg)
    log(task.description)
    if task.calib is None:
        raise ValueError("expected a synthetic task: calibration items come from data.n_calib synthetic items")
    # 1. the methods' models, trained once
    start = time.perf_counter()
    members = methods.train_members(cfg, task, checkpoint, out, n_members, log)
    steps = dropout_steps or max(1, cfg["train"]["steps"] // 10)
    dropout_cfg = methods.dropout_config(cfg, checkpoint, dropout, steps)
    dropout_run = methods.train_cached(dropout_cfg, out / "mc-dropout", task, log)
    training_wall = time.perf_counter() - start
    # 2. the sets: calibration, test in distribution, shifted, real anatomy
    sets = [ItemSet("calibration", task, stack(task.calib)), ItemSet("in distribution", task, stack(task.test))]
    for name, overrides in default_shifts(cfg):
        shifted_cfg = check_config(apply_overrides(eval_cfg, [*overrides, "data.real_anatomy=false"]))
        shifted = build_task(shifted_cfg)
        sets.append(ItemSet(_shift_label(name, shifted, shifted_cfg), shifted, stack(shifted.test)))
    if task.real is not None:
        sets.append(ItemSet("real anatomy", task, stack(task.real)))
    baseline_methods = tuned_baselines(task, cfg, log)
    start = time.perf_counter()
    for s in sets:
        _predict(
            s,
            cfg,
            dropout_cfg,
            members,
            dropout_run.path,
            n_samples,
            baseline_methods if s.name != "calibration" else {},
            seed,
        )
        log(f"{s.name}: {len(s.truth)} items")
    inference_wall = time.perf_counter() - start
    # 3. calibrate and score
    names = {
        "ensemble": f"deep ensemble (K = {n_members}): std",
        "mc dropout": f"MC dropout (p = {dropout:g}, {steps} steps, T = {n_samples}): std",
        "residual": "data residual: |A^H(A x̂ − y)|",
        "residual norm": "data residual: ‖A x̂ − y‖ / ‖y‖ per item",
    }
    calib, test, others = sets[0], sets[1], sets[2:]
    rows1, lambdas = calibration_rows(calib, test, others, names, alpha, delta)
    best = None
    if baseline_methods:
        best = max(test.baselines, key=lambda b: float(metrics.psnr(test.baselines[b], test.truth).mean()))
    rows2 = ranking_rows(test, others, names, best)
    one, job_seconds = test.seconds["one model"], members[0].seconds
    costs = {
        "ensemble": (sum(m.seconds or 0 for m in members[1:]), test.seconds["ensemble"]),
        "mc dropout": (dropout_run.seconds or 0, test.seconds["mc dropout"]),
        "residual": (0.0, test.seconds["residual"]),
        "residual norm": (0.0, test.seconds["residual"]),
    }
    for row, key in zip(rows2, HEURISTICS):
        train_s, infer_s = costs[key]
        row["extra training (s, × one model)"] = (
            f"{train_s:.0f} (×{train_s / job_seconds:.2f})" if job_seconds else f"{train_s:.0f}"
        )
        row["inference (s / image, × one model)"] = f"{infer_s:.4f} (×{infer_s / one:.1f})"
    rows0 = []
    for s in (calib, test, *others):
        row = {
            "items": s.name,
            "n": str(len(s.truth)),
            "PSNR, the job's model (dB)": metrics.psnr(s.heuristics["residual"].centre, s.truth),
            "PSNR, ensemble mean (dB)": metrics.psnr(s.heuristics["ensemble"].centre, s.truth),
            "PSNR, MC dropout mean (dB)": metrics.psnr(s.heuristics["mc dropout"].centre, s.truth),
        }
        if best is not None and s.baselines:
            row[f"PSNR, {best} (dB)"] = metrics.psnr(s.baselines[best], s.truth)
        rows0.append(row)
    # 4. write
    table0 = report.markdown_table(rows0, list(dict.fromkeys(k for r in rows0 for k in r)))
    columns1 = list(dict.fromkeys(k for r in rows1 for k in r))
    columns2 = list(dict.fromkeys(k for r in rows2 for k in r))
    table1 = report.markdown_table(rows1, columns1)
    table2 = report.markdown_table(rows2, columns2, decimals={"AUSE": 3, "Spearman ρ (pixels)": 3})
    masks = "the body" if "body" in test.items else "the whole image"
    header = (
        f"{task.description}\n\nIntervals x̂ ± λu over {masks}, λ calibrated on {len(calib.truth)} calibration "
        f"items (seed offset 3), α = {alpha:g}, δ = {delta:g}; scored on {len(test.truth)} test items in "
        f"distribution; shifted sets: {', '.join(f'{s.name} ({len(s.truth)} items)' for s in others)}. "
        f"One model: {one:.4f} s / image; the job's training {job_seconds or float('nan'):.0f} s.\n"
    )
    text = f"{header}\n{table0}\n\n{table1}\n\n{table2}\n"
    (out / "results.md").write_text(text)
    figure(
        out / "uncertainty.png",
        [test] + [s for s in others if s.name == "real anatomy"],
        {k: lambdas[(k, "RCPS, Hoeffding-Bentkus")] for k in ("ensemble", "mc dropout", "residual")},
        names,
        origin="upper" if task.modality == "mri" else "lower",
    )
    total = time.perf_counter() - start_all
    log(
        f"\n{text}\ntraining {training_wall:.0f} s, inference {inference_wall:.0f} s, all {total:.0f} s\n"
        f"table: {out / 'results.md'}\nfigure: {out / 'uncertainty.png'}"
    )
    return {
        "sets": rows0,
        "calibration": rows1,
        "ranking": rows2,
        "lambdas": lambdas,
        "seconds": total,
        "training_seconds": training_wall,
    }


HEURISTICS = ("ensemble", "mc dropout", "residual", "residual norm")  # the last: one number per item, no map
RULES = ("RCPS, Hoeffding-Bentkus", "RCPS, Hoeffding", "CRC (in expectation)")


def calibration_rows(
    calib: ItemSet, test: ItemSet, others: list[ItemSet], names: dict, alpha: float, delta: float
) -> tuple[list[dict], dict]:
    """Per heuristic with a map and calibration rule: λ from the calibration items, then coverage, width and the
    per-item rate on the test items, and coverage on each other set with the same λ."""
    rules = dict(
        zip(
            RULES,
            (
                lambda e, u, m: calibration.rcps_lambda(e, u, m, alpha, delta),
                lambda e, u, m: calibration.rcps_lambda(e, u, m, alpha, delta, "hoeffding"),
                lambda e, u, m: calibration.crc_lambda(e, u, m, alpha),
            ),
        )
    )
    rows, lambdas = [], {}
    for key in HEURISTICS[:3]:
        h = calib.heuristics[key]
        for rule, fn in rules.items():
            lam = lambdas[(key, rule)] = fn(h.centre - calib.truth, h.u, calib.mask)
            row = {
                "heuristic": names[key],
                "calibration": rule,
                "λ": _number(lam, 3),
                "PSNR of the centre (dB)": metrics.psnr(test.heuristics[key].centre, test.truth),
            }
            for s in (test, *others):
                hs = s.heuristics[key]
                miss = calibration.miscoverage(hs.centre - s.truth, hs.u, s.mask, lam)
                coverage = f"{100 * (1 - float(miss.mean())):.1f}"
                if s is not test:
                    row[f"coverage, {s.name} (%)"] = coverage
                    continue
                row["coverage (%)"] = coverage
                width = 2 * lam * _masked_mean(hs.u, s.mask) if math.isfinite(lam) else torch.full(miss.shape, math.inf)
                row["mean width"] = _number(float(width.mean()), 4)
                row["width / mean truth (%)"] = _number(float(100 * (width / _masked_mean(s.truth, s.mask)).mean()), 1)
                row[f"items with miss ≤ {alpha:g}"] = f"{int((miss <= alpha).sum())}/{len(miss)}"
            rows.append(row)
    return rows, lambdas


def ranking_rows(test: ItemSet, others: list[ItemSet], names: dict, best: str | None) -> list[dict]:
    """Per heuristic: Spearman's ρ and AUSE on the test items, AUROC for the images lost to the ``best`` classical
    baseline (whole image and interior, pooled over every evaluated set) and for each shifted set against the
    test items."""
    evaluated = [test, *others]
    rows = []
    for key in HEURISTICS:
        h = test.heuristics[key]
        row = {"heuristic": names[key]}
        if h.u is not None:
            e, m = (h.centre - test.truth).abs(), test.mask
            row["Spearman ρ (pixels)"] = measures.spearman(h.u[m], e[m])
            row["AUSE"] = measures.ause(e, h.u, m)
        for region in ("whole", "interior") if best is not None else ():
            if region == "interior" and not all("interior" in s.items for s in evaluated):
                continue
            lost, scores = [], []
            for s in evaluated:
                centre, theirs = s.heuristics[key].centre, s.baselines[best]
                if region == "whole":
                    lost.append(metrics.psnr(centre, s.truth) < metrics.psnr(theirs, s.truth))
                else:
                    inside = s.items["interior"]
                    lost.append(
                        metrics.region_psnr(centre, s.truth, inside) < metrics.region_psnr(theirs, s.truth, inside)
                    )
                scores.append(s.heuristics[key].item_score)
            lost, scores = torch.cat(lost), torch.cat(scores)
            column = f"AUROC: loses to {best}" + (", interior" if region == "interior" else "")
            row[column] = f"{_number(measures.auroc(scores, lost), 2)} ({int(lost.sum())}/{len(lost)})"
        for s in others:
            shifted, base = s.heuristics[key].item_score, h.item_score
            labels = torch.cat([torch.zeros(len(base), dtype=torch.bool), torch.ones(len(shifted), dtype=torch.bool)])
            value = measures.auroc(torch.cat([base, shifted]), labels)
            row[f"AUROC {s.name} (mean u ×)"] = f"{value:.2f} (×{float(shifted.mean() / base.mean()):.2f})"
        rows.append(row)
    return rows


def _number(v: float, places: int) -> str:
    return "∞" if v == math.inf else "n/a" if math.isnan(v) else f"{v:.{places}f}"


def figure(path: Path, sets: list[ItemSet], lambdas: dict, names: dict, origin: str = "lower", n_examples: int = 1):
    """Per item shown and heuristic, a row: truth, centre, |error|, half-width λu, and where the truth lies outside."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [(s, k, key) for s in sets for k in range(min(n_examples, len(s.truth))) for key in lambdas]
    fig, axes = plt.subplots(len(rows), 5, figsize=(5 * 2.3, len(rows) * 2.4), dpi=100, squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for r, (s, k, key) in enumerate(rows):
        h, lam = s.heuristics[key], lambdas[key]
        t, c, m = s.truth[k], h.centre[k], s.mask[k]
        err = (c - t).abs()
        half = lam * h.u[k] if math.isfinite(lam) else torch.full_like(err, math.nan)
        outside = (err > half) & m if math.isfinite(lam) else torch.zeros_like(m)
        window = dict(cmap="gray", vmin=float(t.min()), vmax=float(t.max()), origin=origin)
        scale = float(torch.quantile(torch.cat([err[m], half[m].nan_to_num(0)]).double(), 0.99)) or 1.0
        panels = [
            (t, window, f"{s.name} #{k}: truth"),
            (c, window, f"centre, {float(metrics.psnr(c, t)[0]):.2f} dB"),
            (err, dict(cmap="inferno", vmin=0, vmax=scale, origin=origin), "|error|"),
            (half, dict(cmap="inferno", vmin=0, vmax=scale, origin=origin), f"λu, λ = {_number(lam, 2)}"),
            (
                outside.float(),
                dict(cmap="gray", vmin=0, vmax=1, origin=origin),
                f"outside: {100 * float(outside.sum() / m.sum()):.1f} %",
            ),
        ]
        for j, (image, style, title) in enumerate(panels):
            axes[r, j].imshow(image.numpy(), **style)
            axes[r, j].set_title(title, fontsize=8)
        axes[r, 0].text(
            -0.08,
            0.5,
            names[key].split(":")[0],
            transform=axes[r, 0].transAxes,
            rotation=90,
            va="center",
            ha="right",
            fontsize=8,
        )
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path


def job_config(job: str, checkpoint: Path, overrides=(), log=print) -> dict:
    """The configuration the checkpoint was trained with (and ``overrides``); where the schema has since renamed a
    key of it, the job's configuration file, once its task, model and training length are checked to be the
    checkpoint's."""
    saved = load_checkpoint(checkpoint, keys=("config",))["config"]
    try:
        return check_config(apply_overrides(saved, overrides))
    except ValueError as err:
        cfg = check_config(load_config(job, overrides))
        differ = [
            f"{section}.{k}"
            for section in ("task", "model", "train")
            for k, v in saved.get(section, {}).items()
            if (section != "train" or k in _TRAINING) and cfg[section].get(k) != v
        ]
        if differ:
            raise ValueError(
                f"{checkpoint}'s configuration no longer passes the schema ({err}), and "
                f"experiments/configs/{job}.toml differs from it in {differ}"
            ) from None
        log(
            f"{checkpoint}'s configuration predates the schema ({str(err).splitlines()[-1].strip()}); "
            f"using experiments/configs/{job}.toml, whose task, model and training are the same"
        )
        return cfg


_TRAINING = ("steps", "batch_size", "lr", "betas")


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m experiments uncertainty",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("job", help="a job of `python -m experiments run` (ct-lpd, mri-cascade)")
    parser.add_argument("--checkpoint", type=Path, default=None, help="default runs/JOB/checkpoint.pt")
    parser.add_argument("--out", type=Path, default=None, help="default runs/JOB/uncertainty")
    parser.add_argument("--members", type=int, default=3, help="ensemble size K (the checkpoint and K - 1 seeds)")
    parser.add_argument("--samples", type=int, default=10, help="Monte Carlo dropout passes T")
    parser.add_argument("--dropout", type=float, default=0.1, help="dropout probability of the fine-tuned model")
    parser.add_argument(
        "--dropout-steps", type=int, default=None, help="its fine-tuning steps (default: a tenth of the job's)"
    )
    parser.add_argument("--alpha", type=float, default=ALPHA, help="tolerated fraction of pixels outside")
    parser.add_argument("--delta", type=float, default=DELTA, help="RCPS: probability that the guarantee fails")
    parser.add_argument("--n-calib", type=int, default=64)
    parser.add_argument("--n-test", type=int, default=32)
    parser.add_argument("overrides", nargs="*", help="section.key=value on the checkpoint's configuration")
    args = parser.parse_intermixed_args(argv)
    checkpoint = args.checkpoint or Path("runs") / args.job / "checkpoint.pt"
    if not checkpoint.exists():
        raise SystemExit(
            f"no checkpoint at {checkpoint}: train the job first (python -m experiments run {args.job})"
            f" or pass --checkpoint"
        )
    cfg = job_config(args.job, checkpoint, args.overrides)
    uncertainty(
        cfg,
        checkpoint,
        args.out or Path("runs") / args.job / "uncertainty",
        args.members,
        args.samples,
        args.dropout,
        args.dropout_steps,
        args.alpha,
        args.delta,
        args.n_calib,
        args.n_test,
    )
