"""Poisson statistics of PET counts: the negative log-likelihood as a loss, and its gradient."""

from __future__ import annotations

import torch

from ..solvers import check_counts

__all__ = ["poisson_nll", "poisson_nll_gradient"]


def poisson_nll(
    expected: torch.Tensor, counts: torch.Tensor, reduction: str = "sum", eps: float = 1e-8, constant: bool = False
) -> torch.Tensor:
    """Poisson negative log-likelihood ``L = Σ ȳ - y log(ȳ + eps)`` (+ ``Σ log y!`` with ``constant``).

    ``eps`` keeps the loss and its gradient ``1 - y / (ȳ + eps)`` finite where ``ȳ`` reaches 0; a bin
    with ``y = 0`` contributes ``ȳ`` whatever ``ȳ`` is. ``reduction``: "sum", "mean" or "none".

    Shapes: expected ȳ and counts y broadcastable, in counts; the result a scalar (or their shape).

    Example::

        ybar = model.expected(x)                    # (views, bins)
        loss = poisson_nll(ybar, y)                 # scalar, differentiable in x
        loss.backward()
    """
    counts = check_counts(counts)
    if not isinstance(expected, torch.Tensor):
        raise TypeError(f"expected `expected` as a torch.Tensor, got {type(expected).__name__}")
    # On a GPU this check (and check_counts') waits for the device and reads back one flag: a sync at each
    # loss, not a copy of the data.
    if bool((expected.detach() < 0).any()):
        raise ValueError(
            f"expected counts must be non-negative (a Poisson mean), got a minimum of "
            f"{float(expected.detach().min()):.3g}: keep the model output non-negative"
        )
    if reduction not in ("sum", "mean", "none"):
        raise ValueError(f"reduction must be 'sum', 'mean' or 'none', got {reduction!r}")
    loss = expected - counts * torch.log(expected + eps)
    if constant:
        loss = loss + torch.lgamma(counts + 1)
    return {"sum": torch.sum, "mean": torch.mean, "none": lambda t: t}[reduction](loss)


def poisson_nll_gradient(model, x: torch.Tensor, counts: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """∇_x L = A^T(1 - y / (A x + s + eps)): the closed-form gradient of `poisson_nll` for a `SystemModel`.

    Shapes: x (*batch, *model.domain_shape), counts (*batch, *model.range_shape) -> (*batch, *domain_shape).

    Example::

        g = poisson_nll_gradient(model, x, y)
        x = (x - step * g).clamp_min(0)             # a projected gradient step, e.g. in an unrolled network
    """
    counts = check_counts(counts, model.range_shape)
    return model.adjoint(1 - counts / (model.expected(x) + eps))
