"""Seconds per image and PSNR of each classical baseline of the quick jobs, tuned as their evaluation tunes them.

    python -m experiments.bench.baselines [--size 128] [--pet-downsample 2] [--items 4] [--markdown PATH]

The ``ct-lpd``, ``mri-cascade`` and ``pet-lpd`` tasks at another size: ellipses in a water body through a
down-sampled Siemens SOMATOM Definition AS at I0 = 1e4; complex phantoms, 8 birdcage coils, 4x equispaced
Cartesian, 1 % noise; activity in a water body on a Biograph mMR with 35 % scatter and 20 % randoms. Each
configured baseline is tuned on the validation items, then timed on the test items
(`experiments.evaluation.run_baselines`). Prints a markdown table; `problem` builds the same tasks for the tests.
"""

from __future__ import annotations

import argparse

import torch

from experiments.bench.markdown import add_markdown_option, markdown_output
from experiments.config import load_config
from experiments.evaluation import run_baselines, stack
from experiments.metrics import psnr
from experiments.report import markdown_table
from experiments.tasks import build_task

CONFIGS = {"ct": "ct-lpd", "mri": "mri-cascade", "pet": "pet-lpd"}


def problem(modality: str, size: int = 128, n_items: int = 1, seed: int = 0, pet_downsample: int = 2):
    """``(task, cfg)``: a quick job's task and configuration with ``n_items`` validation and test items.

    CT and MRI images are ``size``² (CT keeps 72 views, channels binned to match); PET's grid is the
    Biograph mMR's down-sampled by ``pet_downsample``.
    """
    if modality not in CONFIGS:
        raise ValueError(f"modality must be 'ct', 'mri' or 'pet', got {modality!r}")
    overrides = [
        f"seed={seed}",
        f"data.n_test={n_items}",
        "data.n_train=1",
        f"data.n_val={n_items}",
        f"task.downsample={pet_downsample}" if modality == "pet" else f"task.image_size={size}",
    ]
    if modality == "ct":
        overrides.append(f"task.detector_binning={max(1, 8 * 64 // size)}")
    cfg = load_config(CONFIGS[modality], overrides)
    return build_task(cfg), cfg


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m experiments.bench.baselines",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--pet-downsample", type=int, default=2)
    parser.add_argument("--items", type=int, default=4)
    add_markdown_option(parser)
    args = parser.parse_args(argv)
    with markdown_output(args.markdown, "python -m experiments.bench.baselines", argv):
        torch.set_num_threads(2)
        rows = []
        for modality in CONFIGS:
            task, cfg = problem(modality, args.size, args.items, pet_downsample=args.pet_downsample)
            test = stack(task.test)
            shape = "x".join(map(str, task.op.domain_shape[-2:]))
            for name, (image, seconds) in run_baselines(task, cfg, test).items():
                rows.append(
                    {
                        "modality": modality,
                        "image": shape,
                        "baseline": name,
                        "s per image": seconds,
                        "PSNR (dB)": psnr(image, test["x"]),
                    }
                )
        print(markdown_table(rows))


if __name__ == "__main__":
    main()
