"""python -m experiments run NAME: a named quick job on its embedded default configuration."""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from bridges import ct
from experiments.data.noise import transmission_noise
from experiments.phantoms import shepp_logan


def psnr(image, reference):
    mse = torch.mean((image - reference) ** 2)
    return float(10 * torch.log10(reference.max() ** 2 / mse))


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
    print("| reconstruction | PSNR (dB) |\n|---|---|")
    for name, image in rows:
        print(f"| {name} | {psnr(image, truth):.2f} |")
    _figure(out / "ct-fbp.png", truth, noisy, rows)
    return rows


def _figure(path, truth, sinogram, rows):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    panels = [("phantom (1/mm)", truth), ("noisy sinogram (mm)", sinogram)] + list(rows)
    fig, axes = plt.subplots(1, len(panels), figsize=(4 * len(panels), 4))
    for ax, (title, image) in zip(axes, panels):
        sino = "sinogram" in title
        ax.imshow(image.numpy(), cmap="gray", origin="lower", aspect="auto" if sino else "equal",
                  vmin=None if sino else 0, vmax=None if sino else float(truth.max()))
        ax.set_title(title)
        ax.axis("off")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=80)
    plt.close(fig)
    print(f"\nfigure: {path}")


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
