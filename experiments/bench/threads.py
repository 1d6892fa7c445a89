"""How the CPU paths degrade when other processes compete for the cores: thread count and OpenMP wait policy.

    python -m experiments.bench.threads [--calls 40] [--busy 0 1 2] [--markdown PATH]

Two workloads: 8-coil radial SENSE at 128² (forward plus adjoint through FINUFFT, 64 spokes x 256 samples) and
one training step of learned primal-dual at 64² (convolutions through oneDNN, the CT projector through ASTRA).
Each runs in a fresh subprocess per setting, because an OpenMP runtime reads ``OMP_WAIT_POLICY`` once, when it
starts: the default (threads spin at every barrier before they sleep), ``PASSIVE`` (they sleep at once), and a
single thread. ``--busy N`` starts N processes that spin on a core each for the length of a measurement. The
table gives the median and 90th percentile of ``--calls`` calls, in ms.

A spinning thread that a competitor preempts holds up its team's barrier for a whole time slice; that is the
cost the passive policy avoids, at the price of a wake-up at every barrier when the machine is idle.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import statistics
import subprocess
import sys
import time

from experiments.bench.markdown import add_markdown_option, markdown_output

SETTINGS = {
    "default": {},
    "OMP_WAIT_POLICY=PASSIVE": {"OMP_WAIT_POLICY": "PASSIVE"},
    "1 thread": {"OMP_NUM_THREADS": "1"},
}
WORKLOADS = ("sense", "lpd-step")


def _spin(stop):
    while not stop.is_set():
        pass


def _sense_call():
    import torch

    from bridges.mri import Sense, radial
    from experiments.bench.mri import crandn, smooth_maps

    A = Sense(smooth_maps(8, 128), radial(64, 256, (128, 128)))
    x = crandn(128, 128)
    return lambda: A.adjoint(A(x)), torch


def _lpd_step_call():
    import torch

    from bridges import ct
    from learned import LearnedPrimalDual

    geometry = ct.scanner("siemens-definition-as", view_step=32, detector_binning=8, image_shape=(64, 64), fov=300.0)
    A = ct.Projector(geometry)
    model = LearnedPrimalDual(A, n_iter=5, width=16, image_scale=0.02)
    optimizer = torch.optim.Adam(model.parameters(), 1e-3)
    x = torch.rand(4, 64, 64) * 0.02
    y = A(x)

    def step():
        loss = (model(y) - x).pow(2).sum()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    return step, torch


def measure(workload: str, calls: int) -> dict:
    """Times of ``calls`` calls of a workload in this process, in ms (run in the subprocess)."""
    call, torch = {"sense": _sense_call, "lpd-step": _lpd_step_call}[workload]()
    for _ in range(3):
        call()
    times = []
    for _ in range(calls):
        start = time.perf_counter()
        call()
        times.append((time.perf_counter() - start) * 1e3)
    times.sort()
    return {
        "median": statistics.median(times),
        "p90": times[int(0.9 * (len(times) - 1))],
        "threads": torch.get_num_threads(),
    }


def run_setting(workload: str, env: dict, busy: int, calls: int) -> dict:
    stop = multiprocessing.Event()
    spinners = [multiprocessing.Process(target=_spin, args=(stop,), daemon=True) for _ in range(busy)]
    for p in spinners:
        p.start()
    try:
        out = subprocess.run(
            [sys.executable, "-m", "experiments.bench.threads", "--child", workload, "--calls", str(calls)],
            env={**os.environ, **env},
            check=True,
            capture_output=True,
            text=True,
        )
    finally:
        stop.set()
        for p in spinners:
            p.join()
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m experiments.bench.threads",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--calls", type=int, default=40)
    parser.add_argument("--busy", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--workloads", nargs="+", choices=WORKLOADS, default=list(WORKLOADS))
    parser.add_argument("--child", choices=WORKLOADS, help=argparse.SUPPRESS)
    add_markdown_option(parser)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(measure(args.child, args.calls)))
        return
    with markdown_output(args.markdown, "python -m experiments.bench.threads", argv):
        print(f"{os.cpu_count()} CPUs; median / p90 of {args.calls} calls in ms\n")
        print("| workload | setting | " + " | ".join(f"{b} busy" for b in args.busy) + " |")
        print("|---|---|" + "---|" * len(args.busy))
        for workload in args.workloads:
            for name, env in SETTINGS.items():
                cells = []
                for busy in args.busy:
                    r = run_setting(workload, env, busy, args.calls)
                    cells.append(f"{r['median']:.1f} / {r['p90']:.1f}")
                print(f"| {workload} | {name} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
