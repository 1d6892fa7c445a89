"""How well an uncertainty follows the error: rank correlation, sparsification (AUSE) and failure detection (AUROC).

- `spearman`: Spearman's rank correlation of per-pixel uncertainty and |error| (average ranks for ties).
- `sparsification` / `ause`: remove the pixels of highest uncertainty first and follow the mean |error| of those
  left; the oracle removes the largest errors first. AUSE is the area between the two curves (Ilg et al., ECCV
  2018), here per image with the curves normalised by the image's mean |error|, so 0 means "ranks the pixels as
  the error does" and the value is comparable between images and jobs.
- `auroc`: the probability that a positive item scores above a negative one (ties count one half), i.e. the
  Mann-Whitney U over ``n₁ n₀``: 1 a perfect ranking, 0.5 chance, 0 reversed.

Example::

    rho = spearman(u[mask], error.abs()[mask])
    area = ause(error.abs(), u, mask)            # (N,) per image
    score = auroc(u_per_image, is_shifted)
"""

from __future__ import annotations

import math

import numpy as np
import torch


def ranks(values) -> np.ndarray:
    """1-based ranks, ties sharing their average rank (as scipy.stats.rankdata's default)."""
    v = np.asarray(values, dtype=np.float64).ravel()
    order = np.argsort(v, kind="stable")
    sorted_v = v[order]
    first = np.r_[True, sorted_v[1:] != sorted_v[:-1]]
    group = np.cumsum(first) - 1
    starts = np.flatnonzero(first)
    ends = np.r_[starts[1:], len(v)]
    average = (starts + 1 + ends) / 2.0  # mean of the 1-based positions start+1 .. end
    out = np.empty_like(v)
    out[order] = average[group]
    return out


def spearman(a, b) -> float:
    """Spearman's ρ: Pearson's correlation of the average ranks of ``a`` and ``b`` (NaN if either is constant)."""
    ra, rb = ranks(_numpy(a)), ranks(_numpy(b))
    if ra.shape != rb.shape:
        raise ValueError(f"expected equal sizes, got {ra.size} and {rb.size}")
    ra, rb = ra - ra.mean(), rb - rb.mean()
    denominator = math.sqrt(float((ra * ra).sum() * (rb * rb).sum()))
    return float((ra * rb).sum() / denominator) if denominator > 0 else math.nan


def auroc(scores, labels) -> float:
    """Area under the ROC curve of ``scores`` for the boolean ``labels``: ``U / (n₁ n₀)`` with U the
    Mann-Whitney statistic of the positives (ties one half); NaN if a class is empty."""
    s, y = _numpy(scores).astype(np.float64).ravel(), _numpy(labels).astype(bool).ravel()
    if s.shape != y.shape:
        raise ValueError(f"expected one label per score, got {s.size} scores and {y.size} labels")
    n1, n0 = int(y.sum()), int((~y).sum())
    if n1 == 0 or n0 == 0:
        return math.nan
    u = ranks(s)[y].sum() - n1 * (n1 + 1) / 2
    return float(u / (n1 * n0))


def sparsification(error, u, n_steps: int = 100) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The fractions removed ``k / n_steps`` (k = 0 .. n_steps − 1) and the mean |error| of the pixels left,
    removing by decreasing ``u`` and by decreasing |error| (the oracle), both divided by the mean |error| of all
    pixels (1 at no removal). Pixels of equal ``u`` go in their order (a stable sort).

    Shapes: error, u (P,) one image's pixels.
    """
    e, v = np.abs(_numpy(error).astype(np.float64).ravel()), _numpy(u).astype(np.float64).ravel()
    if e.shape != v.shape or e.size == 0:
        raise ValueError(f"expected as many uncertainties as errors (at least one), got {v.size} and {e.size}")
    fractions = np.arange(n_steps) / n_steps
    removed = np.floor(fractions * e.size).astype(int)
    scale = e.mean() if e.mean() > 0 else 1.0

    def curve(order):
        tail = np.cumsum(e[order][::-1])[::-1]  # tail[k]: the sum of the errors left after removing k
        return tail[removed] / (e.size - removed) / scale

    return fractions, curve(np.argsort(-v, kind="stable")), curve(np.argsort(-e, kind="stable"))


def ause(error: torch.Tensor, u: torch.Tensor, mask: torch.Tensor | None = None, n_steps: int = 100) -> np.ndarray:
    """Area under the sparsification error curve per image: the mean over `sparsification`'s fractions of the
    uncertainty's curve minus the oracle's (≥ 0; 0 when ``u`` orders the pixels as |error| does).

    Shapes: error, u, mask (N, y, x) -> (N,).
    """
    out = []
    for k in range(error.shape[0]):
        m = slice(None) if mask is None else mask[k]
        _, by_u, oracle = sparsification(error[k][m], u[k][m], n_steps)
        out.append(float((by_u - oracle).mean()))
    return np.array(out)


def _numpy(v) -> np.ndarray:
    return v.detach().cpu().numpy() if isinstance(v, torch.Tensor) else np.asarray(v)
