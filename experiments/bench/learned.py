"""Learned primal-dual training cost on CPU: time per step, eager and compiled, the share spent in the CT
operator, peak memory.

    python -m experiments.bench.learned [--size 128] [--views 30] [--batches 1 4] [--steps 5] [--markdown PATH]

LPD (Adler & Öktem's defaults: 10 iterations, 5 primal and 5 dual channels, width 32) on a
parallel-beam `ct.Projector`; one step is forward, backward and an Adam update on random-ellipse
phantoms. Two identical models train side by side, one eager and one whose loss (forward, and with it
the backward) is `torch.compile`d; their steps alternate so that both see the machine in the same
state. The operator's share is the wall time inside ASTRA's kernels (forward and adjoint, in the
forward pass and in backward) over the eager step's time. Peak memory is the process's peak resident
set (ru_maxrss), which includes the interpreter and libraries. Prints a markdown table.
"""

from __future__ import annotations

import argparse
import math
import resource
import statistics
import time

import torch

from bridges import LinearOperator, ct
from experiments.bench.markdown import add_markdown_option, markdown_output
from experiments.data.phantoms import lpd_ellipses
from learned import LearnedPrimalDual


class TimedOperator(LinearOperator):
    """The same operator, with the wall time of its kernels summed in ``seconds``."""

    batched_kernels = True

    def __init__(self, op: LinearOperator):
        super().__init__(op.domain_shape, op.range_shape, op.domain_dtype, op.range_dtype)
        self.op, self.seconds, self.calls = op, 0.0, 0

    def _timed(self, apply, x):
        start = time.perf_counter()
        out = apply(x)
        self.seconds += time.perf_counter() - start
        self.calls += 1
        return out

    def _forward(self, x):
        return self._timed(self.op.forward, x)

    def _adjoint(self, y):
        return self._timed(self.op.adjoint, y)


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux


def bench(size: int, views: int, batch: int, steps: int) -> dict:
    geometry = ct.ParallelBeam2D(
        angles=views, n_detectors=math.ceil(size * 1.5), detector_spacing=1.0, image_shape=(size, size)
    )
    op = TimedOperator(ct.Projector(geometry))
    g = torch.Generator().manual_seed(0)
    x = torch.stack([lpd_ellipses((size, size), g, mean_count=10, mu=1.0) for _ in range(batch)])
    with torch.no_grad():
        y = op(x)
    runs = {}
    for name in ("eager", "compiled"):
        model = LearnedPrimalDual(op, seed=0)
        loss = lambda m=model: (m(y) - x).pow(2).mean()  # noqa: E731
        runs[name] = dict(
            model=model,
            optimiser=torch.optim.Adam(model.parameters(), 1e-3),
            times=[],
            loss=torch.compile(loss) if name == "compiled" else loss,
        )
    shares, calls = [], 0
    for i in range(steps + 1):  # the first step warms up allocator and projector, and compiles
        for name, run in runs.items():
            op.seconds, op.calls = 0.0, 0
            start = time.perf_counter()
            run["optimiser"].zero_grad()
            run["loss"]().backward()
            run["optimiser"].step()
            elapsed = time.perf_counter() - start
            if i == 0:
                run["first"] = elapsed
            else:
                run["times"].append(elapsed)
                if name == "eager":
                    shares.append(op.seconds / elapsed)
                    calls = op.calls
    eager, compiled = (statistics.median(runs[n]["times"]) for n in ("eager", "compiled"))
    return dict(
        eager=eager,
        compiled=compiled,
        compile_seconds=runs["compiled"]["first"] - eager,
        share=statistics.median(shares),
        calls=calls,
    )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--views", type=int, default=30)
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 4])
    parser.add_argument("--steps", type=int, default=5)
    add_markdown_option(parser)
    args = parser.parse_args(argv)
    with markdown_output(args.markdown, "python -m experiments.bench.learned", argv):
        print(
            f"torch {torch.__version__}, {torch.get_num_threads()} threads; LearnedPrimalDual(n_iter=10, n_primal=5, "
            f"n_dual=5, width=32) on {args.size}x{args.size}, {args.views} views; medians of {args.steps} steps\n"
        )
        print(
            "| batch | eager step (ms) | compiled step (ms) | compiled speed-up | compiling (s) | in operator (ms) "
            "| operator share | operator calls per step | peak RSS (MB) |"
        )
        print("|---|---|---|---|---|---|---|---|---|")
        for batch in args.batches:
            r = bench(args.size, args.views, batch, args.steps)
            print(
                f"| {batch} | {1e3 * r['eager']:.0f} | {1e3 * r['compiled']:.0f} | {r['eager'] / r['compiled']:.2f}x "
                f"| {r['compile_seconds']:.0f} | {1e3 * r['eager'] * r['share']:.0f} | {100 * r['share']:.1f} % "
                f"| {r['calls']} | {peak_rss_mb():.0f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
