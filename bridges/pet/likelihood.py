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

        >>> x = torch.full((3,), 2.0, requires_grad=True)
        >>> loss = poisson_nll(x, torch.tensor([1.0, 2.0, 4.0]))   # ȳ = x, counts y: a scalar
        >>> loss.backward()
        >>> x.grad                                                  # 1 - y / ȳ
        tensor([ 0.5000,  0.0000, -1.0000])
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
    if reduction == "none":
        return loss
    return torch.sum(loss) if reduction == "sum" else torch.mean(loss)


def poisson_nll_gradient(model, x: torch.Tensor, counts: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """∇_x L = A^T(1 - y / (A x + s + eps)): the closed-form gradient of `poisson_nll` for a `SystemModel`.

    Shapes: x (*batch, *model.domain_shape), counts (*batch, *model.range_shape) -> (*batch, *domain_shape).

    Example::

        >>> from bridges import pet
        >>> model = pet.SystemModel(pet.scanner("biograph-mmr", downsample=12), background=1.0)
        >>> x = torch.ones(16, 16)
        >>> g = poisson_nll_gradient(model, x, torch.poisson(model.expected(x)))
        >>> x = (x - 0.1 * g).clamp_min(0)       # a projected gradient step, e.g. in an unrolled network
    """
    counts = check_counts(counts, model.range_shape)
    return model.adjoint(1 - counts / (model.expected(x) + eps))
