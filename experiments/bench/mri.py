"""Benchmark the MRI bridge against raw SigPy, sigpy.to_pytorch_function and torchkbnufft.

    python -m experiments.bench.mri [--quick] [--reps N] [--normal-only] [--per-item] [--espirit] [--markdown PATH]

Cases (issues 3 and 8): Cartesian SENSE (8 coils, 320x320, fastMRI 4x mask) and radial
SENSE (8 coils, 256x256, golden-angle 128 spokes x 512 samples); the NUFFT backends side
by side at 1 and 8 coils; their error against the exact NDFT on a small problem. Issue 17:
the normal operator of the radial SENSE case by its Toeplitz embedding (``A.gram()``)
against ``A.H @ A``, alone and in 20 iterations of CG-SENSE; a batch of 8 fastMRI-sized slices, each with its
own maps and mask, as one per-item CartesianSense against a Python loop over the 8 items' operators.
ESPIRiT (8 coils, 128², calibration 24): `espirit_maps` against SigPy's EspiritCalib (what it ran before)
and BART's ``ecalib`` when ``bart`` is on the PATH, seconds and error against the analytic maps.
Every method runs once per round, round-robin, so load from other processes hits all
alike; the table gives medians over rounds and ratios to raw SigPy from the same run.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import sigpy as sp
import sigpy.mri
import torch

from bridges.mri import (
    NUFFT,
    CartesianSense,
    Sense,
    birdcage_maps,
    cg_sense,
    espirit_maps,
    fft2c,
    from_sigpy,
    mask_equispaced,
    ndft_matrix,
    radial,
)
from bridges.mri.toeplitz import toeplitz_spectrum
from experiments.bench.markdown import add_markdown_option, markdown_output
from experiments.bench.timing import interleaved_medians


def crandn(*shape, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.complex(torch.randn(*shape, generator=g), torch.randn(*shape, generator=g))


def smooth_maps(coils, n):
    """Normalised Gaussian coil maps around the image, a stand-in for ESPIRiT maps."""
    y, x = torch.meshgrid(torch.linspace(-1, 1, n), torch.linspace(-1, 1, n), indexing="ij")
    angles = torch.arange(coils) * 2 * torch.pi / coils
    s = torch.stack(
        [
            torch.exp(-((y - torch.sin(a)) ** 2 + (x - torch.cos(a)) ** 2)) * torch.exp(1j * (x + y) * k)
            for k, a in enumerate(angles)
        ]
    ).to(torch.complex64)
    return s / torch.linalg.vector_norm(s, dim=0)


def sigpy_function(linop):
    """sigpy.to_pytorch_function on complex tensors (it takes real (..., 2) views)."""
    fn = sp.to_pytorch_function(linop, input_iscomplex=True, output_iscomplex=True)
    return lambda x: torch.view_as_complex(fn.apply(torch.view_as_real(x)))


def operator_case(L, bridge_ops: dict, x, y, reps) -> list:
    """Forward and adjoint of SigPy linop L and of bridge operators on the same x, y."""
    xn, yn = x.numpy(), y.numpy()
    fwd = {
        "raw SigPy": lambda: L(xn),
        "sigpy.to_pytorch_function": (lambda f: lambda: f(x))(sigpy_function(L)),
        "from_sigpy(linop)": (lambda A: lambda: A(x))(from_sigpy(L)),
    }
    adj = {
        "raw SigPy": lambda: L.H(yn),
        "sigpy.to_pytorch_function": (lambda f: lambda: f(y))(sigpy_function(L.H)),
        "from_sigpy(linop)": (lambda A: lambda: A.H(y))(from_sigpy(L)),
    }
    for name, (f, a) in bridge_ops.items():
        fwd[name], adj[name] = f, a
    tf, ta = interleaved_medians(fwd, reps), interleaved_medians(adj, reps)
    return [(name, tf[name], ta[name], tf[name] / tf["raw SigPy"], ta[name] / ta["raw SigPy"]) for name in fwd]


def kbnufft_pair(maps, coords, n):
    import torchkbnufft as tkbn

    omega = (2 * torch.pi / n) * coords.reshape(-1, 2).T.contiguous()  # radians, axes (y, x)
    fwd, adj = tkbn.KbNufft(im_size=(n, n)), tkbn.KbNufftAdjoint(im_size=(n, n))
    smaps = maps.unsqueeze(0)
    return fwd, adj, omega, smaps


def cartesian(reps):
    n, coils = 320, 8
    maps, mask = smooth_maps(coils, n), mask_equispaced((n, n), 4, 0.08)
    L = sp.mri.linop.Sense(maps.numpy(), weights=mask.numpy())
    A = CartesianSense(maps, mask)
    x, y = crandn(n, n), crandn(coils, n, n, seed=1) * mask
    rows = operator_case(L, {"CartesianSense (torch.fft)": (lambda: A(x), lambda: A.H(y))}, x, y, reps)
    diff = max(_rel(A(x), L(x.numpy())), _rel(A.H(y), L.H(y.numpy())))
    return rows, f"CartesianSense vs SigPy Sense: max relative difference {diff:.1e}"


def radial_sense(reps):
    n, coils = 256, 8
    maps, coords = smooth_maps(coils, n), radial(128, 512, (n, n))
    L = sp.mri.linop.Sense(maps.numpy(), coord=coords.numpy())
    x, y = crandn(n, n), crandn(coils, 128, 512, seed=1)
    ops = {f"Sense backend={b}": Sense(maps, coords, backend=b) for b in ("sigpy", "finufft")}
    bridge = {name: ((lambda A: lambda: A(x))(A), (lambda A: lambda: A.H(y))(A)) for name, A in ops.items()}
    fwd, adj, omega, smaps = kbnufft_pair(maps, coords, n)
    xk, yk = x.reshape(1, 1, n, n), y.reshape(1, coils, -1)
    # norm="ortho" in torchkbnufft divides by the oversampled grid (2N), not N: scale by hand
    bridge["torchkbnufft 1.5 (default)"] = (
        lambda: fwd(xk, omega, smaps=smaps) / n,
        lambda: adj(yk, omega, smaps=smaps) / n,
    )
    with torch.no_grad():
        return operator_case(L, bridge, x, y, reps), None


def backends_side_by_side(reps):
    n = 256
    coords = radial(128, 512, (n, n))
    rows = []
    for coils in (1, 8):
        maps = smooth_maps(coils, n)
        ops = {
            "sigpy (1.25, 4)": dict(backend="sigpy", oversamp=1.25, width=4),
            "sigpy (2, 6)": dict(backend="sigpy", oversamp=2.0, width=6),
            "finufft eps 1e-6 (default)": dict(backend="finufft"),
        }
        ops = {k: (NUFFT((n, n), coords, **v) if coils == 1 else Sense(maps, coords, **v)) for k, v in ops.items()}
        x, y = crandn(n, n), crandn(*next(iter(ops.values())).range_shape, seed=1)
        tf = interleaved_medians({k: (lambda A: lambda: A(x))(A) for k, A in ops.items()}, reps)
        ta = interleaved_medians({k: (lambda A: lambda: A.H(y))(A) for k, A in ops.items()}, reps)
        base = "sigpy (1.25, 4)"
        rows += [
            (f"{coils} coil{'s' * (coils > 1)}: {k}", tf[k], ta[k], tf[k] / tf[base], ta[k] / ta[base]) for k in ops
        ]
    return rows


def normal_operator(reps, n=256, coils=8, spokes=128, samples=512, n_iter=20):
    """A^H A x and CG-SENSE (``n_iter`` iterations, λ = 0) on radial SENSE: Toeplitz gram against A.H @ A.

    Returns the table's rows (name, Toeplitz s, A.H @ A s, speed-up) and a note with the one-time kernel cost
    and the differences between the two (CG's set beside float32 CG's own drift under a 1e-7 change of y).
    """
    maps, coords = smooth_maps(coils, n), radial(spokes, samples, (n, n))
    fast, direct = Sense(maps, coords), Sense(maps, coords, toeplitz=False)
    start = time.perf_counter()
    toeplitz = fast.gram()  # the kernel, once per trajectory; kept on `fast`, so CG-SENSE's gram() reuses it
    kernel_s = time.perf_counter() - start
    start = time.perf_counter()
    toeplitz_spectrum(fast.nufft)  # again: FFTW keeps its plan of the 2N grid's NUFFT for the process
    again_s = time.perf_counter() - start
    normal = direct.gram()
    x = crandn(n, n)
    y = direct(x) + 0.01 * crandn(coils, spokes, samples, seed=1)
    with torch.no_grad():
        t = interleaved_medians(
            {
                "gram Toeplitz": lambda: toeplitz(x),
                "gram A.H @ A": lambda: normal(x),
                "CG Toeplitz": lambda: cg_sense(fast, y, n_iter),
                "CG A.H @ A": lambda: cg_sense(direct, y, n_iter),
            },
            reps,
        )
        x_fast, x_direct = cg_sense(fast, y, n_iter), cg_sense(direct, y, n_iter)
        drift = _rel(cg_sense(direct, y * (1 + 1e-7), n_iter), x_direct)
        gram_diff = _rel(toeplitz(x), normal(x))
    rows = [
        ("A^H A x", t["gram Toeplitz"], t["gram A.H @ A"]),
        (f"CG-SENSE, {n_iter} iterations", t["CG Toeplitz"], t["CG A.H @ A"]),
    ]
    note = (
        f"Toeplitz kernel (once per trajectory): {kernel_s:.2f} s the first time in the process (with FFTW's "
        f"planning of the grid), {again_s:.2f} s for another trajectory of that size. "
        "Relative difference Toeplitz vs A.H @ A: "
        f"A^H A x {gram_diff:.1e}; CG-SENSE after {n_iter} iterations {_rel(x_fast, x_direct):.1e} "
        f"(float32 CG with A.H @ A moves by {drift:.1e} when y changes by 1e-7)."
    )
    return [(name, a, b, b / a) for name, a, b in rows], note


def per_item(reps, n_items=8, n=320, coils=8):
    """Forward and adjoint of ``n_items`` slices, each its own maps and mask: one per-item `CartesianSense`
    against a Python loop over the items' own operators. Returns rows (name, forward s, adjoint s) and a note
    with the largest relative difference between the two."""
    maps = torch.stack([smooth_maps(coils, n).roll(k, dims=-1) for k in range(n_items)])
    masks = torch.stack([mask_equispaced((n, n), 4, 0.08, seed=k) for k in range(n_items)])
    batched = CartesianSense(maps, masks)
    singles = [CartesianSense(maps[k], masks[k]) for k in range(n_items)]
    x, y = crandn(n_items, n, n), crandn(n_items, coils, n, n, seed=1) * masks[:, None]
    fwd = {
        "one per-item operator": lambda: batched(x),
        "loop over the items' operators": lambda: torch.stack([A(x[k]) for k, A in enumerate(singles)]),
    }
    adj = {
        "one per-item operator": lambda: batched.H(y),
        "loop over the items' operators": lambda: torch.stack([A.H(y[k]) for k, A in enumerate(singles)]),
    }
    with torch.no_grad():
        tf, ta = interleaved_medians(fwd, reps), interleaved_medians(adj, reps)
        diff = max(
            _rel(fwd["one per-item operator"](), fwd["loop over the items' operators"]()),
            _rel(adj["one per-item operator"](), adj["loop over the items' operators"]()),
        )
    return [(name, tf[name], ta[name]) for name in fwd], f"per-item vs loop: max relative difference {diff:.1e}"


def ndft_errors():
    """Relative error of each NUFFT against the exact NDFT, 64x64 image, radial 32 x 128."""
    n = 64
    coords, x = radial(32, 128, (n, n)), crandn(n, n)
    exact = (ndft_matrix((n, n), coords) @ x.reshape(-1).to(torch.complex128)).reshape(coords.shape[:-1])
    out = {
        "sigpy (1.25, 4)": NUFFT((n, n), coords, backend="sigpy", oversamp=1.25, width=4)(x),
        "sigpy (2, 6)": NUFFT((n, n), coords, backend="sigpy", oversamp=2.0, width=6)(x),
        "finufft eps 1e-6": NUFFT((n, n), coords, backend="finufft")(x),
    }
    try:
        import torchkbnufft as tkbn

        omega = (2 * torch.pi / n) * coords.reshape(-1, 2).T.contiguous()
        out["torchkbnufft default"] = tkbn.KbNufft(im_size=(n, n))(x.reshape(1, 1, n, n), omega) / n
    except ImportError:
        pass
    return {k: _rel(v.reshape(exact.shape), exact) for k, v in out.items()}


def espirit(reps, n=128, coils=8, calib_width=24, kernel_width=6, thresh=0.02, crop=0.95):
    """ESPIRiT on noiseless k-space of a Shepp-Logan phantom times analytic (birdcage) maps, 8 coils, 128²:
    `espirit_maps` against ``sigpy.mri.app.EspiritCalib`` (what `espirit_maps` ran before) and, when ``bart``
    is on the PATH, BART's ``ecalib`` (a process, k-space and maps through .cfl files, as BART is used), all
    with the same calibration region, kernel, threshold and crop.

    Returns rows (name, median seconds, error, object pixels kept): the error is ``‖S_est e^{iφ} - S‖ / ‖S‖``
    over the object's pixels that the maps keep, ``φ`` each pixel's best phase (maps are defined up to one).
    """
    maps = birdcage_maps((n, n), coils)
    image = torch.from_numpy(sp.shepp_logan((n, n)).astype(np.complex64))
    kspace = fft2c(maps * image)
    options = dict(calib_width=calib_width, kernel_width=kernel_width, thresh=thresh, crop=crop)
    methods = {
        "espirit_maps (torch)": lambda: espirit_maps(kspace, **options),
        "SigPy EspiritCalib (espirit_maps before)": lambda: torch.from_numpy(
            sigpy.mri.app.EspiritCalib(kspace.numpy(), max_iter=100, show_pbar=False, **options).run()
        ),
    }
    if shutil.which("bart"):
        methods[f"BART {_bart_version()} ecalib -m1"] = lambda: _bart_ecalib(kspace, **options)
    errors = {name: _map_error(fn(), maps, image) for name, fn in methods.items()}
    times = interleaved_medians(methods, reps)
    return [(name, times[name], *errors[name]) for name in methods]


def _map_error(est, maps, image):
    """Relative error of ``est`` against ``maps`` up to a phase per pixel, over the object's pixels where
    ``est`` is non-zero, and the fraction of the object's pixels that is."""
    obj = image.abs() > 0
    kept = obj & (est.abs().sum(0) > 0)
    e, m = est[:, kept].to(torch.complex128), maps[:, kept].to(torch.complex128)
    phase = (e.conj() * m).sum(0)
    phase = phase / phase.abs().clamp_min(1e-30)
    return float(torch.linalg.vector_norm(e * phase - m) / torch.linalg.vector_norm(m)), float(kept.sum() / obj.sum())


def _bart_version():
    return subprocess.run(["bart", "version"], capture_output=True, text=True).stdout.strip()


def _bart_ecalib(kspace, calib_width, kernel_width, thresh, crop):
    """BART's ecalib on (coils, y, x) k-space: one set of maps, (coils, y, x) complex64."""
    with tempfile.TemporaryDirectory() as tmp:
        src, dst = Path(tmp, "k"), Path(tmp, "s")
        _write_cfl(src, kspace.numpy().transpose(2, 1, 0)[:, :, None, :])  # BART's dimensions: x, y, z, coils
        subprocess.run(
            [
                "bart",
                "ecalib",
                "-m1",
                f"-r{calib_width}",
                f"-k{kernel_width}",
                f"-t{thresh}",
                f"-c{crop}",
                str(src),
                str(dst),
            ],
            check=True,
            capture_output=True,
        )
        dims = [int(v) for v in dst.with_suffix(".hdr").read_text().splitlines()[1].split()]
        out = np.fromfile(dst.with_suffix(".cfl"), np.complex64).reshape(dims, order="F")
    out = out.reshape(out.shape[0], out.shape[1], -1)[:, :, : kspace.shape[0]]
    return torch.from_numpy(np.ascontiguousarray(out.transpose(2, 1, 0)))


def _write_cfl(path, array):
    path.with_suffix(".hdr").write_text("# Dimensions\n" + " ".join(str(n) for n in array.shape) + "\n")
    np.asfortranarray(array, dtype=np.complex64).ravel(order="F").tofile(path.with_suffix(".cfl"))


def espirit_table(reps) -> str:
    rows = espirit(reps)
    missing = "" if shutil.which("bart") else "\n\nBART not on the PATH: no BART row."
    return (
        "\n### ESPIRiT maps, 8 coils, 128x128, calibration 24, kernel 6, threshold 0.02, crop 0.95\n\n"
        "| method | seconds | error vs analytic maps | object pixels kept |\n|---|---:|---:|---:|\n"
        + "\n".join(f"| {name} | {t:.3f} | {e:.2e} | {kept:.1%} |" for name, t, e, kept in rows)
        + missing
    )


def _rel(a, b):
    a, b = torch.as_tensor(a).to(torch.complex128), torch.as_tensor(b).to(torch.complex128)
    return float(torch.linalg.vector_norm(a - b) / torch.linalg.vector_norm(b))


def table(title, rows, ratio_to="raw SigPy"):
    lines = [
        f"\n### {title}\n",
        f"| method | forward ms | adjoint ms | forward / {ratio_to} | adjoint / {ratio_to} |",
        "|---|---:|---:|---:|---:|",
    ]
    lines += [f"| {n} | {f * 1e3:.1f} | {a * 1e3:.1f} | {rf:.2f} | {ra:.2f} |" for n, f, a, rf, ra in rows]
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 rounds instead of the default")
    parser.add_argument("--reps", type=int, default=None, help="rounds per method (default 9, --quick 3)")
    parser.add_argument("--normal-only", action="store_true", help="only the normal-operator table (issue 17)")
    parser.add_argument("--per-item", action="store_true", help="only the per-item operator table (issue 17)")
    parser.add_argument("--espirit", action="store_true", help="only the ESPIRiT table (against SigPy and BART)")
    add_markdown_option(parser)
    args = parser.parse_args(argv)
    with markdown_output(args.markdown, "python -m experiments.bench.mri", argv):
        reps = args.reps or (3 if args.quick else 9)
        print(
            f"torch {torch.__version__}, sigpy {sp.__version__}, {torch.get_num_threads()} torch threads, "
            f"{reps} rounds, medians"
        )
        if args.per_item:
            print(per_item_table(reps))
            return
        if args.espirit:
            print(espirit_table(reps))
            return
        rows, note = normal_operator(reps)
        print(
            "\n### Normal operator, radial SENSE, 8 coils, 256x256, 128 spokes x 512 samples\n\n"
            "| normal operator | Toeplitz ms | A.H @ A ms | speed-up |\n|---|---:|---:|---:|"
        )
        print("\n".join(f"| {name} | {a * 1e3:.1f} | {b * 1e3:.1f} | {ratio:.2f}x |" for name, a, b, ratio in rows))
        print(f"\n{note}")
        if args.normal_only:
            return
        rows, note = cartesian(reps)
        print(table("Cartesian SENSE, 8 coils, 320x320, 4x equispaced", rows) + f"\n\n{note}")
        rows, _ = radial_sense(reps)
        print(table("Radial SENSE, 8 coils, 256x256, 128 spokes x 512 samples", rows))
        print(
            table(
                "NUFFT backends through the public operators (radial 256x256, 128 x 512)",
                backends_side_by_side(reps),
                ratio_to="sigpy (1.25, 4)",
            )
        )
        print("\n### Error against the exact NDFT (64x64, radial 32 x 128)\n\n| NUFFT | relative error |\n|---|---:|")
        for name, err in ndft_errors().items():
            print(f"| {name} | {err:.1e} |")
        print(per_item_table(reps))
        print(espirit_table(reps))


def per_item_table(reps) -> str:
    rows, note = per_item(reps)
    return (
        "\n### Per-item operators: 8 slices, 8 coils, 320x320, each its own maps and 4x mask\n\n"
        "| method | forward ms | adjoint ms |\n|---|---:|---:|\n"
        + "\n".join(f"| {name} | {f * 1e3:.1f} | {a * 1e3:.1f} |" for name, f, a in rows)
        + f"\n\n{note}"
    )


if __name__ == "__main__":
    main()
