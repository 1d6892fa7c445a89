"""Seconds per image and PSNR of each classical baseline, with its default parameters, on the quick jobs' problems.

    python -m experiments.bench_baselines [--size 128] [--pet-downsample 2] [--repeats 3]

The test sets of the ``ct-lpd``, ``mri-cascade`` and ``pet-lpd`` configurations at another size: ellipses in a
water body through a down-sampled Siemens SOMATOM Definition AS at I0 = 1e4; complex phantoms, 8 birdcage
coils, 4x equispaced Cartesian, 1 % noise; activity in a water body on a Biograph mMR with 35 % scatter and
20 % randoms. Prints a markdown table; `problem` builds the same problems for the tests.
"""
from __future__ import annotations

import argparse

import torch

from experiments.baselines import BASELINES
from experiments.config import load_config
from experiments.evaluate import stack
from experiments.metrics import psnr
from experiments.report import markdown_table
from experiments.tasks import build_task
from experiments.timing import interleaved_medians

CONFIGS = {"ct": "ct-lpd", "mri": "mri-cascade", "pet": "pet-lpd"}


def problem(modality: str, size: int = 128, n_items: int = 1, seed: int = 0, pet_downsample: int = 2):
    """``(op, y, x)``: the operator of a quick job's task, noisy data ``(n_items, *range)`` and truth ``(n_items, *domain)``.

    CT and MRI images are ``size``² (CT keeps 72 views, channels binned to match); PET's grid is the
    Biograph mMR's down-sampled by ``pet_downsample``.
    """
    if modality not in CONFIGS:
        raise ValueError(f"modality must be 'ct', 'mri' or 'pet', got {modality!r}")
    overrides = [f"seed={seed}", f"data.n_test={n_items}", "data.n_train=1", "data.n_val=1", f"task.image_size={size}",
                 f"task.detector_binning={max(1, 8 * 64 // size)}", f"task.downsample={pet_downsample}"]
    task = build_task(load_config(CONFIGS[modality], overrides))
    test = stack(task.test)
    return task.op, test["y"], test["x"]


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m experiments.bench_baselines", description=__doc__)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--pet-downsample", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    torch.set_num_threads(2)
    rows = []
    for modality, baselines in BASELINES.items():
        op, y, x = problem(modality, args.size, pet_downsample=args.pet_downsample)
        times = interleaved_medians({name: lambda fn=fn: fn(op, y) for name, fn in baselines.items()}, args.repeats)
        shape = "x".join(map(str, op.domain_shape[-2:]))
        for name, fn in baselines.items():
            rows.append({"modality": modality, "image": shape, "baseline": name, "s per image": times[name],
                         "PSNR (dB)": float(psnr(fn(op, y), x))})
    print(markdown_table(rows))


if __name__ == "__main__":
    main()
