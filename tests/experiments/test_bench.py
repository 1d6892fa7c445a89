"""The benchmarks run end to end on tiny problems (their figures are not checked: timing is no test)."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from bridges import ct
from experiments.bench import gpu as bench_gpu
from experiments.bench import learned as bench_learned
from tests.conftest import rel


def test_bench_learned_prints_eager_and_compiled_steps(capsys):
    bench_learned.main(["--size", "16", "--views", "4", "--batches", "2", "--steps", "1"])
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| ") and line[2].isdigit()]
    cells = [cell.strip() for cell in rows[0].split("|")[1:-1]]
    assert len(rows) == 1 and cells[0] == "2"
    assert float(cells[1]) > 0 and float(cells[2]) > 0 and cells[3].endswith("x")
    assert cells[7] == "39"  # 10 forward, 10 adjoint, 19 in backward


def test_bench_data_measures_each_data_model_and_finds_the_crime_only_in_the_discrete_one(capsys):
    from experiments.bench import data as bench_data

    bench_data.main(["--items", "1"])
    rows = [
        [c.strip() for c in line.strip("|").split("|")]
        for line in capsys.readouterr().out.splitlines()
        if line.startswith("| ") and not line.startswith("| task ")
    ]
    tasks = ("ct-lpd", "mri-cascade", "pet-lpd", "spect-lpd")
    assert [(r[0], r[1]) for r in rows] == [(task, model) for task in tasks for model in ("continuous", "discrete")]
    for task, model, ms, gap, _noise_units in rows:
        assert float(ms) > 0
        assert (float(gap.rstrip(" %")) == 0) == (model == "discrete"), (task, model, gap)


# ---------------------------------------------------------------- experiments.bench.gpu
ROOT = Path(__file__).resolve().parents[2]


def run_gpu_bench(*args, env=None):
    """Exit status and the table rows (stripped cells, header left out) of python -m experiments.bench.gpu."""
    proc = subprocess.run(
        [sys.executable, "-m", "experiments.bench.gpu", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    rows = [
        [cell.strip() for cell in line.strip().strip("|").split("|")]
        for line in proc.stdout.splitlines()
        if line.startswith("| ") and not line.startswith("| case |")
    ]
    return proc.returncode, rows, proc.stderr


def test_bench_gpu_without_cuda_skips_every_row_and_reports_no_figures():
    no_cuda = {**os.environ, "CUDA_VISIBLE_DEVICES": ""}
    rc, rows, err = run_gpu_bench("--quick", env=no_cuda)
    assert rc == 0, err
    labels = [label for labels, _ in bench_gpu.cases(bench_gpu.SIZES["quick"]) for label in labels]
    assert [row[0] for row in rows] == labels
    assert all(row[1] == bench_gpu.SKIPPED and set(row[2:]) == {"—"} for row in rows)
    rc, _, _ = run_gpu_bench("--smoke", "--require-cuda", env=no_cuda)
    assert rc == 1


@pytest.mark.cuda
def test_bench_gpu_smoke_gives_every_row_a_time():
    rc, rows, err = run_gpu_bench("--smoke", "--require-cuda")
    assert rc == 0, err
    assert len(rows) == sum(len(labels) for labels, _ in bench_gpu.cases(bench_gpu.SIZES["smoke"]))
    for row in rows:
        assert float(row[1]) > 0, row


def test_bench_gpu_parallel_vectors_give_the_2d_transform():
    """The raw loop's parallel3d_vec layout, run on ASTRA's CPU projectors as a one-slice ParallelVec3D."""
    g = ct.ParallelBeam2D(
        angles=12, n_detectors=48, detector_spacing=0.9, detector_offset=1.5, image_shape=(24, 32), pixel_size=0.8
    )
    _, vectors, (rows, cols), _ = bench_gpu.parallel_vectors(g)
    slab = ct.ParallelVec3D(
        ray_directions=vectors[:, 0:3],
        detector_centers=vectors[:, 3:6],
        column_axes=vectors[:, 6:9],
        row_axes=vectors[:, 9:12],
        detector_shape=(rows, cols),
        image_shape=(1, *g.image_shape),
        pixel_size=(g.pixel_size[-1], *g.pixel_size),
    )
    x = torch.rand(1, *g.image_shape, generator=torch.Generator().manual_seed(0))
    assert rel(ct.Projector(slab)(x)[0], ct.Projector(g)(x[0])) < 1e-6  # (rows, views, cols), one row


def test_bench_gpu_arc_vectors_put_each_channel_where_the_geometry_does():
    """ASTRA's cylinder (getCylConeAxes; column j at angle (j - (n-1)/2) |u| / R) from the raw loop's cyl_cone_vec."""
    g = ct.FanBeam2D(
        angles=7,
        n_detectors=33,
        detector_spacing=2.0,
        source_distance=300,
        detector_distance=200,
        detector_offset=3.0,
        detector_curve="arc",
        image_shape=(32, 32),
    )
    _, vectors, _, _ = bench_gpu.arc_vectors(g)
    source, centre, u, v, radius = vectors[:, 0:3], vectors[:, 3:6], vectors[:, 6:9], vectors[:, 9:12], vectors[:, 12:]
    u_norm, v_norm = (np.linalg.norm(a, axis=1, keepdims=True) for a in (u, v))
    radial = -np.cross(u, v) * radius / (u_norm * v_norm)
    nearer = np.linalg.norm(centre - radial - source, axis=1) <= np.linalg.norm(centre + radial - source, axis=1)
    radial = np.where(nearer[:, None], radial, -radial)  # ASTRA's choice: the axis on the source's side
    axis_point, tangential = centre - radial, u * radius / u_norm
    angle = (np.arange(g.n_detectors) - (g.n_detectors - 1) / 2)[None, :, None] * (u_norm / radius)[:, None]
    pixels = axis_point[:, None] + radial[:, None] * np.cos(angle) + tangential[:, None] * np.sin(angle)
    _, channels, _ = g.ray_geometry()
    np.testing.assert_allclose(axis_point[:, :2], source[:, :2], atol=1e-9)
    np.testing.assert_allclose(pixels[..., :2].reshape(-1, 2), channels, atol=1e-9)
    np.testing.assert_allclose(pixels[..., 2], 0, atol=1e-12)


def test_bench_threads_runs_each_setting_in_its_own_process_under_load():
    from experiments.bench import threads

    single = threads.run_setting("sense", threads.SETTINGS["1 thread"], busy=1, calls=2)
    assert single["threads"] == 1 and single["median"] > 0  # the setting reached the child's runtime
    default = threads.run_setting("sense", threads.SETTINGS["default"], busy=0, calls=2)
    assert default["threads"] == torch.get_num_threads()
