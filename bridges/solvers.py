"""Classical iterative reconstructions in torch on any `LinearOperator`, step for step as ODL's solvers.

Each runs on plain sums (unit weights); `bridges.reference` runs ODL's own solver on
`bridges.odl.to_odl` for comparison. All take ``n_iter`` and ``callback(k, x)`` (called
after iteration ``k``, counting from 1), work under ``torch.no_grad`` unless the caller
enables gradients, and accept any leading batch dimensions on ``y``.
"""
from __future__ import annotations

import math
from typing import Callable, Sequence

import torch

from .operator import LinearOperator

Callback = Callable[[int, torch.Tensor], None] | None


def _start(A: LinearOperator, y: torch.Tensor, x0):
    batch = y.shape[: y.dim() - len(A.range_shape)]
    if x0 is not None:
        return x0.clone()
    return torch.zeros(*batch, *A.domain_shape, dtype=A.domain_dtype if y.dtype == A.range_dtype else
                       {torch.float32: torch.float64, torch.complex64: torch.complex128}[A.domain_dtype],
                       device=y.device)


def landweber(A: LinearOperator, y: torch.Tensor, n_iter: int, step: float | None = None, x0=None,
              callback: Callback = None) -> torch.Tensor:
    """Landweber iteration ``x ← x + ω A^H (y − A x)``, ``ω = 1/‖A‖²`` unless given (converges for ω < 2/‖A‖²).

    Shapes: y (*batch, *A.range_shape) -> x (*batch, *A.domain_shape).

    Example::

        x = landweber(A, A(x_true), n_iter=50)
    """
    step = 1.0 / A.norm() ** 2 if step is None else step
    x = _start(A, y, x0)
    for k in range(1, n_iter + 1):
        x = x + step * A.adjoint(y - A(x))
        if callback is not None:
            callback(k, x)
    return x


def _sqnorm(t, n):
    return t.abs().pow(2).sum(dim=tuple(range(t.dim() - n, t.dim())), keepdim=True)


def cgls(A: LinearOperator, y: torch.Tensor, n_iter: int, x0=None, callback: Callback = None) -> torch.Tensor:
    """Conjugate gradients on the normal equations ``A^H A x = A^H y`` (CGLS, as ODL's ``conjugate_gradient_normal``).

    Shapes: y (*batch, *A.range_shape) -> x (*batch, *A.domain_shape); each batch item has its own step.

    Example::

        x = cgls(A, y, n_iter=20)
    """
    nd, nr = len(A.domain_shape), len(A.range_shape)
    x = _start(A, y, x0)
    d = y - A(x)
    p = A.adjoint(d)
    ss = _sqnorm(p, nd)
    for k in range(1, n_iter + 1):
        q = A(p)
        qq = _sqnorm(q, nr).reshape(ss.shape)
        if torch.all(qq == 0):
            break
        a = ss / qq.clamp_min(torch.finfo(qq.dtype).tiny)
        x = x + a * p
        d = d - a.reshape(*a.shape[: a.dim() - nd], *[1] * nr) * q
        s = A.adjoint(d)
        ss_old, ss = ss, _sqnorm(s, nd)
        p = s + (ss / ss_old.clamp_min(torch.finfo(ss.dtype).tiny)) * p
        if callback is not None:
            callback(k, x)
    return x


def gradient(x: torch.Tensor, spacing: Sequence[float]) -> torch.Tensor:
    """Forward differences over the last ``len(spacing)`` axes, zero beyond the edge (ODL's ``Gradient``).

    Shapes: (*batch, *image) -> (*batch, ndim, *image); ``(∇x)_k[i] = (x[i + e_k] − x[i]) / h_k``.
    """
    n = len(spacing)
    parts = []
    for k, h in enumerate(spacing):
        axis = x.dim() - n + k
        shifted = torch.cat([x.narrow(axis, 1, x.shape[axis] - 1), torch.zeros_like(x.narrow(axis, 0, 1))], axis)
        parts.append((shifted - x) / h)
    return torch.stack(parts, dim=x.dim() - n)


def gradient_adjoint(g: torch.Tensor, spacing: Sequence[float]) -> torch.Tensor:
    """The transpose of `gradient`: ``(∇ᵀ g)[i] = Σ_k (g_k[i − e_k] − g_k[i]) / h_k`` with ``g_k[−1] = 0``."""
    n = len(spacing)
    out = 0
    for k, h in enumerate(spacing):
        gk = g.select(g.dim() - n - 1, k)
        axis = gk.dim() - n + k
        prev = torch.cat([torch.zeros_like(gk.narrow(axis, 0, 1)), gk.narrow(axis, 0, gk.shape[axis] - 1)], axis)
        out = out + (prev - gk) / h
    return out


def tv_step_sizes(op_norm: float, spacing: Sequence[float]) -> tuple[float, float]:
    """``τ = σ = 1/L`` with ``L = sqrt(‖A‖² + Σ_k 4/h_k²) ≥ ‖[A; ∇]‖``, so ``τσ‖K‖² < 1`` (PDHG converges)."""
    bound = math.sqrt(op_norm ** 2 + sum(4.0 / h ** 2 for h in spacing))
    return 1.0 / bound, 1.0 / bound


def tv_pdhg(A: LinearOperator, y: torch.Tensor, n_iter: int, lam: float, spacing: Sequence[float] | None = None,
            tau: float | None = None, sigma: float | None = None, nonneg: bool = False, x0=None,
            callback: Callback = None) -> torch.Tensor:
    """TV-regularised least squares ``min_x ½‖Ax − y‖² + λ Σ_i |(∇x)_i|₂ (+ ι_{x≥0})`` by PDHG
    (Chambolle–Pock, θ = 1; dual step first, as ODL's ``pdhg``).

    ``spacing``: the pixel size per image axis (default ones over all domain axes), the ``h`` of `gradient`.
    ``tau``, ``sigma``: default `tv_step_sizes`. Real operators only.

    Shapes: y (*batch, *A.range_shape) -> x (*batch, *A.domain_shape).

    Example::

        x = tv_pdhg(A, sino, n_iter=200, lam=0.01, spacing=g.pixel_size, nonneg=True)
    """
    spacing = tuple(spacing or (1.0,) * len(A.domain_shape))
    if tau is None or sigma is None:
        tau, sigma = tv_step_sizes(A.norm(), spacing)
    x = _start(A, y, x0)
    x_relax, p = x.clone(), torch.zeros_like(y)
    q = torch.zeros_like(gradient(x, spacing))
    for k in range(1, n_iter + 1):
        p = (p + sigma * (A(x_relax) - y)) / (1 + sigma)
        q = q + sigma * gradient(x_relax, spacing)
        q = q / (torch.linalg.vector_norm(q, dim=q.dim() - len(spacing) - 1, keepdim=True) / lam).clamp_min(1.0)
        x_old = x
        x = x - tau * (A.adjoint(p) + gradient_adjoint(q, spacing))
        if nonneg:
            x = x.clamp_min(0)
        x_relax = 2 * x - x_old
        if callback is not None:
            callback(k, x)
    return x


def osem(As: Sequence[LinearOperator], ys: Sequence[torch.Tensor], n_iter: int, x0=None, eps: float = 1e-8,
         callback: Callback = None) -> torch.Tensor:
    """Ordered-subsets EM (MLEM for one subset): per subset ``x ← x / max(A_sᵀ1, ε) · A_sᵀ(y_s / max(A_s x, ε))``,
    ODL's ``osmlem``; ``x0`` defaults to ones. ``callback(k, x)`` after every subset update.

    Shapes: ys[s] (*batch, *As[s].range_shape) -> x (*batch, *domain_shape).

    Example::

        x = osem([A], [counts], n_iter=20)       # MLEM
    """
    if len(As) != len(ys) or not As:
        raise ValueError(f"expected as many data as operators (at least one), got {len(ys)} and {len(As)}")
    x = torch.ones_like(_start(As[0], ys[0], None)) if x0 is None else x0.clone()
    sens = [A.adjoint(torch.ones_like(y)).clamp_min(eps) for A, y in zip(As, ys)]
    k = 0
    for _ in range(n_iter):
        for A, y, s in zip(As, ys, sens):
            x = x * A.adjoint(y / A(x).clamp_min(eps)) / s
            k += 1
            if callback is not None:
                callback(k, x)
    return x


def mlem(A: LinearOperator, y: torch.Tensor, n_iter: int, x0=None, callback: Callback = None) -> torch.Tensor:
    """MLEM ``x ← x / Aᵀ1 · Aᵀ(y / A x)``: `osem` with one subset."""
    return osem([A], [y], n_iter, x0=x0, callback=callback)
