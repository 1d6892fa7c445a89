"""The GPU path against what users had before: raw ASTRA per item, the CPU path, a host round-trip.

    python -m experiments.bench.gpu [--quick | --smoke] [--require-cuda] [--repeats N] [--budget S] [--markdown PATH]

One markdown table of medians, every method of a case timed round-robin in one run
(`interleaved_medians`), so ratios share the machine's state:

- CT, parallel beam and the Siemens Definition AS arc fan: a batch of 2D slices through
  `ct.Projector` on CUDA tensors, against ASTRA's 3D CUDA projector called once per slice on
  the same GPU memory (deepinv's and tomosipo's loop; its vectors built here from the
  geometry, independently of the library), and against the same Projector on CPU tensors;
- cone beam 256³: the Projector against one raw `direct_FP3D`/`direct_BP3D` call (target:
  ours at most 1.1x raw);
- a learned primal-dual training step at 128² with the operator on the GPU, against the same
  model whose operator round-trips through the host (target: at least 1.6x);
- 8-coil radial SENSE on the GPU against the CPU.

"rel. difference" is ours against raw ASTRA (CT) or GPU against CPU (SENSE), so that a
speed-up compares equal results. "host↔device" is the bytes CUDA copied between host and
device during one forward and one adjoint (`bridges.testing.host_device_bytes`), beside the
size of the data. Without CUDA every row prints as skipped and the exit status is 0
(1 with --require-cuda); a row whose measurement raises prints as FAILED and the exit status is 1.

Sizes: --smoke is tiny (a test runs it); --quick (under 4 minutes on one H200 with 16 cores)
keeps the batch and image sizes but halves the views of the 2D cases (and the arc's channels),
which set the cost of their CPU path, and takes 90 cone-beam views; the default is the full size.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime
import gc
import math
import sys
import time

import astra
import numpy as np
import torch
from astra import experimental as astra_direct

from bridges import LinearOperator, ct
from bridges.testing import host_device_bytes
from experiments.bench.markdown import add_markdown_option, markdown_output
from experiments.bench.timing import interleaved_medians
from learned import LearnedPrimalDual


@dataclasses.dataclass(frozen=True)
class Sizes:
    batch: int  # 2D slices per CT batch
    image: int  # 2D image side (pixels)
    parallel_views: int
    arc_view_step: int  # of the Siemens preset's 2304 views
    arc_binning: int  # of its 736 channels
    cone_image: int  # cone-beam volume side (voxels)
    cone_views: int
    cone_detector: int  # detector side (pixels)
    lpd_image: int
    lpd_views: int
    lpd_batch: int
    sense_image: int
    coils: int
    spokes: int
    samples: int
    repeats: int


SIZES = {
    "smoke": Sizes(
        batch=2,
        image=32,
        parallel_views=16,
        arc_view_step=64,
        arc_binning=16,
        cone_image=32,
        cone_views=16,
        cone_detector=48,
        lpd_image=32,
        lpd_views=8,
        lpd_batch=2,
        sense_image=32,
        coils=4,
        spokes=16,
        samples=64,
        repeats=1,
    ),
    # The CPU path of the 2D cases dominates: 256 views (576 x 368 for the arc) keep it to seconds a call.
    "quick": Sizes(
        batch=32,
        image=512,
        parallel_views=256,
        arc_view_step=4,
        arc_binning=2,
        cone_image=256,
        cone_views=90,
        cone_detector=384,
        lpd_image=128,
        lpd_views=30,
        lpd_batch=4,
        sense_image=256,
        coils=8,
        spokes=128,
        samples=512,
        repeats=5,
    ),
    # Full: 512 views of 768 bins (1.5 N); the arc at half its views, all channels (ct-lpd-full's setting);
    # 360 cone-beam views. LPD and SENSE at the sizes of bench.learned (128², 30 views) and bench.mri.
    "full": Sizes(
        batch=32,
        image=512,
        parallel_views=512,
        arc_view_step=2,
        arc_binning=1,
        cone_image=256,
        cone_views=360,
        cone_detector=384,
        lpd_image=128,
        lpd_views=30,
        lpd_batch=4,
        sense_image=256,
        coils=8,
        spokes=128,
        samples=512,
        repeats=9,
    ),
}

DEVICE = torch.device("cuda")
SKIPPED = "skipped: no CUDA device"
COLUMNS = [
    "case",
    "ours, GPU (ms)",
    "raw ASTRA per item (ms)",
    "speed-up vs raw",
    "CPU path (ms)",
    "speed-up vs CPU",
    "rel. difference",
    "host↔device per fwd+adj",
    "data (x + y)",
    "target",
]


# ---------------------------------------------------------------- raw ASTRA, as the anchors call it
def parallel_vectors(g: ct.ParallelBeam2D):
    """parallel3d_vec of a 2D parallel beam: one detector row in the plane z = 0 of a one-slice volume.

    ASTRA's 3D arrays index along +x, +y, +z, as our images (y, x) do, so no axis is mirrored.
    """
    v = g.to_vec()
    zero = np.zeros((v.n_views, 1))
    row = np.tile([0.0, 0.0, g.pixel_size[-1]], (v.n_views, 1))  # a row as thick as the slice
    vectors = np.hstack([v.ray_directions, zero, v.detector_centers, zero, v.detector_axes, zero, row])
    return "parallel3d_vec", vectors, (1, v.n_detectors), "default"


def arc_vectors(g: ct.FanBeam2D):
    """cyl_cone_vec of a 2D arc fan: source, detector centre, tangent u (one channel pitch), row v, radius.

    The cylinder's axis passes through the source (radius = source-detector distance), so channel k sits
    at fan angle (k - (n-1)/2) pitch / radius, as `FanBeam2D.ray_geometry`; a detector offset turns the
    centre about the source. The backprojector is ASTRA's ray-driven "matched_bp", the one ours uses for
    arc batches (the default is voxel-driven), so that the loop differs from ours in the batching only.
    """
    sd, pitch = g.source_detector_distance, g.detector_spacing
    c, s = np.cos(g.angles)[:, None], np.sin(g.angles)[:, None]
    w, u = np.hstack([-s, c]), np.hstack([c, s])  # beam direction and detector axis at angle θ
    gamma = g.detector_offset / sd
    source = -g.source_distance * w
    centre = source + sd * (math.cos(gamma) * w + math.sin(gamma) * u)
    tangent = pitch * (math.cos(gamma) * u - math.sin(gamma) * w)
    n = g.n_views
    zero = np.zeros((n, 1))
    row = np.tile([0.0, 0.0, g.pixel_size[-1]], (n, 1))
    vectors = np.hstack([source, zero, centre, zero, tangent, zero, row, np.full((n, 1), sd)])
    return "cyl_cone_vec", vectors, (1, g.n_detectors), "matched_bp"


def cone_vectors(g: ct.ConeBeam3D):
    v = g.to_vec()
    vectors = np.hstack([v.sources, v.detector_centers, v.column_axes, v.row_axes])
    return "cone_vec", vectors, v.detector_shape, "default"


class RawAstraLoop:
    """ASTRA's 3D CUDA projector called once per batch item on torch CUDA memory (deepinv's, tomosipo's loop).

    The problem comes from `parallel_vectors`, `arc_vectors` or `cone_vectors`: (ASTRA kind, vectors,
    detector (rows, columns), projection kernel). A 2D image is a one-slice volume as thick as a pixel.
    Use as a context manager: the projector is deleted on the way out, errors included.
    """

    def __init__(self, geometry, kind, vectors, detector_shape, kernel):
        self.image_shape, self.sinogram_shape = geometry.image_shape, geometry.sinogram_shape
        pixel = geometry.pixel_size
        (nz, ny, nx), (dz, dy, dx) = (
            (self.image_shape, pixel) if geometry.is_3d else ((1, *self.image_shape), (pixel[-1], *pixel))
        )
        self.volume_shape = (nz, ny, nx)
        self.projection_shape = (detector_shape[0], len(vectors), detector_shape[1])
        vol = astra.create_vol_geom(
            ny, nx, nz, -nx * dx / 2, nx * dx / 2, -ny * dy / 2, ny * dy / 2, -nz * dz / 2, nz * dz / 2
        )
        proj = astra.create_proj_geom(kind, detector_shape[0], detector_shape[1], vectors)
        # ProjectionKernel is a key of the projector's own configuration: as one of create_projector's
        # options ASTRA ignores it (with a warning, "unused configuration options").
        config = dict(astra.astra_dict("cuda3d"), ProjectionGeometry=proj, VolumeGeometry=vol, ProjectionKernel=kernel)
        self.projector = astra.projector3d.create(config)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        astra.projector3d.delete(self.projector)

    def forward(self, x):
        out = torch.empty(len(x), *self.sinogram_shape, device=x.device)
        torch.cuda.current_stream().synchronize()  # ASTRA runs on its own stream
        for i in range(len(x)):
            astra_direct.direct_FP3D(self.projector, x[i].view(self.volume_shape), out[i].view(self.projection_shape))
        return out

    def adjoint(self, y):
        out = torch.empty(len(y), *self.image_shape, device=y.device)
        torch.cuda.current_stream().synchronize()
        for i in range(len(y)):
            astra_direct.direct_BP3D(self.projector, out[i].view(self.volume_shape), y[i].view(self.projection_shape))
        return out


class HostRoundTrip(LinearOperator):
    """An operator computed on the CPU whatever its input's device: x.cpu() -> A -> back, both ways.

    What a CPU-only wrapper costs a model on the GPU.
    """

    batched_kernels = True

    def __init__(self, op: LinearOperator):
        super().__init__(op.domain_shape, op.range_shape, op.domain_dtype, op.range_dtype)
        self.op = op

    def _forward(self, x):
        return self.op.forward(x.cpu()).to(x.device)

    def _adjoint(self, y):
        return self.op.adjoint(y.cpu()).to(y.device)


# ---------------------------------------------------------------- measurements
def synced(fn):
    """fn, then wait for the GPU: timings cover the kernels, not their launch."""

    def call():
        fn()
        torch.cuda.synchronize()

    return call


def relative_difference(a, b) -> float:
    a, b = a.detach().cpu().to(torch.complex128), b.detach().cpu().to(torch.complex128)
    return float(torch.linalg.vector_norm(a - b) / torch.linalg.vector_norm(b))


def copies_per_round_trip(forward, adjoint, x):
    """Bytes copied host<->device by one forward and one adjoint, or the error that stopped the trace."""
    try:
        return host_device_bytes(lambda: adjoint(forward(x)))[1]
    except Exception as err:  # the timings stand without the trace
        return f"trace failed: {type(err).__name__}: {err}"


def projector_rows(geometry, vectors, batch: int, repeats: int, cpu: bool = True, raw_target: float | None = None):
    """Forward and adjoint rows: `ct.Projector` on CUDA, raw ASTRA per item, and (if `cpu`) ours on CPU."""
    A = ct.Projector(geometry)
    g = torch.Generator().manual_seed(0)
    x_cpu = torch.rand(batch, *geometry.image_shape, generator=g)
    y_cpu = torch.rand(batch, *geometry.sinogram_shape, generator=g)
    x, y = x_cpu.to(DEVICE), y_cpu.to(DEVICE)
    with torch.no_grad(), RawAstraLoop(geometry, *vectors) as raw:
        diff = {"fwd": relative_difference(A(x), raw.forward(x)), "adj": relative_difference(A.T(y), raw.adjoint(y))}
        fns = {
            "ours fwd": synced(lambda: A(x)),
            "raw fwd": synced(lambda: raw.forward(x)),
            "ours adj": synced(lambda: A.T(y)),
            "raw adj": synced(lambda: raw.adjoint(y)),
        }
        if cpu:
            fns.update({"cpu fwd": lambda: A(x_cpu), "cpu adj": lambda: A.T(y_cpu)})
        t = interleaved_medians(fns, repeats)
        copies = copies_per_round_trip(A, A.T, x)
    data = x.nbytes + y.nbytes
    rows = []
    for op in ("fwd", "adj"):
        target = None
        if raw_target is not None:
            ratio = t[f"ours {op}"] / t[f"raw {op}"]
            target = f"ours ≤ {raw_target}x raw: {'met' if ratio <= raw_target else 'MISSED'} ({ratio:.2f}x)"
        rows.append(
            dict(
                ours=t[f"ours {op}"],
                raw=t[f"raw {op}"],
                cpu=t.get(f"cpu {op}"),
                diff=diff[op],
                copies=copies,
                data=data,
                target=target,
            )
        )
    return rows


def lpd_rows(s: Sizes, target: float = 1.6):
    """One training step (forward, backward, Adam) of LPD with the operator on the GPU vs through the host."""
    n = s.lpd_image
    geometry = ct.ParallelBeam2D(
        angles=s.lpd_views, n_detectors=math.ceil(1.5 * n), detector_spacing=1.0, image_shape=(n, n)
    )
    x = torch.rand(s.lpd_batch, n, n, generator=torch.Generator().manual_seed(0)).to(DEVICE)
    operators = {"gpu": ct.Projector(geometry), "host": HostRoundTrip(ct.Projector(geometry))}
    with torch.no_grad():
        y = operators["gpu"](x)

    def training_step(op):
        model = LearnedPrimalDual(op).to(DEVICE)  # same seed: same weights for both
        optimiser = torch.optim.Adam(model.parameters(), lr=1e-3, betas=(0.9, 0.99))  # as experiments.training

        def step():
            loss = (model(y) - x).pow(2).mean()
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()

        return synced(step)

    t = interleaved_medians({name: training_step(op) for name, op in operators.items()}, s.repeats)
    speed_up = t["host"] / t["gpu"]
    return [
        dict(
            ours=t["gpu"],
            cpu=t["host"],
            target=f"≥ {target}x vs host: {'met' if speed_up >= target else 'MISSED'} ({speed_up:.2f}x)",
        )
    ]


def sense_rows(s: Sizes):
    """Radial SENSE forward and adjoint, the same operator on the GPU and on the CPU."""
    # Imported here: a broken CuPy or SigPy install fails this row, not the others.
    from bridges.mri import Sense, radial
    from experiments.bench.mri import crandn, smooth_maps

    n = s.sense_image
    maps, coords = smooth_maps(s.coils, n), radial(s.spokes, s.samples, (n, n))
    on_cpu, on_gpu = Sense(maps, coords), Sense(maps, coords).to(DEVICE)
    x_cpu, y_cpu = crandn(n, n), crandn(s.coils, s.spokes, s.samples, seed=1)
    x, y = x_cpu.to(DEVICE), y_cpu.to(DEVICE)
    with torch.no_grad():
        diff = {
            "fwd": relative_difference(on_gpu(x), on_cpu(x_cpu)),
            "adj": relative_difference(on_gpu.H(y), on_cpu.H(y_cpu)),
        }
        t = interleaved_medians(
            {
                "ours fwd": synced(lambda: on_gpu(x)),
                "cpu fwd": lambda: on_cpu(x_cpu),
                "ours adj": synced(lambda: on_gpu.H(y)),
                "cpu adj": lambda: on_cpu.H(y_cpu),
            },
            s.repeats,
        )
        copies = copies_per_round_trip(on_gpu, on_gpu.H, x)
    kernels = " vs ".join(type(op.nufft.kernel(t.device)).__name__ for op, t in ((on_gpu, x), (on_cpu, x_cpu)))
    return [
        dict(
            ours=t[f"ours {op}"],
            cpu=t[f"cpu {op}"],
            diff=diff[op],
            copies=copies,
            data=x.nbytes + y.nbytes,
            note=kernels,
        )
        for op in ("fwd", "adj")
    ]


def cases(s: Sizes):
    """(row labels, measurement) per case; labels need no GPU, so a skipped or failed case still names its rows."""
    n = s.image
    parallel = ct.ParallelBeam2D(
        angles=s.parallel_views, n_detectors=math.ceil(1.5 * n), detector_spacing=1.0, image_shape=(n, n)
    )
    arc = ct.scanner(
        "siemens-definition-as", view_step=s.arc_view_step, detector_binning=s.arc_binning, image_shape=(n, n)
    )
    m, d = s.cone_image, s.cone_detector
    # Magnification 1.5; the detector spans 1.5 m voxels at the isocentre, the volume's diagonal and more.
    cone = ct.ConeBeam3D(
        angles=s.cone_views,
        detector_shape=(d, d),
        detector_spacing=2.25 * m / d,
        source_distance=2.0 * m,
        detector_distance=1.0 * m,
        image_shape=(m, m, m),
    )
    both = ("forward", "adjoint")
    return [
        (
            [f"parallel 2D, {s.batch} × {n}², {parallel.n_views} views × {parallel.n_detectors}: {op}" for op in both],
            lambda: projector_rows(parallel, parallel_vectors(parallel), s.batch, s.repeats),
        ),
        (
            [f"cone beam {m}³, {cone.n_views} views × {d}²: {op}" for op in both],
            lambda: projector_rows(cone, cone_vectors(cone), 1, s.repeats, cpu=False, raw_target=1.1),
        ),
        (
            [f"LPD training step, {s.lpd_batch} × {s.lpd_image}², {s.lpd_views} views (CPU path: operator via host)"],
            lambda: lpd_rows(s),
        ),
        (
            [f"radial SENSE, {s.coils} coils, {s.sense_image}², {s.spokes} × {s.samples}: {op}" for op in both],
            lambda: sense_rows(s),
        ),
        # Last: the costliest CPU path and ASTRA's newest geometry, so that a slow run leaves the others measured.
        (
            [
                f"arc fan (Siemens Definition AS), {s.batch} × {n}², {arc.n_views} views × {arc.n_detectors}: {op}"
                for op in both
            ],
            lambda: projector_rows(arc, arc_vectors(arc), s.batch, s.repeats),
        ),
    ]


# ---------------------------------------------------------------- the table
def _ms(seconds):
    if seconds is None:
        return "—"
    ms = 1e3 * seconds
    return f"{ms:.2f}" if ms < 10 else f"{ms:.1f}" if ms < 100 else f"{ms:.0f}"


def _bytes(n):
    if n is None or isinstance(n, str):
        return n or "—"
    return f"{n / 1e3:.1f} kB" if n < 1e6 else f"{n / 1e6:.1f} MB"


def _speed_up(baseline, ours):
    return "—" if baseline is None else f"{baseline / ours:.2f}x"


def format_row(label: str, row: dict) -> str:
    note = f" ({row['note']})" if row.get("note") else ""
    cells = [
        label + note,
        _ms(row["ours"]),
        _ms(row.get("raw")),
        _speed_up(row.get("raw"), row["ours"]),
        _ms(row.get("cpu")),
        _speed_up(row.get("cpu"), row["ours"]),
        "—" if row.get("diff") is None else f"{row['diff']:.1e}",
        _bytes(row.get("copies")),
        _bytes(row.get("data")),
        row.get("target") or "—",
    ]
    return "| " + " | ".join(cells) + " |"


def message_row(label: str, message: str) -> str:
    """A row without figures: skipped or failed, said in the first column after the label."""
    return "| " + " | ".join([label, message] + ["—"] * (len(COLUMNS) - 2)) + " |"


def header(size: str, repeats: int) -> str:
    versions = [f"torch {torch.__version__}", f"ASTRA {astra.__version__}"]
    for name in ("cupy", "sigpy"):
        with contextlib.suppress(Exception):
            versions.append(f"{name} {__import__(name).__version__}")
    gpu = torch.cuda.get_device_name() if torch.cuda.is_available() else "none"
    date = datetime.datetime.now().isoformat(timespec="minutes")
    return (
        f"{date}; GPU: {gpu}; {', '.join(versions)}; {torch.get_num_threads()} CPU threads\n"
        f"size {size}; medians of {repeats} interleaved rounds after a warm-up, ms\n"
    )


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_const", dest="size", const="quick", help="under 4 minutes on an H200")
    size.add_argument("--smoke", action="store_const", dest="size", const="smoke", help="tiny, for a test")
    parser.add_argument("--require-cuda", action="store_true", help="exit 1 without a CUDA device")
    parser.add_argument("--repeats", type=int, help="rounds per method (default: the size's)")
    parser.add_argument(
        "--budget",
        type=float,
        help="seconds after which no new case starts (default: 180 with --quick, none otherwise)",
    )
    add_markdown_option(parser)
    args = parser.parse_args(argv)
    with markdown_output(args.markdown, "python -m experiments.bench.gpu", argv):
        name = args.size or "full"
        s = SIZES[name]
        if args.repeats:
            s = dataclasses.replace(s, repeats=args.repeats)
        budget = args.budget if args.budget is not None else (180.0 if name == "quick" else math.inf)
        has_cuda = torch.cuda.is_available()
        print(header(name, s.repeats))
        print("| " + " | ".join(COLUMNS) + " |")
        print("|" + "---|" * len(COLUMNS), flush=True)
        start, failed = time.perf_counter(), False
        for labels, measure in cases(s):
            elapsed = time.perf_counter() - start
            if not has_cuda or elapsed > budget:
                reason = SKIPPED if not has_cuda else f"skipped: time budget of {budget:.0f} s spent"
                print("\n".join(message_row(label, reason) for label in labels), flush=True)
                continue
            print(f"gpu bench: {labels[0]} (at {elapsed:.0f} s)", file=sys.stderr, flush=True)
            try:
                rows = measure()
                print("\n".join(format_row(label, row) for label, row in zip(labels, rows)), flush=True)
            except Exception as err:  # one broken case must not stop the others
                failed = True
                message = f"FAILED: {type(err).__name__}: {err}".replace("|", "/").replace("\n", " ")
                print("\n".join(message_row(label, message) for label in labels), flush=True)
            gc.collect()  # frees the case's projectors (ASTRA objects) and tensors before the next
            torch.cuda.empty_cache()
        print(
            "\nCPU path: the same operator on CPU tensors; for the LPD step, the model on the GPU with its operator "
            "round-tripping through the host. rel. difference: ours against raw ASTRA (CT), GPU against CPU (SENSE)."
        )
        print(f"gpu bench: done in {time.perf_counter() - start:.0f} s", file=sys.stderr)
        if args.require_cuda and not has_cuda:
            print("gpu bench: --require-cuda and no CUDA device", file=sys.stderr)
            return 1
        return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
