"""python -m experiments train CONFIG [section.key=value ...] [--out DIR] [--resume]

Trains the configured model with `experiments.training.train`; ``--resume`` continues from the run
folder's last checkpoint with the same result as an uninterrupted run.

Example::

    python -m experiments train ct-lpd train.steps=100 --out runs/ct-lpd
    torchrun --nproc_per_node 4 -m experiments train ct-lpd-full
"""

from __future__ import annotations

import argparse
import gc
from pathlib import Path

import torch.distributed as dist

from experiments.config import load_config
from experiments.training import train


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m experiments train", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("config", help="a file or the name of one in experiments/configs/")
    parser.add_argument("overrides", nargs="*", help="section.key=value")
    parser.add_argument("--out", type=Path, default=None, help="run folder (default runs/<config name>)")
    parser.add_argument("--resume", action="store_true", help="continue from <out>/checkpoint.pt")
    args = parser.parse_intermixed_args(argv)
    cfg = load_config(args.config, args.overrides)
    out = args.out or Path("runs") / Path(args.config).stem
    steps = train(cfg, out, resume=args.resume).step
    if dist.is_initialized():
        # The DDP model must be gone before its process group: torch 2.14.1 aborts (std::terminate) when a
        # DDP module is freed after destroy_process_group, at the latest at the interpreter's exit.
        gc.collect()
        dist.destroy_process_group()
    print(f"trained {steps} steps; checkpoint {out / 'checkpoint.pt'}")
