"""Run by torchrun in tests/experiments/test_train.py: train a configuration (argv: out, name, overrides)
data-parallel and save this rank's final weights, so that the test can compare them across ranks."""

import sys
from pathlib import Path

import torch
import torch.distributed as dist

from experiments.config import load_config
from experiments.training import train, unwrap

out = Path(sys.argv[1])
run = train(load_config(sys.argv[2], sys.argv[3:]), out, progress=False)
torch.save(unwrap(run.model).state_dict(), out / f"rank{dist.get_rank()}.pt")
dist.destroy_process_group()
