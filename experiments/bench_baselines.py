"""Seconds per image and PSNR of each classical baseline, with its default parameters, on the quick jobs' problems.

    python -m experiments.bench_baselines [--size 128] [--pet-downsample 2] [--repeats 3]

CT: ellipses through a down-sampled Siemens SOMATOM Definition AS (72 views at 128²) with transmission
noise at I0 = 1e4; MRI: complex ellipses with a smooth phase, 4 birdcage coils, 4x equispaced Cartesian,
1 % complex Gaussian noise; PET: ellipses on a Biograph mMR with attenuation, 20 % scatter and randoms,
1e6 counts. Prints a markdown table; `problem` builds the same problems for the tests.
"""
from __future__ import annotations

import argparse
import math

import sigpy.mri
import torch

from bridges import ct, mri, pet
from experiments.baselines import BASELINES
from experiments.metrics import psnr
from experiments.phantoms import MU_WATER, random_ellipses
from experiments.report import markdown_table
from experiments.run import transmission_noise
from experiments.timing import interleaved_medians


def _ellipses(n_items, shape, seed):
    return torch.stack([random_ellipses(shape, generator=torch.Generator().manual_seed(seed + i))
                        for i in range(n_items)])


def problem(modality: str, size: int = 128, n_items: int = 1, seed: int = 0, pet_downsample: int = 2):
    """``(op, y, x)``: a seeded operator, noisy data ``(n_items, *range)`` and truth ``(n_items, *domain)``.

    CT and MRI images are ``size``²; PET's grid is the Biograph mMR's down-sampled by ``pet_downsample``.
    """
    g = torch.Generator().manual_seed(seed + 10_000)
    if modality == "ct":
        geometry = ct.scanner("siemens-definition-as", view_step=32 * 128 // size, detector_binning=4 * 128 // size,
                              image_shape=(size, size), fov=260.0)
        A = ct.Projector(geometry)
        x = _ellipses(n_items, (size, size), seed)
        return A, transmission_noise(A(x), 1e4, g), x
    if modality == "mri":
        maps = torch.from_numpy(sigpy.mri.birdcage_maps((4, size, size))).to(torch.complex64)
        A = mri.CartesianSense(maps, mri.mask_equispaced((size, size), 4, 0.08))
        yy, xx = torch.meshgrid(torch.linspace(-1, 1, size), torch.linspace(-1, 1, size), indexing="ij")
        x = (_ellipses(n_items, (size, size), seed) / MU_WATER * torch.exp(1j * (0.8 * xx + 0.5 * yy))).to(A.domain_dtype)
        k = A(x)
        sigma = 0.01 * float(k.abs().pow(2).mean().sqrt())
        noise = torch.complex(torch.randn(k.shape, generator=g), torch.randn(k.shape, generator=g)) / math.sqrt(2)
        return A, (k + sigma * noise) * A.mask, x
    if modality == "pet":
        scanner = pet.PETScanner.biograph_mmr(downsample=pet_downsample)
        activity = _ellipses(n_items, scanner.image_shape, seed) / MU_WATER
        mu_map = (random_ellipses(scanner.image_shape, n_ellipses=1, generator=torch.Generator().manual_seed(seed))
                  > 0) * 0.0096  # water at 511 keV, 1/mm
        # one background (scatter and randoms of the mean image) shared by all items, so that they batch
        reference = pet.simulate(pet.SystemModel(scanner, attenuation=mu_map), activity.mean(0), total_counts=1e6,
                                 randoms_fraction=0.2, scatter_fraction=0.2, generator=g)
        model = pet.SystemModel(scanner, attenuation=mu_map, background=reference.background)
        with torch.no_grad():
            truth = activity * (1e6 / model(activity).sum((-2, -1))).reshape(-1, 1, 1)  # 1e6 trues per item
            return model, torch.poisson(model.expected_counts(truth), generator=g), truth
    raise ValueError(f"modality must be 'ct', 'mri' or 'pet', got {modality!r}")


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
