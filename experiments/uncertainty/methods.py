"""The uncertainty heuristics compared on one trained job: a deep ensemble, Monte Carlo dropout, the data residual.

- Deep ensemble (Lakshminarayanan, Pritzel & Blundell, NeurIPS 2017): K models trained with the job's own
  configuration, differing only in their seed (the weights' initialisation, ``model.seed``, and the batches'
  order, ``seed``; the data seed is pinned, so every member sees the same items). Member 0 is the job's own
  checkpoint. Centre: the members' mean; heuristic: their standard deviation (ddof 1).
- Monte Carlo dropout (Gal & Ghahramani, ICML 2016): the job's checkpoint fine-tuned with dropout after every
  activation of its CNN blocks (``model.dropout``, `learned.complex_channels.ConvBlock`), then T stochastic passes
  with the dropout on. Centre: their mean; heuristic: their standard deviation. It is the cheap Bayesian
  approximation that needs no change of architecture or loss in an unrolled model, and it adds no weights.
- Data residual (model-free): ``|A^H(A x̂ − y)| / ‖A‖²`` per pixel and ``‖A x̂ − y‖ / ‖y‖`` per item, of the job's own
  reconstruction, which is the centre.

Complex images (MRI) are scored as magnitudes, as the jobs' tables are: the centre, the spread and the error are
those of ``|x|``.

Example::

    members = train_members(cfg, task, Path("runs/ct-lpd/checkpoint.pt"), Path("runs/ct-lpd/uncertainty"), k=3)
    models = [load_model(task, cfg["model"], m.path) for m in members]
    centre, u = ensemble(models, items["y"], task.batch_operator(items))
"""

from __future__ import annotations

import contextlib
import csv
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from experiments.checkpoint import load_checkpoint, load_weights
from experiments.config import apply_overrides, check_config
from experiments.tasks import Task, build_model, reconstruct
from experiments.training import train
from learned.complex_channels import ConvBlock


@dataclass
class Trained:
    """A checkpoint and its training loop's seconds (`training_seconds`; None: not logged)."""

    path: Path
    seconds: float | None


def magnitude(x: torch.Tensor) -> torch.Tensor:
    return x.abs() if x.is_complex() else x


def load_model(task: Task, model_cfg: dict, path: Path) -> torch.nn.Module:
    """The configured model on ``task``'s operator with the weights of the checkpoint at ``path``, in eval mode."""
    model = build_model(task, model_cfg)
    return load_weights(model, load_checkpoint(path, keys=("model",)), path, model_cfg).eval()


def member_config(cfg: dict, seed: int) -> dict:
    """The job's configuration with another seed for the weights and the batches, its data unchanged."""
    data_seed = cfg["seed"] if cfg["data"].get("seed") is None else cfg["data"]["seed"]
    return check_config(apply_overrides(cfg, [f"seed={seed}", f"model.seed={seed}", f"data.seed={data_seed}"]))


def dropout_config(cfg: dict, checkpoint: Path, p: float, steps: int, lr_factor: float = 0.1) -> dict:
    """The job's configuration fine-tuning ``checkpoint`` with dropout ``p`` for ``steps`` steps, at ``lr_factor``
    times its learning rate (cosine schedule, a fresh Adam: `experiments.training`)."""
    lr = float(cfg["train"]["lr"]) * lr_factor
    return check_config(
        apply_overrides(
            cfg,
            [
                f"model.dropout={p!r}",
                f"train.init={str(checkpoint)!r}",
                f"train.steps={steps}",
                f"train.checkpoint_every={steps}",
                f"train.lr={lr!r}",
            ],
        )
    )


def train_cached(cfg: dict, out: Path, task: Task, log=print) -> Trained:
    """``experiments.training.train(cfg, out)``, or the checkpoint already in ``out`` when it finished training this
    very configuration (a rerun reuses it; an unfinished one resumes)."""
    out = Path(out)
    path = out / "checkpoint.pt"
    if path.exists():
        state = load_checkpoint(path, keys=("config", "step"))
        if state["config"] == cfg and state["step"] == cfg["train"]["steps"]:
            log(f"reusing {path}")
            return Trained(path, training_seconds(path))
    start = time.perf_counter()
    train(cfg, out, resume=path.exists(), task=task, progress=False)
    log(f"trained {path} in {time.perf_counter() - start:.0f} s")
    return Trained(path, training_seconds(path))


def training_seconds(checkpoint: Path) -> float | None:
    """The training loop's seconds as its run's ``metrics.csv`` last logged them (None without one); a resumed
    run's count restarts at the resumption."""
    log = Path(checkpoint).parent / "metrics.csv"
    if not log.exists():
        return None
    with log.open() as f:
        rows = list(csv.DictReader(f))
    return float(rows[-1]["seconds"]) if rows and rows[-1].get("seconds") else None


def train_members(cfg: dict, task: Task, checkpoint: Path, out: Path, k: int, log=print) -> list[Trained]:
    """The ensemble's K checkpoints: the job's own, then K − 1 trained with seeds 1 .. K − 1 under ``out/members``."""
    members = [Trained(Path(checkpoint), training_seconds(checkpoint))]
    for seed in range(1, k):
        members.append(train_cached(member_config(cfg, seed), Path(out) / "members" / f"seed-{seed}", task, log))
    return members


def spread(outputs: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """The ensemble members' mean and standard deviation (of magnitudes; ddof 1, zero for one member)."""
    stack = torch.stack([magnitude(o) for o in outputs])
    return stack.mean(dim=0), stack.std(dim=0) if len(outputs) > 1 else torch.zeros_like(stack[0])


@torch.no_grad()
def ensemble(models: list[torch.nn.Module], y: torch.Tensor, op) -> tuple[torch.Tensor, torch.Tensor]:
    """The members' mean and standard deviation (`spread`) on the measurements ``y``."""
    return spread([reconstruct(m.eval(), y, op) for m in models])


@contextlib.contextmanager
def sampling(model: torch.nn.Module):
    """The model in eval mode but its `ConvBlock`s' dropout on: Monte Carlo dropout samples."""
    blocks = [m for m in model.modules() if isinstance(m, ConvBlock)]
    if not any(b.dropout for b in blocks):
        raise ValueError(f"{type(model).__name__} has no dropout to sample (built with model.dropout = 0)")
    model.eval()
    for b in blocks:
        b.train(True)
    try:
        yield model
    finally:
        model.eval()


@torch.no_grad()
def mc_dropout(
    model: torch.nn.Module, y: torch.Tensor, op, n_samples: int, seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and standard deviation (of magnitudes) of ``n_samples`` passes with the dropout on, seeded."""
    with sampling(model), torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        stack = torch.stack([magnitude(reconstruct(model, y, op)) for _ in range(n_samples)])
    return stack.mean(dim=0), stack.std(dim=0)


@torch.no_grad()
def residual(op, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``|A^H(A x − y)| / ‖A‖²`` per pixel (the correction one Landweber step would make, in image units, so that
    operators of other norms, e.g. fewer views, compare) and ``‖A x − y‖ / ‖y‖`` per item, with the items'
    operator ``op``.

    Shapes: x (N, *image), y (N, *data) -> (N, *image) real, (N,).
    """
    r = op(x) - y
    dims = tuple(range(1, r.dim()))
    norm = torch.linalg.vector_norm(r, dim=dims) / torch.linalg.vector_norm(y, dim=dims)
    return op.adjoint(r).abs() / op.norm() ** 2, norm
