"""Timing shared by the benchmarks: medians of calls run round-robin, so ratios share the machine's state."""

import statistics
import time


def interleaved_medians(fns: dict, repeats: int) -> dict:
    """Median seconds per callable, timed round-robin after one warm-up call each."""
    for fn in fns.values():
        fn()  # warm-up: lazy projector/plan creation, allocator
    times = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) for name, t in times.items()}
