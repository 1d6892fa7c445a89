"""Data-parallel training under torchrun: this process's place in the group, and the batches each rank takes."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import torch
import torch.distributed as dist
from torch.utils.data import Sampler


@dataclass
class Process:
    """Where this process runs: its rank among ``world`` processes and its device."""

    rank: int = 0
    world: int = 1
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))

    @property
    def main(self) -> bool:
        return self.rank == 0

    def barrier(self):
        if self.world > 1:
            dist.barrier()


def start_process(device: str = "auto") -> Process:
    """Join the process group that ``torchrun`` describes in the environment (WORLD_SIZE, RANK, ...).

    ``device`` (``train.device``): "auto" (a GPU where there is one), "cpu" or "cuda"; each rank takes
    the GPU of its LOCAL_RANK.
    """
    if device not in ("auto", "cpu", "cuda"):
        raise ValueError(f"expected train.device 'auto', 'cpu' or 'cuda', got {device!r}")
    if device == "cuda" and not torch.cuda.is_available():
        raise ValueError("train.device = 'cuda', but torch sees no CUDA device here: use 'auto' or 'cpu'")
    cuda = torch.cuda.is_available() if device == "auto" else device == "cuda"
    world = int(os.environ.get("WORLD_SIZE", "1"))
    local = int(os.environ.get("LOCAL_RANK", "0"))
    dev = torch.device("cuda", local) if cuda else torch.device("cpu")
    if cuda:
        torch.cuda.set_device(dev)
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if cuda else "gloo")
    return Process(dist.get_rank() if world > 1 else 0, world, dev)


# ----------------------------------------------------------------------------- batches
class StepBatches(Sampler):
    """The indices of this rank's share of each global batch, for steps ``start .. steps - 1``.

    Epoch ``e`` visits the training set in the order ``randperm(n, seed=(seed, e))``; step ``s``
    takes the next ``global_batch`` indices of that order and rank ``r`` of ``world`` takes every
    world-th of them from the r-th. A batch depends only on (seed, step), so a resumed run, or one
    on another number of processes, sees the same global batches.
    """

    def __init__(self, n: int, global_batch: int, steps: int, seed: int, start: int = 0, rank: int = 0, world: int = 1):
        if global_batch % world:
            raise ValueError(
                f"train.batch_size must be divisible by the number of processes ({world}), got {global_batch}"
            )
        if global_batch > n:
            raise ValueError(f"train.batch_size ({global_batch}) exceeds the training set ({n} items)")
        self.n, self.batch, self.steps, self.seed = n, global_batch, steps, seed
        self.start, self.rank, self.world = start, rank, world
        self.per_epoch = n // global_batch  # the tail of each permutation is dropped: equal batches

    def batch_indices(self, step: int) -> list[int]:
        epoch, k = divmod(step, self.per_epoch)
        order = torch.randperm(self.n, generator=torch.Generator().manual_seed(self.seed * 1_000_003 + epoch))
        return order[k * self.batch : (k + 1) * self.batch][self.rank :: self.world].tolist()

    def __iter__(self):
        return (self.batch_indices(s) for s in range(self.start, self.steps))

    def __len__(self):
        return max(self.steps - self.start, 0)
