"""CT projector overhead: this project's Projector against raw ASTRA and ODL's OperatorModule, and the
projector held as ASTRA's sparse matrix (``matrix=True``, `MATRIX_BENCH_BYTES` and below).

    python -m experiments.bench.ct [--sizes 128 256 512] [--repeats 9] [--markdown PATH]

Every row is measured in one run with the calls interleaved, so the ratios share
the machine's state. Prints a markdown table.
"""

from __future__ import annotations

import argparse

import numpy as np
import odl
import torch
from astra import experimental as astra_direct
from odl.applications import tomo
from odl.contrib.torch import OperatorModule

from bridges import ct
from bridges.ct.astra_backend import matrix_bytes_bound
from experiments.bench.markdown import add_markdown_option, markdown_output
from experiments.bench.timing import interleaved_medians

MATRIX_BENCH_BYTES = 2**30  # larger matrices take long to build and are not what matrix="auto" would choose


def geometries(n, views=180):
    n_det = int(np.ceil(n * 1.5))
    yield "parallel", ct.ParallelBeam2D(angles=views, n_detectors=n_det, detector_spacing=1.0, image_shape=(n, n))
    yield (
        "fan",
        ct.FanBeam2D(
            angles=views,
            n_detectors=n_det * 2,
            detector_spacing=1.0,
            source_distance=2 * n,
            detector_distance=2 * n,
            image_shape=(n, n),
        ),
    )


def odl_ray_transform(g, n):
    """ODL's RayTransform on the same geometry (angles shifted: ODL puts them mid-step)."""
    space = odl.uniform_discr([-n / 2, -n / 2], [n / 2, n / 2], (n, n), dtype="float32")
    step = g.angles[1] - g.angles[0]
    apart = odl.uniform_partition(-step / 2, g.angles[-1] + step / 2, g.n_views)
    half = g.n_detectors * g.detector_spacing / 2
    dpart = odl.uniform_partition(-half, half, g.n_detectors)
    if isinstance(g, ct.FanBeam2D):
        geometry = tomo.FanBeamGeometry(apart, dpart, src_radius=g.source_distance, det_radius=g.detector_distance)
    else:
        geometry = tomo.Parallel2dGeometry(apart, dpart)
    return tomo.RayTransform(space, geometry, impl="astra_cpu")


def bench(n, repeats):
    rows = []
    for kind, g in geometries(n):
        A = ct.Projector(g, n_threads=1, matrix=False)
        backend = A._backend(torch.device("cpu"))
        pid = backend.ids[0]
        x = torch.rand(n, n)
        y = torch.rand(g.sinogram_shape)
        R = odl_ray_transform(g, n)
        odl_fwd, odl_adj = OperatorModule(R), OperatorModule(R.adjoint)
        xt = x.T.contiguous()[None]  # ODL indexes (x, y) and wants a batch axis
        yb = y[None]

        def raw_fp():
            out = torch.empty(g.sinogram_shape)
            astra_direct.direct_FP2D(pid, x, out)

        def raw_bp():
            out = torch.empty(n, n)
            astra_direct.direct_BP2D(pid, out, y)

        calls = {
            "fwd": lambda: A(x),
            "raw_fwd": raw_fp,
            "odl_fwd": lambda: odl_fwd(xt),
            "adj": lambda: A.T(y),
            "raw_adj": raw_bp,
            "odl_adj": lambda: odl_adj(yb),
        }
        if matrix_bytes_bound(g) <= MATRIX_BENCH_BYTES:
            M = ct.Projector(g, matrix=True)
            calls.update(matrix_fwd=lambda: M(x), matrix_adj=lambda: M.T(y))
        t = interleaved_medians(calls, repeats)
        batch = torch.rand(8, n, n)
        serial, threaded = ct.Projector(g, n_threads=1, matrix=False), ct.Projector(g, n_threads=2, matrix=False)
        tb = interleaved_medians(
            {"serial": lambda: serial(batch), "threaded": lambda: threaded(batch)}, max(3, repeats // 3)
        )
        rows.append((kind, n, t, tb))
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[128, 256, 512])
    parser.add_argument("--repeats", type=int, default=9)
    add_markdown_option(parser)
    args = parser.parse_args(argv)
    with markdown_output(args.markdown, "python -m experiments.bench.ct", argv):
        print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; 180 views; medians in ms\n")
        print(
            "| geometry | N | fwd ours | fwd ASTRA | ratio | fwd ODL | adj ours | adj ASTRA | ratio | adj ODL "
            "| batch 8 serial | batch 8 threaded | speed-up | fwd matrix | adj matrix |"
        )
        print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
        for size in args.sizes:
            for kind, n, t, tb in bench(size, args.repeats):
                ms = {k: 1e3 * v for k, v in {**t, **tb}.items()}
                print(
                    f"| {kind} | {n} | {ms['fwd']:.2f} | {ms['raw_fwd']:.2f} | {t['fwd'] / t['raw_fwd']:.3f} "
                    f"| {ms['odl_fwd']:.2f} | {ms['adj']:.2f} | {ms['raw_adj']:.2f} | {t['adj'] / t['raw_adj']:.3f} "
                    f"| {ms['odl_adj']:.2f} | {ms['serial']:.1f} | {ms['threaded']:.1f} "
                    f"| {tb['serial'] / tb['threaded']:.2f}x | {_ms(ms, 'matrix_fwd')} | {_ms(ms, 'matrix_adj')} |",
                    flush=True,
                )


def _ms(ms, key):
    return f"{ms[key]:.2f}" if key in ms else "–"


if __name__ == "__main__":
    main()
