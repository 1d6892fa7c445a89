"""Distribution-free calibration of per-pixel intervals ``x̂ ± λ·u``: risk-controlling prediction sets.

Angelopoulos, Kohli, Bates, Jordan, Malik, Zrnic & Upadhyayula, "Image-to-image regression with distribution-free
uncertainty quantification and applications in imaging", ICML 2022, after Bates, Angelopoulos, Lei, Malik &
Jordan, "Distribution-free, risk-controlling prediction sets", JACM 68(6), 2021. A heuristic ``u ≥ 0`` (an
ensemble's spread, Monte Carlo dropout's standard deviation, a data residual's back-projection) becomes an
interval ``[x̂ − λu, x̂ + λu]``; the loss of one item is the fraction of its pixels (within its mask) whose truth
falls outside,

    L_i(λ) = |{p ∈ mask_i : |x_p − x̂_p| > λ u_p}| / |mask_i|  ∈ [0, 1],  non-increasing in λ,

and λ is chosen on ``n`` calibration items, exchangeable with the test items:

- `rcps_lambda`: the smallest λ at which an upper confidence bound of the mean risk lies below α (its p-value
  for the null "risk ≥ α" below δ), so that ``P(E[L(λ̂)] ≤ α) ≥ 1 − δ`` over the calibration draw. The bound is
  Hoeffding's (the relative-entropy form of his 1963 theorem 1) or, tighter for small risks,
  Hoeffding-Bentkus (the smaller of Hoeffding's and Bentkus's p-values, as in the papers above). The price of
  the guarantee is a realised risk below α by a margin that shrinks like 1/√n.
- `crc_lambda`: conformal risk control (Angelopoulos, Bates, Fisch, Lei & Schuster, ICLR 2024), the smallest λ
  with ``(n R̂(λ) + 1)/(n + 1) ≤ α``: ``E[L(λ̂)] ≤ α`` in expectation over calibration and test draws, with no
  1 − δ statement, and a realised risk within about 1/n of α.

Each λ is exact: the risk only changes at the items' ratios ``|x − x̂| / u``, which are the candidates.

Example::

    lam = rcps_lambda(error_cal, u_cal, mask_cal, alpha=0.1, delta=0.1)
    low, high = centre - lam * u, centre + lam * u
    missed = miscoverage(error_test, u_test, mask_test, lam)        # per test item, ≤ α on average
"""

from __future__ import annotations

import math

import numpy as np
import torch
from scipy import stats

BOUNDS = ("hoeffding", "hoeffding-bentkus")


def ratios(error: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """``|error| / u``: the smallest λ at which each pixel is covered (0 where the error is 0, inf where ``u`` is
    0 and the error is not: no λ covers it).

    Shapes: error, u (N, y, x) real -> (N, y, x) float64.
    """
    e, u = error.abs().double(), u.double()
    if (u < 0).any() or not torch.isfinite(u).all():
        raise ValueError("expected a finite heuristic u >= 0 everywhere")
    r = e / u.where(u > 0, torch.ones_like(u))
    return torch.where(u > 0, r, torch.where(e > 0, torch.full_like(r, math.inf), torch.zeros_like(r)))


def miscoverage(error: torch.Tensor, u: torch.Tensor, mask: torch.Tensor, lam: float) -> torch.Tensor:
    """Each item's loss ``L_i(λ)``: the fraction of its mask's pixels whose truth lies outside ``x̂ ± λu``.

    Shapes: error, u, mask (N, y, x) -> (N,) float64.
    """
    mask = _mask(mask, error)
    outside = (ratios(error, u) > lam) & mask  # as `risk_steps` counts them: |e| = λu is inside
    return outside.sum(dim=(-2, -1)).double() / mask.sum(dim=(-2, -1)).double()


def hoeffding_pvalue(risk, n: int, alpha: float) -> np.ndarray:
    """Hoeffding's p-value for the null "mean risk ≥ α" from the empirical risk of ``n`` items in [0, 1]:
    ``exp(−n h(min(R̂, α), α))``, ``h(a, b) = a log(a/b) + (1−a) log((1−a)/(1−b))``."""
    r = np.minimum(np.asarray(risk, dtype=np.float64), alpha)
    with np.errstate(divide="ignore", invalid="ignore"):
        h = np.where(r > 0, r * np.log(r / alpha), 0.0) + (1 - r) * np.log((1 - r) / (1 - alpha))
    return np.exp(-n * h)


def bentkus_pvalue(risk, n: int, alpha: float) -> np.ndarray:
    """Bentkus's p-value: ``e · P(Binomial(n, α) ≤ ⌈n R̂⌉)`` (valid for losses in [0, 1])."""
    k = np.ceil(n * np.asarray(risk, dtype=np.float64) - 1e-9)  # n·R̂ is a count up to rounding
    return math.e * stats.binom.cdf(k, n, alpha)


def pvalue(risk, n: int, alpha: float, bound: str = "hoeffding-bentkus") -> np.ndarray:
    """The p-value of `BOUNDS`' ``bound`` for "mean risk ≥ α"; below δ means the upper confidence bound of the
    risk at level 1 − δ lies below α."""
    if bound == "hoeffding":
        return hoeffding_pvalue(risk, n, alpha)
    if bound == "hoeffding-bentkus":
        return np.minimum(hoeffding_pvalue(risk, n, alpha), bentkus_pvalue(risk, n, alpha))
    raise ValueError(f"expected bound one of {BOUNDS}, got {bound!r}")


def risk_steps(error: torch.Tensor, u: torch.Tensor, mask: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """The mean risk ``R̂(λ) = mean_i L_i(λ)`` as a step function: the distinct ratios ``λ_k`` (ascending, inf
    possibly last) and ``R̂(λ_k)``; R̂ is constant on ``[λ_k, λ_{k+1})`` and 1 below the smallest ratio (or below
    0, where some pixels are exact)."""
    mask = _mask(mask, error)
    r = ratios(error, u)
    n = r.shape[0]
    weights = (mask.double() / mask.sum(dim=(-2, -1), keepdim=True).double() / n)[mask].numpy()
    values = r[mask].numpy()
    order = np.argsort(values, kind="stable")
    values, weights = values[order], weights[order]
    lams, first = np.unique(values, return_index=True)
    covered = np.add.reduceat(weights, first).cumsum()  # weight of the ratios ≤ λ_k
    return lams, np.clip(1.0 - covered, 0.0, 1.0)


def rcps_lambda(
    error: torch.Tensor,
    u: torch.Tensor,
    mask: torch.Tensor,
    alpha: float = 0.1,
    delta: float = 0.1,
    bound: str = "hoeffding-bentkus",
) -> float:
    """The risk-controlling λ: the smallest λ whose mean calibration risk has a p-value below δ for "risk ≥ α"
    (`pvalue`; the p-value is non-decreasing in R̂ and R̂ non-increasing in λ, so every larger λ passes too).
    inf when no λ does (too few calibration items for α and δ: with R̂ = 0 the bound still exceeds α).

    Shapes: error, u, mask (n, y, x): the calibration items' errors ``x − x̂``, heuristics and masks.
    """
    _check_levels(alpha, delta)
    lams, risk = risk_steps(error, u, mask)
    ok = pvalue(risk, error.shape[0], alpha, bound) < delta
    return float(lams[np.argmax(ok)]) if ok.any() else math.inf


def crc_lambda(error: torch.Tensor, u: torch.Tensor, mask: torch.Tensor, alpha: float = 0.1) -> float:
    """Conformal risk control's λ: the smallest λ with ``(n R̂(λ) + 1)/(n + 1) ≤ α`` (losses bounded by 1);
    inf when ``α < 1/(n+1)``."""
    _check_levels(alpha, 0.5)
    lams, risk = risk_steps(error, u, mask)
    n = error.shape[0]
    ok = (n * risk + 1) / (n + 1) <= alpha + 1e-12
    return float(lams[np.argmax(ok)]) if ok.any() else math.inf


def _check_levels(alpha: float, delta: float):
    if not (0 < alpha < 1 and 0 < delta < 1):
        raise ValueError(f"expected alpha and delta in (0, 1), got {alpha!r} and {delta!r}")


def _mask(mask: torch.Tensor | None, like: torch.Tensor) -> torch.Tensor:
    if mask is None:
        return torch.ones(like.shape, dtype=torch.bool)
    if mask.shape != like.shape or mask.dtype != torch.bool:
        raise ValueError(f"expected a bool mask of shape {tuple(like.shape)}, got {tuple(mask.shape)} {mask.dtype}")
    if not mask.any(dim=(-2, -1)).all():
        raise ValueError("expected every item's mask to hold at least one pixel")
    return mask
