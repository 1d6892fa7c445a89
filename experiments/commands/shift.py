"""python -m experiments shift [--config NAME] [--source k=v ...] [--target k=v ...] [--finetune-steps N]

Generalisation across acquisition settings: train on a source geometry or protocol, test on a target
one, with and without a short fine-tuning on the target. The weights move between operators because
the models take the operator as an argument and keep it out of their state (`learned.OperatorModel`).
Defaults: learned primal-dual trained on 72 views (``ct-lpd``), tested on 48; with
``--config mri-cascade --source task.acceleration=4 --target task.acceleration=6`` the deep cascade
goes from 4x to 6x.

Example::

    python -m experiments shift --source-checkpoint runs/ct-lpd/checkpoint.pt --finetune-steps 100
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from experiments import metrics, report
from experiments.checkpoint import load_checkpoint, load_weights
from experiments.config import apply_overrides, check_config, load_config
from experiments.evaluation import run_baselines, stack
from experiments.tasks import build_model, build_task, reconstruct
from experiments.training import train, unwrap

COLUMNS = ["model", "tested on", "PSNR (dB)", "SSIM"]


def _scores(image, truth) -> dict:
    return {"PSNR (dB)": metrics.psnr(image, truth), "SSIM": metrics.ssim(image, truth)}


def _model_scores(model, task) -> dict:
    batch = stack(task.test)
    model.eval()
    with torch.no_grad():
        return _scores(reconstruct(model, batch["y"], task.batch_operator(batch)), batch["x"])


def shift(
    cfg: dict,
    source: list[str],
    target: list[str],
    finetune_steps: int,
    out: Path,
    source_checkpoint: Path | None = None,
    finetune_lr_factor: float = 0.1,
    log=print,
) -> list[dict]:
    """Rows of the shift table: the source model on both settings, fine-tuned on the target, and the
    target's baselines. ``source_checkpoint`` reuses a model trained on the source setting (its
    run's checkpoint) instead of training one; fine-tuning starts a fresh Adam at
    ``finetune_lr_factor`` times the configured learning rate, so as not to undo the training."""
    src_cfg, tgt_cfg = (check_config(apply_overrides(cfg, overrides)) for overrides in (source, target))
    lr = float(tgt_cfg["train"]["lr"]) * finetune_lr_factor
    tuning = [f"train.steps={finetune_steps}", f"train.checkpoint_every={finetune_steps}", f"train.lr={lr!r}"]
    check_config(apply_overrides(tgt_cfg, tuning))  # now, not after the source model has trained
    src_task, tgt_task = build_task(src_cfg), build_task(tgt_cfg)
    log(f"source: {src_task.description}\ntarget: {tgt_task.description}")
    if source_checkpoint is None:
        train(src_cfg, out / "source", task=src_task)
        source_checkpoint = out / "source" / "checkpoint.pt"
    state = load_checkpoint(source_checkpoint, keys=("model",))
    src_model = load_weights(build_model(src_task, src_cfg["model"]), state, source_checkpoint, src_cfg["model"])
    on_target = load_weights(build_model(tgt_task, tgt_cfg["model"]), state, source_checkpoint, tgt_cfg["model"])
    name = cfg["model"]["name"]
    rows = [
        {"model": f"{name}, trained on source", "tested on": "source", **_model_scores(src_model, src_task)},
        {"model": f"{name}, trained on source", "tested on": "target", **_model_scores(on_target, tgt_task)},
    ]
    tuned_cfg = apply_overrides(tgt_cfg, [*tuning, f"train.init={str(source_checkpoint)!r}"])
    tuned = unwrap(train(tuned_cfg, out / "finetuned", task=tgt_task).model)
    rows.append(
        {
            "model": f"{name}, fine-tuned {finetune_steps} steps on target",
            "tested on": "target",
            **_model_scores(tuned, tgt_task),
        }
    )
    test = stack(tgt_task.test)
    for method, (image, _) in run_baselines(tgt_task, tgt_cfg, test, log).items():
        rows.append({"model": method, "tested on": "target", **_scores(image, test["x"])})
    table = report.markdown_table(rows, COLUMNS)
    text = f"source: {src_task.description}\ntarget: {tgt_task.description}\n\n{table}\n"
    (out / "shift.md").write_text(text)
    log("\n" + table + f"\n\ntable: {out / 'shift.md'}")
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m experiments shift", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--config", default="ct-lpd")
    parser.add_argument("--source", nargs="*", default=["task.view_step=32"], help="overrides of the source setting")
    parser.add_argument("--target", nargs="*", default=["task.view_step=48"], help="overrides of the target setting")
    parser.add_argument("--finetune-steps", type=int, default=100)
    parser.add_argument(
        "--source-checkpoint",
        type=Path,
        default=None,
        help="a checkpoint trained on the source setting (e.g. runs/ct-lpd/checkpoint.pt)",
    )
    parser.add_argument("--out", type=Path, default=Path("runs/shift"))
    parser.add_argument("overrides", nargs="*", help="section.key=value for both settings")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    shift(
        load_config(args.config, args.overrides),
        args.source,
        args.target,
        args.finetune_steps,
        args.out,
        args.source_checkpoint,
    )
    print(f"done in {time.perf_counter() - start:.1f} s")
