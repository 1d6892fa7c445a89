"""The training loop: seeded batches, atomic checkpoints, exact resume, logs, and DDP on 2 CPU processes."""

import csv
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch.utils.data import default_collate

from experiments.checkpoint import load_checkpoint, save_checkpoint
from experiments.config import apply_overrides, load_config
from experiments.distributed import Process, StepBatches, start_process
from experiments.training import build_run, train, training_step, unwrap
from tests.conftest import assert_gpu_resident

REPO = Path(__file__).resolve().parents[2]
FAST = ["train.steps=6", "train.checkpoint_every=2"]


def test_overrides_are_read_as_toml_values():
    cfg = apply_overrides(
        {"train": {"steps": 1}}, ["train.steps=5", "task.photons=1e3", "model.name=VarNet", "train.betas=[0.5, 0.9]"]
    )
    assert cfg == {"train": {"steps": 5, "betas": [0.5, 0.9]}, "task": {"photons": 1e3}, "model": {"name": "VarNet"}}
    with pytest.raises(ValueError, match="section.key=value"):
        apply_overrides({}, ["steps"])


def test_unknown_config_names_the_bundled_ones():
    with pytest.raises(ValueError, match="smoke-ct"):
        load_config("no-such-config")


def test_step_batches_split_each_global_batch_across_ranks():
    full = StepBatches(20, 4, 12, seed=3)
    ranks = [StepBatches(20, 4, 12, seed=3, rank=r, world=2) for r in range(2)]
    for step, batch in enumerate(full):
        shares = [r.batch_indices(step) for r in ranks]
        assert sorted(shares[0] + shares[1]) == sorted(batch) and len(set(batch)) == 4
    # an epoch visits 5 disjoint batches; a resumed sampler continues with the same batches
    assert sorted(i for b in list(full)[:5] for i in b) == list(range(20))
    assert list(StepBatches(20, 4, 12, seed=3, start=7)) == list(full)[7:]
    with pytest.raises(ValueError, match="divisible"):
        StepBatches(20, 3, 12, seed=0, world=2)


def test_checkpoint_write_is_atomic(tmp_path):
    path = tmp_path / "checkpoint.pt"
    save_checkpoint(path, {"step": 1})

    class Unpicklable:
        def __reduce__(self):
            raise RuntimeError("killed while writing")

    with pytest.raises(RuntimeError, match="killed"):
        save_checkpoint(path, {"step": 2, "bad": Unpicklable()})
    assert load_checkpoint(path) == {"step": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["checkpoint.pt"]


def test_orphaned_temporary_files_are_cleared_by_the_next_write(tmp_path):
    path = tmp_path / "checkpoint.pt"
    (tmp_path / ".checkpoint.pt.k1ll3d.tmp").write_bytes(b"half a checkpoint")  # a write killed mid-way
    (tmp_path / ".other.pt.x.tmp").write_bytes(b"")  # another file's: kept
    save_checkpoint(path, {"step": 1})
    assert sorted(p.name for p in tmp_path.iterdir()) == [".other.pt.x.tmp", "checkpoint.pt"]


def test_corrupt_checkpoint_is_named(tmp_path):
    path = tmp_path / "checkpoint.pt"
    save_checkpoint(path, {"step": 1, "w": torch.ones(100)})
    for data in (path.read_bytes()[:200], b"not a checkpoint", b""):
        path.write_bytes(data)
        with pytest.raises(ValueError, match=f"checkpoint .* at {re.escape(str(path))}, got a file that is corrupt"):
            load_checkpoint(path)


class Hostile:
    """Unpickling this calls ``open(marker, "w")``: a stand-in for whatever code a crafted checkpoint runs."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return open, (str(self.marker), "w")


@pytest.mark.parametrize("command", ["evaluate", "resume", "init", "shift"])
def test_hostile_checkpoint_is_refused_not_run(tmp_path, command):
    from experiments.__main__ import main

    marker, run = tmp_path / "ran", tmp_path / "run"
    save_checkpoint(run / "checkpoint.pt", {"config": load_config("smoke-ct"), "step": 2, "model": Hostile(marker)})
    argv = {
        "evaluate": ["evaluate", str(run)],
        "resume": ["train", "smoke-ct", "--out", str(run), "--resume"],
        "init": ["train", "smoke-ct", "--out", str(tmp_path / "new"), f"train.init={str(run / 'checkpoint.pt')!r}"],
        "shift": [
            "shift",
            "--config",
            "smoke-ct",
            "--source-checkpoint",
            str(run / "checkpoint.pt"),
            "--out",
            str(tmp_path / "shift"),
        ],
    }[command]
    with pytest.raises(ValueError, match=f"{re.escape(str(run / 'checkpoint.pt'))}.*Unsupported global.*open"):
        main(argv)
    assert not marker.exists()
    torch.load(run / "checkpoint.pt", weights_only=False)  # the file is truly hostile: unrestricted loading runs it
    assert marker.exists()


def _rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_resume_after_a_kill_gives_the_uninterrupted_result(tmp_path):
    cfg = load_config("smoke-ct", FAST)
    whole = train(cfg, tmp_path / "whole", progress=False)
    train(cfg, tmp_path / "killed", stop_after=3, progress=False)  # last checkpoint at step 2
    assert load_checkpoint(tmp_path / "killed" / "checkpoint.pt")["step"] == 2
    resumed = train(cfg, tmp_path / "killed", resume=True, progress=False)
    assert resumed.step == whole.step == 6
    for key, value in unwrap(whole.model).state_dict().items():
        assert torch.equal(value, unwrap(resumed.model).state_dict()[key]), key
    a, b = _rows(tmp_path / "whole" / "metrics.csv"), _rows(tmp_path / "killed" / "metrics.csv")
    assert [r["step"] for r in a] == [r["step"] for r in b] == [str(s) for s in range(1, 7)]
    assert [(r["loss"], r["val_psnr"]) for r in a] == [(r["loss"], r["val_psnr"]) for r in b]
    assert float(a[-1]["val_psnr"]) > 0 and (tmp_path / "whole" / "tensorboard").is_dir()
    with pytest.raises(ValueError, match="train.lr"):
        train(load_config("smoke-ct", [*FAST, "train.lr=0.1"]), tmp_path / "killed", resume=True, progress=False)


# A kill (no `finally`, nothing buffered written out) right after the checkpoint of step 2.
KILLED_AFTER_A_CHECKPOINT = """
import os, sys
from pathlib import Path
from experiments import training
from experiments.config import load_config

save = training.save_checkpoint
def save_then_die(path, state):
    save(path, state)
    if state["step"] == 2:
        os._exit(9)
training.save_checkpoint = save_then_die
training.train(load_config("smoke-ct", sys.argv[2:]), Path(sys.argv[1]), progress=False)
"""


def test_a_killed_run_has_its_rows_up_to_the_checkpoint_on_disk(tmp_path):
    env = dict(os.environ, PYTHONPATH=str(REPO))
    done = subprocess.run(
        [sys.executable, "-c", KILLED_AFTER_A_CHECKPOINT, str(tmp_path), *FAST],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 9, done.stderr[-3000:]
    assert [r["step"] for r in _rows(tmp_path / "metrics.csv")] == ["1", "2"]
    train(load_config("smoke-ct", FAST), tmp_path, resume=True, progress=False)
    assert [r["step"] for r in _rows(tmp_path / "metrics.csv")] == [str(s) for s in range(1, 7)]


def test_training_lowers_the_loss(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run = train(load_config("smoke-ct", ["train.steps=16", "train.lr=3e-3"]), tmp_path, progress=False)
    rows = _rows(tmp_path / "metrics.csv")
    losses = [float(r["loss"]) for r in rows]
    psnrs = [float(r["val_psnr"]) for r in rows if r["val_psnr"]]
    assert run.step == 16 and len(rows) == 16 and sum(losses[-4:]) < 0.7 * sum(losses[:4])
    assert len(psnrs) == 4 and psnrs[-1] > psnrs[0] + 1  # validated each epoch (16 items, batches of 4)
    # TensorBoard takes every 10th step's scalars and each validation's, the last step's among them
    events = EventAccumulator(str(tmp_path / "tensorboard")).Reload()
    assert [e.step for e in events.Scalars("loss")] == [4, 8, 10, 12, 16]
    assert [e.step for e in events.Scalars("val_psnr")] == [4, 8, 12, 16]


def test_train_threads_hold_for_the_run_and_are_restored(tmp_path):
    from experiments.training import _torch_threads

    before = torch.get_num_threads()
    with pytest.raises(RuntimeError, match="inside"):
        with _torch_threads(1):
            assert torch.get_num_threads() == 1
            raise RuntimeError("inside")
    assert torch.get_num_threads() == before
    train(load_config("smoke-ct", ["train.steps=2", "train.n_threads=1"]), tmp_path, progress=False)
    assert torch.get_num_threads() == before
    with pytest.raises(ValueError, match="train.n_threads"):
        load_config("smoke-ct", ["train.n_threads=0"])


DAGAN_TINY = ["task.image_size=32", "task.n_coils=2", "model.width=8", "gan.width=8", "data.n_train=8", "data.n_val=2"]


def _ddp(tmp_path, config, overrides):
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1")
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node",
        "2",
        str(REPO / "tests" / "experiments" / "ddp_worker.py"),
        str(tmp_path),
        config,
        *overrides,
        "train.device=cpu",
    ]
    done = subprocess.run(cmd, env=env, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    rank0, rank1 = (torch.load(tmp_path / f"rank{r}.pt") for r in range(2))
    assert rank0.keys() == rank1.keys()
    for key in rank0:
        assert torch.equal(rank0[key], rank1[key]), key
    return rank0


def test_ddp_on_two_cpu_processes_keeps_the_ranks_identical(tmp_path):
    rank0 = _ddp(tmp_path, "smoke-ct", FAST)
    # 2 processes x 2 items average the same gradients as 1 process x 4 items
    single = train(load_config("smoke-ct", FAST), tmp_path / "single", progress=False)
    for key, value in unwrap(single.model).state_dict().items():
        torch.testing.assert_close(rank0[key], value, rtol=1e-4, atol=1e-5)


def test_ddp_trains_a_gan_with_its_discriminator_in_step(tmp_path):
    _ddp(tmp_path, "mri-dagan", [*DAGAN_TINY, "train.steps=2", "train.checkpoint_every=2"])
    state = load_checkpoint(tmp_path / "checkpoint.pt")
    assert not any(k.startswith("module.") for k in state["discriminator"])


def test_command_line_takes_overrides_around_its_options(tmp_path):
    from experiments.commands.train import main

    main(["smoke-ct", "--out", str(tmp_path), "train.steps=2", "train.checkpoint_every=1"])
    assert load_checkpoint(tmp_path / "checkpoint.pt")["step"] == 2
    assert "steps = 2" in (tmp_path / "config.toml").read_text()


def test_train_device_is_checked():
    with pytest.raises(ValueError, match="expected train.device 'auto', 'cpu' or 'cuda', got 'gpu'"):
        start_process("gpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="no CUDA device"):
            start_process("cuda")


# Small runs of each modality; the first step's loss on the GPU against the CPU's: CT and PET within 5e-2 (ASTRA's
# CUDA projectors are within 2e-2 of the CPU's, validation/ct.py, and the networks see them several times), MRI within 1e-2
# (cuDNN's convolutions run in TF32 by default, 10-bit mantissas).
MRI_TINY = ["model.n_cascades=2", "model.width=8", "model.n_layers=3", "data.n_train=8", "data.n_val=2"]
CUDA_RUNS = {
    "smoke-ct": ([], 5e-2),
    "pet-lpd": (
        [
            "task.downsample=12",
            "model.n_iter=2",
            "model.width=8",
            "data.n_train=8",
            "data.n_val=2",
            'model.initial={method="osem", n_iter=1, n_subsets=3}',
        ],
        5e-2,
    ),
    "mri-cascade": ([*MRI_TINY, "task.image_size=32", "task.n_coils=2"], 1e-2),
}


@pytest.mark.cuda
@pytest.mark.parametrize("name", CUDA_RUNS)
def test_cuda_training_puts_model_operator_and_batches_on_the_gpu(tmp_path, name):
    overrides, tol = CUDA_RUNS[name]
    overrides = [*overrides, "train.steps=2", "train.checkpoint_every=2"]
    run = train(load_config(name, [*overrides, "train.device=cuda"]), tmp_path / "cuda", progress=False)
    model = unwrap(run.model)
    assert run.step == 2 and all(p.is_cuda for p in model.parameters())
    assert all(b.is_cuda for b in model.op.buffers())  # PET's factors, MRI's maps and mask (CT's projector has none)
    train(load_config(name, [*overrides, "train.device=cpu"]), tmp_path / "cpu", progress=False)
    gpu, cpu = (float(_rows(tmp_path / folder / "metrics.csv")[0]["loss"]) for folder in ("cuda", "cpu"))
    assert math.isfinite(gpu) and abs(gpu - cpu) < tol * cpu


@pytest.mark.cuda
def test_a_cuda_training_step_copies_no_operator_constants():
    """Per step the batch comes to the GPU (here before the step) and the loss goes back; the mask and maps stay.
    MRI's operator is torch alone, so every byte counted is ours."""
    cfg = load_config("mri-cascade", MRI_TINY)
    run = build_run(cfg, Process(device=torch.device("cuda")))
    batch = default_collate([run.task.train[i] for i in range(4)])
    y, x = batch["y"].cuda(), batch["x"].cuda()
    loss, _ = assert_gpu_resident(training_step, run, y, x, 1.0, data_bytes=y.nbytes + x.nbytes)
    assert math.isfinite(loss)


def test_compiled_training_follows_the_eager_run_and_saves_the_same_keys(tmp_path):
    """train.compile = true compiles the model's forward (its backward with it): same losses to float32
    rounding over a few steps, and a checkpoint an eager model loads."""
    eager = train(load_config("smoke-ct", FAST), tmp_path / "eager", progress=False)
    compiled = train(load_config("smoke-ct", [*FAST, "train.compile=true"]), tmp_path / "compiled", progress=False)
    a, b = _rows(tmp_path / "eager" / "metrics.csv"), _rows(tmp_path / "compiled" / "metrics.csv")
    for row_a, row_b in zip(a, b):
        assert float(row_b["loss"]) == pytest.approx(float(row_a["loss"]), rel=1e-3)
    assert unwrap(compiled.model).state_dict().keys() == unwrap(eager.model).state_dict().keys()
    unwrap(eager.model).load_state_dict(load_checkpoint(tmp_path / "compiled" / "checkpoint.pt")["model"])


# ----------------------------------------------------------------------------- divergence
TINY = ["train.steps=3", "train.checkpoint_every=1", "data.n_train=4"]


@pytest.mark.parametrize(
    "lr, every, step, what",
    [
        ("inf", 1, 1, "weights are not finite"),  # a finite loss and gradient times inf: caught before step 1's save
        ("1e30", 2, 2, "loss nan, gradient norm nan"),
    ],
)
def test_divergence_names_its_step_and_keeps_the_good_checkpoint(tmp_path, lr, every, step, what):
    train(load_config("smoke-ct", TINY), tmp_path, progress=False)
    good = load_checkpoint(tmp_path / "checkpoint.pt")
    with pytest.raises(ValueError, match=rf"training diverged at step {step}: {what}.*lower train.lr"):
        train(
            load_config("smoke-ct", [*TINY, f"train.lr={lr}", f"train.checkpoint_every={every}"]),
            tmp_path,
            progress=False,
        )
    kept = load_checkpoint(tmp_path / "checkpoint.pt")
    assert kept["step"] == 3 and kept["model"].keys() == good["model"].keys()
    assert all(torch.equal(kept["model"][k], good["model"][k]) for k in good["model"])


def test_a_diverging_run_exits_non_zero_from_the_command_line(tmp_path):
    env = dict(os.environ, PYTHONPATH=str(REPO))
    done = subprocess.run(
        [sys.executable, "-m", "experiments", "train", "smoke-ct", "--out", str(tmp_path), *TINY, "train.lr=inf"],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode != 0 and "training diverged at step 1" in done.stderr, done.stderr[-3000:]
    assert not (tmp_path / "checkpoint.pt").exists()  # step 1's weights were not finite: not written


# Under torchrun, rank 1 alone sees a NaN batch at step 2; each rank writes the error it stopped with.
DIVERGING_RANK = """
import sys
from pathlib import Path
import torch.distributed as dist
from experiments import training
from experiments.config import load_config

step = training.training_step
def poisoned(run, y, x, *args):
    if dist.get_rank() == 1 and run.step == 1:
        y = y * float("nan")
    return step(run, y, x, *args)
training.training_step = poisoned
out = Path(sys.argv[1])
try:
    training.train(load_config("smoke-ct", sys.argv[2:]), out, progress=False)
except ValueError as err:
    (out / f"rank{dist.get_rank()}.err").write_text(str(err))
# the traceback kept the DDP model in a cycle: freed after destroy_process_group, torch 2.14.1 aborts
import gc; gc.collect()
dist.destroy_process_group()
"""


def test_ddp_ranks_stop_together_when_one_sees_a_non_finite_loss(tmp_path):
    worker = tmp_path / "worker.py"
    worker.write_text(DIVERGING_RANK)
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1")
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node",
        "2",
        str(worker),
        str(tmp_path),
        *TINY,
        "train.device=cpu",
    ]
    done = subprocess.run(cmd, env=env, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    for rank in range(2):
        assert (tmp_path / f"rank{rank}.err").read_text().startswith("training diverged at step 2: loss nan")
    state = load_checkpoint(tmp_path / "checkpoint.pt")
    assert state["step"] == 1 and all(v.isfinite().all() for v in state["model"].values())
