"""python -m experiments run NAME [section.key=value ...]: a named quick job on its embedded default.

``ct-lpd`` (the README's first command) trains learned primal-dual on random ellipses through a
down-sampled clinical fan-beam scanner and compares it with FBP and TV; ``mri-cascade``,
``mri-dagan``, ``pet-lpd`` and ``spect-lpd`` do the same for the other modalities; ``mri-varnet-fastmri`` trains
VarNet on the fastMRI files of ``--data PATH``, each slice with its own coil maps and mask; ``ct-fbp`` is FBP alone;
``lpd-paper`` reproduces Adler & Öktem 2018's ellipse experiment (FBP, TV, FBPConvNet, learned primal-dual)
beside the paper's values. Each trains with `experiments.training` on ``experiments/configs/NAME.toml`` (its
``NAME-full``, also a job, is the paper's setting, for a GPU), evaluates with `experiments.evaluation` and
writes to ``runs/NAME/``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from bridges import ct
from experiments import metrics, report
from experiments.config import apply_overrides, available, load_config
from experiments.data.noise import transmission_noise
from experiments.data.phantoms import shepp_logan
from experiments.evaluation import evaluate
from experiments.tasks import build_task
from experiments.training import train, unwrap

TRAINED = ("ct-lpd", "mri-cascade", "mri-dagan", "pet-lpd", "spect-lpd", "lpd-paper", "mri-varnet-fastmri")


def ct_fbp(out: Path, seed: int = 0, overrides=()):
    """A Shepp-Logan phantom through a down-sampled Siemens SOMATOM Definition AS with low-dose noise, by FBP."""
    geometry = ct.scanner("siemens-definition-as", view_step=4, detector_binning=2, image_shape=(256, 256), fov=300.0)
    A = ct.Projector(geometry)
    truth = shepp_logan(geometry.image_shape)
    noisy = transmission_noise(A(truth), 1e4, torch.Generator().manual_seed(seed))
    recons = {
        name: ct.fbp(A, noisy, filter_type=filt) for name, filt in (("FBP Ram-Lak", "ram-lak"), ("FBP Hann", "hann"))
    }
    print(
        f"{geometry.n_views} views x {geometry.n_detectors} channels (arc detector), "
        f"{geometry.image_shape[0]}² pixels of {geometry.pixel_size[0]:.3f} mm; I0 = 1e4 photons per ray\n"
    )
    rows = [
        {"method": name, "PSNR (dB)": metrics.psnr(image, truth), "SSIM": metrics.ssim(image, truth)}
        for name, image in recons.items()
    ]
    print(report.markdown_table(rows, ["method", "PSNR (dB)", "SSIM"]))
    report.figure_grid(out / "ct-fbp.png", truth, recons)
    print(f"\nfigure: {out / 'ct-fbp.png'}")
    return rows


def trained_job(name: str, out: Path, seed: int = 0, overrides=()):
    """Train the job's configuration, then evaluate it against its baselines on held-out items."""
    cfg = load_config(name, [f"seed={seed}", *overrides])
    task = build_task(cfg)
    print(
        f"{name}: {cfg['model']['name']} on {task.description}; {len(task.train)} training items, "
        f"{cfg['train']['steps']} steps of {cfg['train']['batch_size']}"
    )
    models = {cfg["model"]["name"]: unwrap(train(cfg, out, task=task).model)}
    for label, model_cfg in cfg["compare"].items():  # trained alike, each in its own folder
        print(f"{label}: {model_cfg['name']}, {cfg['train']['steps']} steps of {cfg['train']['batch_size']}")
        models[label] = unwrap(train({**cfg, "model": model_cfg, "compare": {}}, out / label, task=task).model)
    rows = evaluate(task, models, cfg, out)
    if cfg["evaluate"]["crime_free"]:
        # a job trained on its paper's own (discrete) simulation, tested as well on data it did not simulate
        free_cfg = apply_overrides(cfg, ['data.model="continuous"'])
        print("\nThe same models and baselines (tuned anew) on data of the continuous model:")
        evaluate(build_task(free_cfg), models, free_cfg, out / "crime-free")
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m experiments run", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    full = [f"{name}-full" for name in TRAINED if f"{name}-full" in available()]
    parser.add_argument("name", choices=["ct-fbp", *TRAINED, *full])
    parser.add_argument("overrides", nargs="*", help="section.key=value, e.g. train.steps=50")
    parser.add_argument("--out", type=Path, default=Path("runs"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--data",
        type=Path,
        default=None,
        help="the data folder, data.root (mri-varnet-fastmri: fastMRI multi-coil .h5 files)",
    )
    args = parser.parse_intermixed_args(argv)
    if args.data is not None:
        args.overrides.append(f"data.root={json.dumps(str(args.data))}")  # a TOML string, escapes and all
    torch.manual_seed(args.seed)
    start = time.perf_counter()
    job = ct_fbp if args.name == "ct-fbp" else lambda *a, **k: trained_job(args.name, *a, **k)
    job(args.out / args.name, seed=args.seed, overrides=args.overrides)
    print(f"done in {time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main()
