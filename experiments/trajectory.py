"""Learn the angles of a radial trajectory for a fixed reconstruction, by gradients through the NUFFT's coordinates.

    python -m experiments.trajectory [--size 64] [--spokes 12] [--steps 60] [--seed 0]

In the spirit of PILOT (Weiss et al. 2021) and BJORK (Wang et al. 2022), with the reconstruction fixed
rather than learned: CG-SENSE (`bridges.mri.cg_sense`, ``n_iter`` iterations, λ = ``lam`` ||A||²) of
4-coil radial data of the synthetic MRI phantoms (`experiments.data.phantoms.mri_phantom`) with complex
Gaussian noise. The spokes cross the centre, k = r (sin θ, cos θ), r on ``samples`` points in [-N/2, N/2);
the angles θ start at random (seeded) and Adam minimises the mean relative error ||x̂ - x||² / ||x||² over
the training phantoms; the loss reaches θ through the measurements and every CG iteration. The table gives
the PSNR on held-out phantoms for the start, the learned angles, and the golden-angle and equispaced ones.

Example::

    result = learn_angles(size=32, spokes=6, steps=3)
    result["psnr"]["learned"], result["psnr"]["start"]
"""

from __future__ import annotations

import argparse
import math

import torch

from bridges.mri import Sense, birdcage_maps, cg_sense
from experiments.data.phantoms import mri_phantom
from experiments.data.synthetic import item_generator
from experiments.metrics import psnr

GOLDEN_ANGLE = math.pi / ((1 + math.sqrt(5)) / 2)  # 180° / the golden ratio = 111.25°


def radial_spokes(angles: torch.Tensor, samples: int, size: int) -> torch.Tensor:
    """Spokes through the centre at ``angles`` (radians), coordinates in SigPy's convention (y, x).

    Shapes: angles (spokes,) -> (spokes, samples, 2), differentiable in the angles.
    """
    r = (torch.arange(samples, dtype=angles.dtype) - samples / 2) * (size / samples)  # [-N/2, N/2)
    direction = torch.stack([torch.sin(angles), torch.cos(angles)], dim=-1)
    return r[None, :, None] * direction[:, None, :]


def largest_gap(angles: torch.Tensor) -> float:
    """The largest angle (degrees) between neighbouring spokes; a spoke at θ is the one at θ + π."""
    theta = torch.sort(angles.detach() % math.pi).values
    gaps = torch.diff(torch.cat([theta, theta[:1] + math.pi]))
    return math.degrees(float(gaps.max()))


def reconstruct(angles, images, noise, maps, samples, n_iter, lam):
    """CG-SENSE of the phantoms ``images`` seen along ``angles``, with ``noise`` added to their k-space."""
    A = Sense(maps, radial_spokes(angles, samples, images.shape[-1]))  # rebuilt per step: a FINUFFT plan
    return cg_sense(A, A(images) + noise, n_iter, lam=lam * A.norm() ** 2)


def learn_angles(
    size: int = 64,
    spokes: int = 12,
    samples: int | None = None,
    coils: int = 4,
    steps: int = 60,
    lr: float = 0.01,
    n_train: int = 8,
    n_test: int = 8,
    noise: float = 0.02,
    n_iter: int = 10,
    lam: float = 0.01,
    seed: int = 0,
) -> dict:
    """Learn ``spokes`` angles for CG-SENSE on ``size``² phantoms; returns the angles and test PSNRs (dB, means).

    ``noise``: the standard deviation of each part of the complex Gaussian noise, relative to the RMS of the
    start trajectory's measurements of the training phantoms.
    """
    samples = samples or 2 * size
    maps = birdcage_maps((size, size), coils)
    images = torch.stack([mri_phantom((size, size), item_generator(seed, i)) for i in range(n_train + n_test)])
    train, test = images[:n_train], images[n_train:]
    g = torch.Generator().manual_seed(seed)
    start = torch.rand(spokes, generator=g, dtype=torch.float64) * math.pi
    with torch.no_grad():
        scale = Sense(maps, radial_spokes(start, samples, size))(train).abs().pow(2).mean().sqrt()
    shape = (coils, spokes, samples)
    sigma = noise * float(scale)
    train_noise = sigma * torch.complex(
        torch.randn(n_train, *shape, generator=g), torch.randn(n_train, *shape, generator=g)
    )
    test_noise = sigma * torch.complex(
        torch.randn(n_test, *shape, generator=g), torch.randn(n_test, *shape, generator=g)
    )

    angles = start.clone().requires_grad_()
    optimiser = torch.optim.Adam([angles], lr=lr)
    losses = []
    for _ in range(steps):
        optimiser.zero_grad()
        x = reconstruct(angles, train, train_noise, maps, samples, n_iter, lam)
        loss = ((x - train).abs().pow(2).sum((-2, -1)) / train.abs().pow(2).sum((-2, -1))).mean()
        loss.backward()
        optimiser.step()
        losses.append(float(loss.detach()))

    def test_psnr(theta):
        with torch.no_grad():
            return float(psnr(reconstruct(theta.detach(), test, test_noise, maps, samples, n_iter, lam), test).mean())

    references = {
        "start (random)": start,
        "learned": angles,
        "golden angle": torch.arange(spokes, dtype=torch.float64) * GOLDEN_ANGLE % math.pi,
        "equispaced": torch.arange(spokes, dtype=torch.float64) * math.pi / spokes,
    }
    return {
        "angles": angles.detach(),
        "start": start,
        "losses": losses,
        "psnr": {name: test_psnr(theta) for name, theta in references.items()},
    }


def _positive(kind):
    """An argparse type: a number of ``kind`` > 0 (a count of 0 or fewer fails later, deep in the training)."""
    what = {int: "a positive integer", float: "a positive number"}[kind]

    def parse(text):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
        if not value > 0:  # NaN too
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}")
        return value

    return parse


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=_positive(int), default=64)
    parser.add_argument("--spokes", type=_positive(int), default=12)
    parser.add_argument("--steps", type=_positive(int), default=60)
    parser.add_argument("--lr", type=_positive(float), default=0.01)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    result = learn_angles(size=args.size, spokes=args.spokes, steps=args.steps, lr=args.lr, seed=args.seed)
    print(
        f"{args.spokes} spokes, {args.size}², 4 coils, CG-SENSE 10 iterations; training loss "
        f"{result['losses'][0]:.4f} -> {result['losses'][-1]:.4f} in {args.steps} Adam steps; largest gap between "
        f"spokes {largest_gap(result['start']):.1f}° -> {largest_gap(result['angles']):.1f}° (equispaced "
        f"{180 / args.spokes:.1f}°)\n"
    )
    print("| angles | test PSNR (dB) |\n|---|---:|")
    for name, value in result["psnr"].items():
        print(f"| {name} | {value:.2f} |")


if __name__ == "__main__":
    main()
