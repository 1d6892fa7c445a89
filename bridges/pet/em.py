"""Expectation maximisation for PET: MLEM, OSEM (subsets by views) and a differentiable EM step."""
from __future__ import annotations

import torch

from .likelihood import check_counts

__all__ = ["sensitivity", "em_step", "mlem", "osem"]

_EPS = 1e-8  # floor of ȳ and of the sensitivity, as in odl.solvers.mlem


def sensitivity(model) -> torch.Tensor:
    """The sensitivity image ``A^T 1`` of a `SystemModel` (per mm² of activity: counts per unit image value).

    Shapes: -> model.domain_shape.

    Example::

        sens = sensitivity(model)              # (y, x)
        x = em_step(model, x, y, sens)
    """
    with torch.no_grad():
        return model.adjoint(torch.ones(model.range_shape, device=model.factors.device))


def em_step(model, x: torch.Tensor, counts: torch.Tensor, sens: torch.Tensor | None = None) -> torch.Tensor:
    """One EM update ``x⁺ = x / (A^T 1) · A^T(y / (A x + s))``, autograd-aware in ``x`` (and in ``sens``).

    Used as a layer of an unrolled network it keeps the estimate non-negative and, without background,
    the total counts of ``A x⁺`` equal to those of ``y``. ``ȳ`` and the sensitivity are floored at 1e-8.

    Shapes: x (*batch, *model.domain_shape) ≥ 0; counts (*batch, *model.range_shape) -> like x.

    Example::

        x = torch.ones(model.domain_shape)
        for _ in range(10):
            x = em_step(model, x, y)
    """
    counts = check_counts(counts, model.range_shape)
    sens = sensitivity(model) if sens is None else sens
    ratio = counts / model.expected_counts(x).clamp_min(_EPS)
    return x * model.adjoint(ratio) / sens.clamp_min(_EPS)


def mlem(model, counts: torch.Tensor, n_iter: int, x0: torch.Tensor | None = None, callback=None) -> torch.Tensor:
    """Maximum-likelihood EM (Shepp & Vardi 1982): ``n_iter`` `em_step` updates from ``x0`` (default ones).

    ``callback(k, x)`` runs after iteration k (1-based). Runs without autograd; unroll `em_step` to learn.

    Shapes: counts (*batch, *model.range_shape) -> (*batch, *model.domain_shape).

    Example::

        y = simulate(model, phantom, total_counts=1e5, generator=torch.Generator().manual_seed(0)).prompts
        x = mlem(model, y, n_iter=20)
    """
    counts = check_counts(counts, model.range_shape)
    return _iterate([model], [counts], _start(model, counts, x0, n_iter), n_iter, callback)


def osem(model, counts: torch.Tensor, n_subsets: int, n_iter: int, x0: torch.Tensor | None = None,
         callback=None) -> torch.Tensor:
    """Ordered-subsets EM (Hudson & Larkin 1994): each iteration runs `em_step` on every subset of views.

    Subset k holds views k, k + n_subsets, ...; ``n_subsets`` must divide the number of views, so every
    subset has the same size. Each subset has its own sensitivity ``A_k^T 1``. One subset is MLEM.
    ``callback(k, x)`` runs after iteration k (1-based).

    Shapes: counts (*batch, *model.range_shape) -> (*batch, *model.domain_shape).

    Example::

        x = osem(model, y, n_subsets=6, n_iter=3)
    """
    counts = check_counts(counts, model.range_shape)
    n_views = model.views.size
    if not isinstance(n_subsets, int) or n_subsets < 1 or n_views % n_subsets:
        raise ValueError(f"n_subsets must be a positive divisor of the number of views ({n_views}), got {n_subsets!r}")
    x = _start(model, counts, x0, n_iter)
    subsets = [slice(k, None, n_subsets) for k in range(n_subsets)]
    return _iterate([model.subset(s) for s in subsets], [counts[..., s, :] for s in subsets], x, n_iter, callback)


def _start(model, counts, x0, n_iter):
    if not isinstance(n_iter, int) or n_iter < 0:
        raise ValueError(f"n_iter must be a non-negative integer, got {n_iter!r}")
    if x0 is None:
        batch = counts.shape[: counts.dim() - len(model.range_shape)]
        return torch.ones(*batch, *model.domain_shape, dtype=counts.dtype, device=counts.device)
    if bool((x0 < 0).any()):
        raise ValueError(f"x0 must be non-negative, got a minimum of {float(x0.min()):.3g}")
    return x0.detach().clone()


def _iterate(models, data, x, n_iter, callback):
    sens = [sensitivity(m) for m in models]
    with torch.no_grad():
        for it in range(1, n_iter + 1):
            for m, y, s in zip(models, data, sens):
                x = em_step(m, x, y, s)
            if callback is not None:
                callback(it, x)
    return x
