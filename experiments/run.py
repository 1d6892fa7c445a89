"""python -m experiments run NAME: a named quick job on its embedded default configuration."""
from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

import torch

from bridges import ct
from experiments.phantoms import shepp_logan
from experiments.metrics import psnr
from experiments.report import figure_grid, markdown_table


def transmission_noise(sinogram, photons: float, generator: torch.Generator):
    """Poisson counts ~ I0 exp(-p) turned back into line integrals -log(counts / I0)."""
    counts = torch.poisson(photons * torch.exp(-sinogram), generator=generator)
    return -torch.log(counts.clamp_min(1) / photons)


def ct_fbp(out: Path, seed: int = 0):
    """A Shepp-Logan phantom through a down-sampled Siemens SOMATOM Definition AS with low-dose noise, by FBP."""
    geometry = ct.scanner("siemens-definition-as", view_step=4, detector_binning=2, image_shape=(256, 256),
                          fov=300.0)
    A = ct.Projector(geometry)
    truth = shepp_logan(geometry.image_shape)
    clean = A(truth)
    noisy = transmission_noise(clean, 1e4, torch.Generator().manual_seed(seed))
    rows = []
    for name, filt in (("FBP Ram-Lak", "ram-lak"), ("FBP Hann", "hann")):
        rows.append((name, ct.fbp(A, noisy, filter=filt)))
    print(f"{geometry.n_views} views x {geometry.n_detectors} channels (arc detector), "
          f"{geometry.image_shape[0]}² pixels of {geometry.pixel_size[0]:.3f} mm; I0 = 1e4 photons per ray\n")
    print(markdown_table([{"reconstruction": name, "PSNR (dB)": float(psnr(image, truth))} for name, image in rows]))
    path = figure_grid(out / "ct-fbp.png", truth, dict(rows), n_examples=1, measurements=noisy,
                       measurements_title="noisy sinogram (mm)", panel_inches=4, dpi=80, origin="lower")
    print(f"\nfigure: {path}")
    return rows


JOBS = {"ct-fbp": ct_fbp}


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m experiments run", description=__doc__)
    parser.add_argument("name", choices=sorted(JOBS))
    parser.add_argument("--out", type=Path, default=Path("runs"))
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    torch.manual_seed(args.seed)
    start = time.perf_counter()
    JOBS[args.name](args.out / args.name, seed=args.seed)
    print(f"done in {time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main()
