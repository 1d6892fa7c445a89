"""The classical reconstructions a learned model is compared with, one function ``(op, y, **params) -> x`` each.

CT: FBP and TV-PDHG (through ODL); MRI: zero-filled, CG-SENSE and L1-wavelet compressed sensing
(through SigPy); PET: MLEM and OSEM. Each runs on batches ``(*batch, *op.range_shape)`` and is a
thin call into the library (`bridges.ct.fbp`, `bridges.reference.tv_pdhg`, `bridges.mri`,
`bridges.pet`). Iterative ones share the names ``n_iter`` and ``lam`` (regularisation weight).
`tune` picks their parameters by mean PSNR on a validation set, as the learned primal-dual
paper (Adler & Öktem 2018) tuned its FBP and TV baselines.

Example::

    best, table = tune(tv, A, y_val, x_val, {"lam": [1e-5, 3e-5, 1e-4]})
    x_tv = tv(A, y_test, **best)
    for name, reconstruct in BASELINES["ct"].items():
        print(name, psnr(reconstruct(A, y_test), x_test).mean())
"""
from __future__ import annotations

import itertools
import math

import torch

from bridges import ct, mri, pet, reference
from bridges.odl_interop.wrap import to_odl
from bridges.solvers import tv_step_sizes
from experiments.metrics import psnr

__all__ = ["fbp", "tv", "zero_filled", "cg_sense", "l1_wavelet", "mlem", "osem", "BASELINES", "tune"]


# ------------------------------------------------------------------ CT
def fbp(op, y: torch.Tensor, filter: str = "hann", frequency_scaling: float = 1.0) -> torch.Tensor:
    """Filtered back-projection `bridges.ct.fbp` with the window ``filter`` cut at ``frequency_scaling`` · Nyquist.

    Shapes: y (*batch, views, detectors) line integrals in mm -> (*batch, y, x) in 1/mm.

    Example::

        x = fbp(A, sinogram, filter="hann", frequency_scaling=0.8)
    """
    return ct.fbp(op, y, filter=filter, frequency_scaling=frequency_scaling)


def tv(op, y: torch.Tensor, lam: float = 3e-5, n_iter: int = 100, step_ratio: float = 100.0) -> torch.Tensor:
    """Non-negative TV-regularised least squares by ODL's PDHG (`bridges.reference.tv_pdhg`):

        min_{x ≥ 0} ½‖A x − y‖²_{L²} + λ ‖ |∇x| ‖_{L¹}   (ODL's spaces, weighted by pixel and detector cells)

    Steps ``τ = √r / L``, ``σ = 1 / (√r L)`` with ``r = step_ratio`` keep ``τσL² = 1`` (``L`` bounds
    ‖[A; ∇]‖, so PDHG converges for any r); r balances the primal and dual scales: attenuation in 1/mm is
    about 100 times smaller than line integrals in mm, and r = 100 gains about 7 dB at 100 iterations
    over r = 1 on 128² ellipses at 72 views.

    Shapes: y (*batch, *op.range_shape) -> (*batch, *op.domain_shape); each item is solved by ODL in turn.

    Example::

        x = tv(A, sinogram, lam=3e-5, n_iter=100)
    """
    A = to_odl(op)
    tau, sigma = tv_step_sizes(reference.odl_norm(A), A.domain.cell_sides)
    r = math.sqrt(step_ratio)
    return reference.tv_pdhg(A, y, n_iter=n_iter, lam=lam, nonneg=True, tau=tau * r, sigma=sigma / r)


# ------------------------------------------------------------------ MRI
def zero_filled(op, y: torch.Tensor) -> torch.Tensor:
    """The zero-filled (adjoint) reconstruction ``A^H y`` (`bridges.mri.zero_filled`), coils combined by the maps.

    Shapes: y (*batch, *op.range_shape) complex64 -> (*batch, y, x) complex64.
    """
    return mri.zero_filled(op, y)


def cg_sense(op, y: torch.Tensor, n_iter: int = 10, lam: float = 0.0) -> torch.Tensor:
    """CG-SENSE (`bridges.mri.cg_sense`): ``n_iter`` conjugate-gradient steps on ``(A^H A + λ I) x = A^H y`` from 0.

    Shapes: y (*batch, *op.range_shape) complex64 -> (*batch, *op.domain_shape) complex64.

    Example::

        x = cg_sense(A, kspace, n_iter=10)
    """
    return mri.cg_sense(op, y, lamda=lam, max_iter=n_iter)


def l1_wavelet(op, y: torch.Tensor, lam: float = 1e-3, n_iter: int = 50, wave_name: str = "db4") -> torch.Tensor:
    """L1-wavelet compressed sensing ``min_x ½‖A x − y‖² + λ‖W x‖₁`` by SigPy (`bridges.mri.l1_wavelet`).

    ``op`` is a `bridges.mri.CartesianSense` (its maps and mask; single-coil without maps) or a
    `bridges.mri.Sense` (its maps and trajectory). ``λ`` is relative to the image scale.

    Shapes: y (*batch, *op.range_shape) complex64 -> (*batch, y, x) complex64; items solved in turn.

    Example::

        x = l1_wavelet(A, kspace, lam=1e-3, n_iter=50)
    """
    if isinstance(op, mri.Sense):
        return mri.l1_wavelet(y, op.maps, lam, coords=op.nufft.coords, wave_name=wave_name, max_iter=n_iter)
    if not isinstance(op, mri.CartesianSense):
        raise TypeError(f"expected a bridges.mri.CartesianSense or Sense, got {type(op).__name__}")
    mask = None if op.mask is None else op.mask.expand(op.domain_shape)
    if op.maps is None:  # single coil: one coil of unit sensitivity
        return mri.l1_wavelet(y.unsqueeze(-3), torch.ones(1, *op.domain_shape, dtype=torch.complex64), lam,
                              mask=mask, wave_name=wave_name, max_iter=n_iter)
    return mri.l1_wavelet(y, op.maps, lam, mask=mask, wave_name=wave_name, max_iter=n_iter)


# ------------------------------------------------------------------ PET
def mlem(op, y: torch.Tensor, n_iter: int = 20) -> torch.Tensor:
    """MLEM (`bridges.pet.mlem`) from a uniform image; the model's background enters ``ȳ = A x + s``.

    Shapes: y (*batch, views, bins) counts -> (*batch, y, x) activity.

    Example::

        x = mlem(model, data.prompts, n_iter=20)
    """
    return pet.mlem(op, y, n_iter)


def osem(op, y: torch.Tensor, n_iter: int = 3, n_subsets: int | None = None) -> torch.Tensor:
    """OSEM (`bridges.pet.osem`): ``n_iter`` passes over ``n_subsets`` subsets of views.

    ``n_subsets`` must divide the number of views; default the largest divisor up to 8 (7 for the
    Biograph mMR's 252 views and its down-samplings by 2 and 4, 8 for the Discovery 690).

    Shapes: y (*batch, views, bins) counts -> (*batch, y, x) activity.

    Example::

        x = osem(model, data.prompts, n_iter=3, n_subsets=7)
    """
    if n_subsets is None:
        n_subsets = max(d for d in range(1, 9) if op.views.size % d == 0)
    return pet.osem(op, y, n_subsets, n_iter)


BASELINES = {
    "ct": {"FBP": fbp, "TV": tv},
    "mri": {"zero-filled": zero_filled, "CG-SENSE": cg_sense, "L1-wavelet": l1_wavelet},
    "pet": {"MLEM": mlem, "OSEM": osem},
}


# ------------------------------------------------------------------ tuning
def tune(fn, op, ys: torch.Tensor, xs: torch.Tensor, grid: dict[str, list]) -> tuple[dict, list[dict]]:
    """The parameters of ``fn`` in ``grid`` (all combinations) with the highest mean PSNR of ``fn(op, ys, **p)``
    against ``xs``; the first in grid order wins a tie, a NaN score never wins.

    Returns ``(best_params, table)``: ``table`` has one row per combination, its parameters and
    ``"PSNR"`` (per item), ready for `experiments.report.markdown_table`.

    Shapes: ys (*batch, *op.range_shape), xs (*batch, *op.domain_shape): a small validation set.

    Example::

        best, table = tune(fbp, A, y_val, x_val, {"frequency_scaling": [0.5, 0.7, 1.0]})
        print(markdown_table(table, ["frequency_scaling", "PSNR"]))
    """
    if not isinstance(grid, dict) or not grid:
        raise ValueError(f"expected grid as a non-empty dict of parameter name -> list of values, got {grid!r}")
    for name, values in grid.items():
        if not isinstance(values, (list, tuple)) or not values:
            raise ValueError(f"expected a non-empty list of values for {name!r}, got {values!r}")
    best, best_score, table = None, -math.inf, []
    for combination in itertools.product(*grid.values()):
        params = dict(zip(grid, combination))
        scores = psnr(fn(op, ys, **params), xs)
        table.append({**params, "PSNR": scores})
        if float(scores.mean()) > best_score:  # False for NaN
            best, best_score = params, float(scores.mean())
    if best is None:
        raise ValueError(f"every combination of {grid} gave a NaN PSNR")
    return best, table
