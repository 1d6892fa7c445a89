"""The training loop behind ``python -m experiments train``: one loop for every model and modality.

Adam with a cosine schedule, seeded batches that depend only on (seed, step), atomic checkpoints
every ``train.checkpoint_every`` steps and at the end, resume from the last checkpoint with the same
result as an uninterrupted run, validation PSNR/SSIM each epoch, logs as CSV and TensorBoard. Under
``torchrun`` it trains data-parallel (DDP; NCCL on GPUs, gloo on CPUs), each rank taking its share of
every global batch.

Example::

    run = train(load_config("ct-lpd", ["train.steps=100"]), Path("runs/ct-lpd"))
"""

from __future__ import annotations

import math
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import DataLoader

import learned
from bridges.operator import LinearOperator
from experiments import metrics
from experiments.checkpoint import load_checkpoint, load_weights, save_checkpoint
from experiments.config import DISCRIMINATOR, check_config, dumps, with_defaults
from experiments.distributed import Process, StepBatches, start_process
from experiments.logs import Logs
from experiments.tasks import Task, build_model, build_task, reconstruct


@dataclass
class Run:
    """A training run's state: what a checkpoint holds besides the configuration."""

    task: Task
    model: nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    gan: object = None  # learned.DAGANLoss / WGANGPLoss when [gan] is configured
    d_optimizer: torch.optim.Optimizer | None = None
    step: int = 0

    def state(self, cfg: dict) -> dict:
        state = {
            "config": cfg,
            "step": self.step,
            "model": unwrap(self.model).state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "rng": torch.get_rng_state(),
        }
        if self.gan is not None:
            state["discriminator"] = unwrap(self.gan.discriminator).state_dict()
            state["d_optimizer"] = self.d_optimizer.state_dict()
            if getattr(self.gan, "generator", None) is not None:
                state["gan_rng"] = self.gan.generator.get_state()
        return state

    def load(self, state: dict, path: Path):
        load_weights(unwrap(self.model), state, path)
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        torch.set_rng_state(state["rng"])
        if self.gan is not None:
            unwrap(self.gan.discriminator).load_state_dict(state["discriminator"])
            self.d_optimizer.load_state_dict(state["d_optimizer"])
            if "gan_rng" in state:
                self.gan.generator.set_state(state["gan_rng"])
        self.step = state["step"]


def unwrap(model: nn.Module) -> nn.Module:
    """The model inside a DistributedDataParallel wrapper (the model itself otherwise)."""
    return model.module if isinstance(model, nn.parallel.DistributedDataParallel) else model


def build_run(cfg: dict, proc: Process, task: Task | None = None) -> Run:
    cfg = with_defaults(cfg)
    torch.manual_seed(cfg["seed"])
    task = task or build_task(cfg)
    train_cfg = cfg["train"]
    model = build_model(task, cfg["model"])
    if train_cfg["init"]:  # start from trained weights (fine-tuning), with a fresh optimiser
        load_weights(model, load_checkpoint(train_cfg["init"], keys=("model",)), train_cfg["init"], cfg["model"])
    model = model.to(proc.device)
    if train_cfg["compile"] and task.item_operator is not None:
        # a compiled forward guards on the operator it was traced with: a new one each batch would recompile
        raise ValueError(f"train.compile needs one operator for all items, but {task.description} has one per item")
    if train_cfg["compile"]:
        model.compile()  # in place: the forward (and with it the backward) compiled, state_dict keys unchanged
    if proc.world > 1:
        # The operator's buffers (masks, maps, PET factors) are constants and the models keep no
        # running statistics, so buffers need no broadcast at every forward.
        model = nn.parallel.DistributedDataParallel(model, broadcast_buffers=False)
    optimizer = torch.optim.Adam(model.parameters(), lr=float(train_cfg["lr"]), betas=tuple(train_cfg["betas"]))
    scheduler = _schedule(optimizer, train_cfg)
    run = Run(task, model, optimizer, scheduler)
    if "gan" in cfg:
        run.gan, run.d_optimizer = _gan(cfg["gan"], task, proc, cfg["seed"])
    return run


def _schedule(optimizer, train_cfg):
    kind = train_cfg["schedule"]
    if kind == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, train_cfg["steps"])
    if kind == "constant":
        return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: 1.0)
    raise ValueError(f"expected train.schedule 'cosine' or 'constant', got {kind!r}")


def _gan(gan_cfg: dict, task: Task, proc: Process, seed: int):
    gan_cfg = dict(gan_cfg)
    kind = gan_cfg.pop("loss")
    lr = float(gan_cfg.pop("lr"))
    disc_args = {k: gan_cfg.pop(k) for k in DISCRIMINATOR if k in gan_cfg}  # the rest: the loss's arguments
    discriminator = learned.PatchDiscriminator(task.op, **disc_args).to(proc.device)
    if kind == "wgan-gp":
        if proc.world > 1:
            raise ValueError(
                "gan.loss 'wgan-gp' needs double backward, which DDP does not support; "
                "use gan.loss = 'dagan' under torchrun"
            )
        loss = learned.WGANGPLoss(task.op, discriminator, generator=torch.Generator().manual_seed(seed), **gan_cfg)
    elif kind == "dagan":
        if proc.world > 1:
            plain = discriminator
            discriminator = nn.parallel.DistributedDataParallel(plain, broadcast_buffers=False)
            discriminator.conditional = plain.conditional  # DAGANLoss reads it to pass the measurements
        loss = learned.DAGANLoss(task.op, discriminator, **gan_cfg)
    else:
        raise ValueError(f"expected gan.loss 'dagan' or 'wgan-gp', got {kind!r}")
    return loss, torch.optim.Adam(discriminator.parameters(), lr=lr, betas=(0.5, 0.999))


def training_step(
    run: Run, y: torch.Tensor, x: torch.Tensor, clip: float | None, op: LinearOperator | None = None
) -> tuple[float, float]:
    """One optimiser step on a batch, reconstructed with ``op`` (the batch's per-item operator, see
    `Task.batch_operator`) or the model's own; returns the generator (or image) loss and the discriminator loss."""
    run.model.train()
    d_loss = math.nan
    if run.gan is not None and op is not None:
        raise ValueError("[gan] losses use the task's one operator: they do not take per-item operators")
    if run.gan is not None:
        with torch.no_grad():
            fake = run.model(y)
        run.d_optimizer.zero_grad(set_to_none=True)
        d = run.gan.discriminator_loss(fake, x, y)
        d.backward()
        run.d_optimizer.step()
        d_loss = d.detach()  # read back with the loss, below: one sync a step
        loss = run.gan.generator_loss(run.model(y), x, y)
    else:
        # The squared error relative to the global batch's energy: unit-free, so that Adam's ε and the
        # learning rate mean the same for CT in 1/mm (values ~0.01) as for MRI normalised to 1. Under DDP
        # the energy is summed over the ranks and the loss scaled by their number, so that DDP's mean of
        # the ranks' gradients is the gradient of the single-process loss on the whole batch.
        energy, world = x.abs().pow(2).sum(), 1
        if dist.is_initialized():
            dist.all_reduce(energy)
            world = dist.get_world_size()
        loss = world * (reconstruct(run.model, y, op) - x).abs().pow(2).sum() / energy.clamp_min(1e-30)
    run.optimizer.zero_grad(set_to_none=True)
    loss.backward()
    # the gradient's norm, for the divergence check: clipping returns it (under DDP the gradients are already
    # averaged, so every rank has the same); without clipping, one norm over the parameters' gradients
    params = [p for p in run.model.parameters() if p.grad is not None]
    grad_norm = nn.utils.clip_grad_norm_(params, clip) if clip else nn.utils.get_total_norm([p.grad for p in params])
    run.optimizer.step()
    run.scheduler.step()
    # loss, discriminator loss and gradient norm in one tensor: one all-reduce under DDP (so that every rank sees a
    # rank's NaN and all stop together) and one read-back, the sync the log's loss already needed
    d_loss = d_loss if run.gan is not None else loss.new_full((), math.nan)  # made on the device, not copied
    values = torch.stack([t.detach().float().to(loss.device) for t in (loss, d_loss, grad_norm)])
    if dist.is_initialized():
        dist.all_reduce(values)
        values /= dist.get_world_size()
    value, d_value, norm = values.tolist()
    if not math.isfinite(value + norm) or (run.gan is not None and not math.isfinite(d_value)):
        raise ValueError(
            f"training diverged at step {run.step + 1}: loss {value}, "
            + (f"discriminator loss {d_value}, " if run.gan is not None else "")
            + f"gradient norm {norm} (expected finite values); lower train.lr "
            f"({_lr(run):g}) or clip the gradient (train.clip_grad). "
            f"No checkpoint of this step or after was written"
        )
    return value, d_value


def _lr(run: Run) -> float:
    """The configured learning rate (the scheduler's start)."""
    group = run.optimizer.param_groups[0]
    return group.get("initial_lr", group["lr"])


def check_finite_weights(run: Run, step: int):
    """A ValueError if any weight is not finite (an update that overflowed: a finite loss and gradient times an
    enormous learning rate), so that no checkpoint holds NaN weights. Under DDP every rank checks, and the ranks
    agree through one all-reduce, so all stop together; it runs only before a checkpoint is written."""
    modules = [run.model] + ([run.gan.discriminator] if run.gan is not None else [])
    params = [p.detach() for m in modules for p in m.parameters()]
    bad = torch.stack([(~p.isfinite()).any() for p in params]).any().float()
    if dist.is_initialized():
        dist.all_reduce(bad)
    if bad.item():
        raise ValueError(
            f"training diverged at step {step}: weights are not finite (NaN or inf), though loss "
            f"and gradient were; lower train.lr ({_lr(run):g}). "
            f"The checkpoint of this step was not written"
        )


@torch.no_grad()
def validation_scores(model: nn.Module, dataset, device, batch_size: int = 8, task: Task | None = None) -> dict:
    """Mean PSNR and SSIM of the model's reconstructions over a dataset, each batch with its per-item operator
    where ``task`` has them."""
    model.eval()
    psnrs, ssims = [], []
    for batch in DataLoader(dataset, batch_size=batch_size):
        x = batch["x"].to(device)
        op = None if task is None else task.batch_operator(batch, device)
        out = reconstruct(model, batch["y"].to(device), op)
        psnrs += list(metrics.psnr(out.cpu(), x.cpu()))
        ssims += list(metrics.ssim(out.cpu(), x.cpu()))
    return {"val_psnr": float(sum(psnrs) / len(psnrs)), "val_ssim": float(sum(ssims) / len(ssims))}


def train(
    cfg: dict,
    out: Path,
    resume: bool = False,
    stop_after: int | None = None,
    task: Task | None = None,
    progress: bool = True,
) -> Run:
    """Train the configured model, writing ``checkpoint.pt``, ``metrics.csv``, ``tensorboard/`` and
    ``config.toml`` to ``out``. ``stop_after`` ends the run early without a final checkpoint (a kill,
    for tests); ``task`` reuses data already built (the same configuration's)."""
    cfg = check_config(cfg)
    with _torch_threads(cfg["train"]["n_threads"]):
        return _train(cfg, cfg["train"], Path(out), resume, stop_after, task, progress)


@contextmanager
def _torch_threads(n: int | None):
    """torch's intra-op threads set to ``n`` (train.n_threads) for the training, restored after. A batch of
    one small image is faster on one thread than split over two: 46 against 66 ms per ct-lpd step here."""
    before = torch.get_num_threads()
    if n:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _train(cfg, train_cfg, out, resume, stop_after, task, progress) -> Run:
    proc = start_process(train_cfg["device"])
    ckpt_path = out / "checkpoint.pt"
    state = None
    if resume and not ckpt_path.exists() and proc.main:
        print(f"--resume: no checkpoint in {out}; starting a new run")
    if resume and ckpt_path.exists():
        state = load_checkpoint(ckpt_path, keys=("config", "model"))
        changed = _differences(with_defaults(state["config"]), cfg)  # a checkpoint may predate a default
        if changed:
            raise ValueError(
                f"--resume: the configuration differs from the checkpoint's in {changed}; a resumed "
                f"run continues the same run (start a new one in another folder to change it)"
            )
    run = build_run(cfg, proc, task)
    if state is not None:
        run.load(state, ckpt_path)
    if proc.main:
        out.mkdir(parents=True, exist_ok=True)
        (out / "config.toml").write_text(dumps(cfg))
    steps, batch, clip = train_cfg["steps"], train_cfg["batch_size"], train_cfg["clip_grad"]
    every = max(steps // 4, 1) if train_cfg["checkpoint_every"] is None else train_cfg["checkpoint_every"]
    sampler = StepBatches(len(run.task.train), batch, steps, cfg["seed"], run.step, proc.rank, proc.world)
    loader = DataLoader(run.task.train, batch_sampler=sampler, num_workers=train_cfg["num_workers"])
    logs = Logs(out, proc.main, run.step if state is not None else None)
    bar = _progress(progress and proc.main, run.step, steps)
    start, seen = time.perf_counter(), 0
    shown = {}  # the last validation's PSNR, on the bar until the next
    try:
        for batch_items in loader:
            loss, d_loss = training_step(
                run,
                batch_items["y"].to(proc.device),
                batch_items["x"].to(proc.device),
                clip,
                run.task.batch_operator(batch_items, proc.device),
            )
            run.step += 1
            seen += batch
            row = {
                "step": run.step,
                "epoch": run.step / sampler.per_epoch,
                "loss": loss,
                "d_loss": d_loss,
                "lr": run.scheduler.get_last_lr()[0],
                "samples_per_s": seen / (time.perf_counter() - start),
                "seconds": time.perf_counter() - start,
            }
            if run.step % sampler.per_epoch == 0 or run.step == steps:
                if proc.main:
                    row.update(validation_scores(unwrap(run.model), run.task.val, proc.device, task=run.task))
                proc.barrier()
            logs.write(row)
            if bar is not None:
                if "val_psnr" in row:
                    shown["val_psnr"] = f"{row['val_psnr']:.2f}"
                # refresh=False: the postfix is drawn with the bar's own redraws (every 0.1 s), not one more each
                # step; at ct-lpd's 60 ms a step that halves them: 0.24 against 0.44 ms a step
                bar.set_postfix(loss=f"{loss:.3g}", samples_s=f"{row['samples_per_s']:.1f}", **shown, refresh=False)
                bar.update(1)
            if stop_after is not None and run.step >= stop_after:
                return run
            if run.step % every == 0 or run.step == steps:
                check_finite_weights(run, run.step)  # every rank, before the main one writes
                if proc.main:
                    logs.flush()  # the rows up to the checkpoint on disk before it, for --resume to keep
                    save_checkpoint(ckpt_path, run.state(cfg))
                proc.barrier()
    finally:
        logs.close()
        if bar is not None:
            bar.close()
    return run


def _differences(a: dict, b: dict, prefix: str = "") -> list[str]:
    keys = sorted(set(a) | set(b))
    out = []
    for k in keys:
        if isinstance(a.get(k), dict) and isinstance(b.get(k), dict):
            out += _differences(a[k], b[k], f"{prefix}{k}.")
        elif a.get(k) != b.get(k):
            out.append(f"{prefix}{k}")
    return out


def _progress(enabled: bool, start: int, total: int):
    if not enabled:
        return None
    from tqdm import tqdm

    return tqdm(total=total, initial=start, desc="train", unit="step", dynamic_ncols=True)
