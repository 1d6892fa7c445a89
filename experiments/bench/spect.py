"""SPECT: forward, adjoint and one OSEM iteration, `bridges.spect.Projector` against PyTomography 3.4's
``SPECTSystemMatrix`` on the same problem (128 × 128 × 2, 120 views of two heads, water μ-map, LEHR blur).

    python -m experiments.bench.spect [--repeats 3] [--views 120] [--size 128] [--markdown PATH]

Both run on the CPU in float32 with the threads torch has; calls are interleaved (`interleaved_medians`).
PyTomography's OSEM iteration is its ``OSEM`` algorithm's update on 8 subsets, ours `bridges.solvers.osem` with
8 subsets for one iteration. Also prints the relative difference of the two forward models. Prints markdown.
"""

from __future__ import annotations

import argparse

import torch

from bridges import spect
from experiments.bench.markdown import add_markdown_option, markdown_output
from experiments.bench.timing import interleaved_medians
from experiments.validation.spect import pytomography_forward, smooth_phantom


def bench(repeats: int, views: int, size: int):
    g = spect.SPECTGeometry.circular((2, size, size), 4.42 * 128 / size, views, 250.0, heads=2)
    lehr = spect.collimator("siemens-symbia-lehr")
    activity, mu = smooth_phantom(g, torch.float32)
    A = spect.Projector(g, lehr, attenuation=mu)
    y = A(activity)
    theirs = pytomography_forward(g, lehr, mu)
    system = theirs.system
    obj = theirs.to_obj(activity)
    proj = system.forward(obj)
    difference = float((y.double() - theirs(activity)).norm() / y.double().norm())
    counts = torch.poisson(y / y.mean() * 5)
    from pytomography.algorithms import OSEM
    from pytomography.likelihoods import PoissonLogLikelihood

    their_counts = (counts / g.pixel_size).permute(1, 2, 0).contiguous()  # (views, bins, z), their units
    osem = OSEM(PoissonLogLikelihood(system, their_counts))
    times = interleaved_medians(
        {
            "ours forward": lambda: A(activity),
            "ours adjoint": lambda: A.T(y),
            "ours OSEM iteration (8 subsets)": lambda: spect.osem(A, counts, 1, n_subsets=8),
            "PyTomography forward": lambda: system.forward(obj),
            "PyTomography back-projection": lambda: system.backward(proj),
            "PyTomography OSEM iteration (8 subsets)": lambda: osem(1, 8),
        },
        repeats,
    )
    print(f"| {size}x{size}x2, {views} views, water μ, LEHR blur | seconds (median of {repeats}) |")
    print("|---|---|")
    for name, t in times.items():
        print(f"| {name} | {t:.3f} |")
    print(
        f"\nforward-model relative difference ours vs PyTomography: {difference:.2e}; "
        f"torch threads: {torch.get_num_threads()}"
    )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--views", type=int, default=120)
    parser.add_argument("--size", type=int, default=128)
    add_markdown_option(parser)
    args = parser.parse_args(argv)
    with markdown_output(args.markdown, "python -m experiments.bench.spect", argv):
        bench(args.repeats, args.views, args.size)


if __name__ == "__main__":
    main()
