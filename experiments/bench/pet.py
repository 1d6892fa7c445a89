"""PET overhead: one MLEM iteration through this project against the same iteration written on raw ASTRA.

    python -m experiments.bench.pet [--repeats 9] [--markdown PATH]

Both sides run one thread on the same ASTRA CPU projector and geometry (the scanner's arc-corrected
parallel beam, or its exact-LOR vector geometry), with attenuation, normalisation and a background:
x <- x / (A^T 1) · A^T(y / (A x + s)), A = n · a · P. The calls are interleaved in one run so the
ratios share the machine's state. Prints a markdown table.
"""

from __future__ import annotations

import argparse

import astra
import numpy as np
import torch
from astra import experimental as astra_direct

from bridges import pet
from experiments.bench.markdown import add_markdown_option, markdown_output
from experiments.bench.timing import interleaved_medians


def raw_iteration(scanner, mode, factors, background, sens):
    """The MLEM update on ASTRA's direct_FP2D / direct_BP2D with NumPy arithmetic."""
    vol, proj, astra_shape = scanner.geometry(mode).to_astra()
    pid = astra.create_projector("linear", proj, vol)
    fp = np.empty(astra_shape, dtype=np.float32)
    bp = np.empty(scanner.image_shape, dtype=np.float32)
    f = factors.reshape(astra_shape)
    s = background.reshape(astra_shape)
    sens = np.maximum(sens, 1e-8)

    def step(x, y):
        astra_direct.direct_FP2D(pid, x, fp)
        ratio = y.reshape(astra_shape) / np.maximum(f * fp + s, 1e-8) * f
        astra_direct.direct_BP2D(pid, bp, np.ascontiguousarray(ratio, dtype=np.float32))
        return x * bp / sens

    return step, lambda: astra.projector.delete(pid)


def bench(repeats):
    for scanner in (pet.scanner("biograph-mmr"), pet.scanner("discovery-690")):
        ny, nx = scanner.image_shape
        yy, xx = np.meshgrid(np.arange(ny) - (ny - 1) / 2, np.arange(nx) - (nx - 1) / 2, indexing="ij")
        body = torch.tensor((yy / (0.32 * ny)) ** 2 + (xx / (0.4 * nx)) ** 2 < 1, dtype=torch.float32)
        norm = 0.5 + torch.rand(scanner.sinogram_shape, generator=torch.Generator().manual_seed(0))
        for mode in ("arc", "exact"):
            clean = pet.SystemModel(scanner, 0.0096 * body, norm, mode=mode, n_threads=1)
            data = pet.simulate(clean, body, 1e6, 0.2, 0.3, generator=torch.Generator().manual_seed(0))
            model = pet.SystemModel(scanner, clean.attenuation_factors, norm, data.background, mode=mode, n_threads=1)
            sens = model.sensitivity()
            y, x = data.prompts, torch.ones(scanner.image_shape)
            raw, free = raw_iteration(scanner, mode, model.factors.numpy(), data.background.numpy(), sens.numpy())
            yn, xn = y.numpy(), x.numpy()
            ours = pet.em_step(model, x, y)
            err = float(np.abs(raw(xn, yn) - ours.numpy()).max() / ours.abs().max())
            t = interleaved_medians({"ours": lambda: pet.em_step(model, x, y), "raw": lambda: raw(xn, yn)}, repeats)
            free()
            yield scanner, mode, t, err


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=9)
    add_markdown_option(parser)
    args = parser.parse_args(argv)
    with markdown_output(args.markdown, "python -m experiments.bench.pet", argv):
        print(f"torch {torch.__version__}, one ASTRA thread; one MLEM iteration, medians in ms\n")
        print("| scanner | sinogram | image | mode | ours | raw ASTRA | ratio | max rel. difference |")
        print("|---|---|---|---|---|---|---|---|")
        for scanner, mode, t, err in bench(args.repeats):
            print(
                f"| {scanner.name} | {scanner.sinogram_shape[0]}x{scanner.sinogram_shape[1]} "
                f"| {scanner.image_shape[0]}x{scanner.image_shape[1]} | {mode} | {1e3 * t['ours']:.2f} "
                f"| {1e3 * t['raw']:.2f} | {t['ours'] / t['raw']:.3f} | {err:.1e} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
