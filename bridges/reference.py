"""Reference reconstructions: ODL's own solvers on `bridges.odl.to_odl` of an operator, returning tensors.

Every function takes a `LinearOperator` (or an ``odl.Operator``, used as is, with data
in its layout) and data in the operator's layout, and returns the reconstruction in the
operator's domain layout. Problems are posed in ODL's spaces, whose inner products are
weighted by the cell volumes ``w_domain``, ``w_range`` (`weights`): ``‖r‖² = w_range Σ|r|²``.
For Landweber, CGLS and MLEM/OSEM the weights cancel (same iterates as `bridges.solvers`
on plain sums); TV and Tikhonov weights are ODL's (see each function). ``callback(k, x)``
receives the iteration number (from 1) and the current iterate as a tensor.
"""
from __future__ import annotations

import math
from typing import Callable, Sequence

import numpy as np
import torch

import odl
from odl.applications import tomo

from .odl_interop.wrap import BridgeOperator, _inverse, _permute, as_array, as_tensor, from_odl, to_odl, weight
from .operator import LinearOperator
from .solvers import tv_step_sizes

__all__ = ["fbp", "landweber", "cgls", "tv_pdhg", "mlem", "osem", "cg_sense", "weights", "odl_norm"]

Callback = Callable[[int, torch.Tensor], None] | None


def _odl(op) -> BridgeOperator | odl.Operator:
    if isinstance(op, odl.Operator):
        return op
    if isinstance(op, LinearOperator):
        return to_odl(op)
    raise TypeError(f"expected a bridges.LinearOperator or an odl.Operator, got {type(op).__name__}")


def _perms(A):
    if isinstance(A, BridgeOperator):
        return A.perms
    return tuple(range(len(A.domain.shape))), tuple(range(len(A.range.shape)))


def weights(op) -> tuple[float, float]:
    """(w_domain, w_range): the constant weightings of ODL's spaces for ``op`` (cell volumes, 1 for unit cells)."""
    A = _odl(op)
    return weight(A.domain), weight(A.range)


def odl_norm(op) -> float:
    """‖A‖ in ODL's spaces, ``sqrt(w_range / w_domain) ‖A‖₂``, from this project's (seeded) power iteration."""
    A = _odl(op)
    plain = A.op.norm() if isinstance(A, BridgeOperator) else from_odl(A).norm()
    w_d, w_r = weight(A.domain), weight(A.range)
    return plain * math.sqrt(w_r / w_d)


class _Progress:
    """ODL calls ``callback(x)`` with an element; ours get ``(k, tensor)`` in the operator's layout."""

    def __init__(self, callback, perm):
        self.callback, self.perm, self.k = callback, _inverse(perm), 0

    def __call__(self, x):
        self.k += 1
        self.callback(self.k, _permute(as_tensor(x).clone(), self.perm))


def _run(op, y: torch.Tensor, solve, x0=None, callback: Callback = None) -> torch.Tensor:
    """Apply ``solve(A, data, x, cb)`` (ODL elements, in place on x) to each batch item of ``y``."""
    A = _odl(op)
    pd, pr = _perms(A)
    range_shape = tuple(A.range.shape[i] for i in _inverse(pr))
    n = len(range_shape)
    if not isinstance(y, torch.Tensor) or tuple(y.shape[y.dim() - n:]) != range_shape:
        raise ValueError(f"expected data of shape (..., {', '.join(map(str, range_shape))}), "
                         f"got {tuple(y.shape) if isinstance(y, torch.Tensor) else type(y).__name__}")
    batch = y.shape[: y.dim() - n]
    results = []
    for item in y.reshape(-1, *range_shape):
        data = A.range.element(as_array(A.range, _permute(item, pr).contiguous()))
        x = A.domain.zero() if x0 is None else A.domain.element(as_array(A.domain, _permute(x0, pd).contiguous()))
        solve(A, data, x, None if callback is None else _Progress(callback, pd))
        results.append(_permute(as_tensor(x).clone(), _inverse(pd)))
    return torch.stack(results).reshape(*batch, *results[0].shape).to(y.device)


def fbp(op, y: torch.Tensor, filter_type: str = "Ram-Lak", frequency_scaling: float = 1.0,
        padding: bool = True) -> torch.Tensor:
    """ODL's filtered back-projection ``fbp_op(A)`` (non-iterative: no ``n_iter``) for a CT operator on a
    circular geometry (parallel, flat fan, 3D parallel, cone).

    ``filter_type``: 'Ram-Lak', 'Shepp-Logan', 'Cosine', 'Hamming', 'Hann'; ``frequency_scaling`` in (0, 1]
    cuts frequencies above that fraction of Nyquist; ``padding`` zero-pads the detector before filtering.

    Shapes: y (*batch, *sinogram) -> (*batch, *image).

    Example::

        rec = fbp(ct.Projector(g), sino, filter_type="Hann")
    """
    A = _odl(op)
    if getattr(A, "geometry", None) is None:
        raise TypeError(f"fbp expects a CT operator with a circular geometry (ODL's fbp_op needs one), got {op!r}")
    F = tomo.fbp_op(A, padding=padding, filter_type=filter_type, frequency_scaling=frequency_scaling)
    return _run(A, y, lambda A, data, x, cb: x.assign(F(data)))


def landweber(op, y: torch.Tensor, n_iter: int, omega: float | None = None, x0=None,
              callback: Callback = None) -> torch.Tensor:
    """ODL's ``landweber``: ``x ← x + ω A*(y − A x)`` with ODL's adjoint ``A* = (w_range/w_domain) A^H``.

    ``omega`` defaults to ``1/‖A‖²`` in ODL's spaces (`odl_norm`), which is the plain step ``1/‖A‖₂²``
    of `bridges.solvers.landweber`: both give the same iterates. Converges for ω < 2/‖A‖².

    Shapes: y (*batch, *range) -> (*batch, *domain).

    Example::

        x = landweber(A, y, n_iter=50, callback=lambda k, x: print(k, float(x.norm())))
    """
    omega = 1.0 / odl_norm(op) ** 2 if omega is None else omega
    return _run(op, y, lambda A, data, x, cb: odl.solvers.landweber(A, x, data, n_iter, omega=omega, callback=cb),
                x0, callback)


def cgls(op, y: torch.Tensor, n_iter: int, x0=None, callback: Callback = None) -> torch.Tensor:
    """ODL's ``conjugate_gradient_normal`` (CGLS on ``A*A x = A*y``); weights cancel, so its iterates
    are those of `bridges.solvers.cgls`.

    Shapes: y (*batch, *range) -> (*batch, *domain).

    Example::

        x = cgls(A, y, n_iter=20)
    """
    return _run(op, y, lambda A, data, x, cb: odl.solvers.conjugate_gradient_normal(A, x, data, n_iter, callback=cb),
                x0, callback)


def tv_pdhg(op, y: torch.Tensor, n_iter: int, lam: float, nonneg: bool = False, tau: float | None = None,
            sigma: float | None = None, x0=None, callback: Callback = None) -> torch.Tensor:
    """TV-regularised least squares by ODL's ``pdhg``, posed in ODL's spaces:

        min_x ½‖Ax − y‖²_{L²} + λ ‖ |∇x| ‖_{L¹} (+ ι_{x≥0}) = w_range/2 Σ(Ax − y)² + λ w_domain Σ_i |(∇x)_i|₂

    with ``∇ = odl.Gradient`` (forward differences per mm, zero outside) and ``GroupL1Norm``. ``tau``,
    ``sigma`` default to ``1/L``, ``L = sqrt(‖A‖² + Σ 4/h²) ≥ ‖[A; ∇]‖`` (`odl_norm`, cell sides h).
    In plain sums this is `bridges.solvers.tv_pdhg` on ``sqrt(w_r/w_d) A``, data ``sqrt(w_r) y``,
    ``λ sqrt(w_d)`` and ``x sqrt(w_d)``: the same iterates (an isometry between the spaces).

    Shapes: y (*batch, *range) -> (*batch, *domain).

    Example::

        x = tv_pdhg(A, sino, n_iter=200, lam=0.05, nonneg=True)
    """
    A = _odl(op)
    grad = odl.Gradient(A.domain)
    if tau is None or sigma is None:
        tau, sigma = tv_step_sizes(odl_norm(A), A.domain.cell_sides)
    K = odl.BroadcastOperator(A, grad)
    f = odl.functionals.IndicatorNonnegativity(A.domain) if nonneg else odl.functionals.ZeroFunctional(A.domain)

    def solve(A, data, x, cb):
        g = odl.functionals.SeparableSum(0.5 * odl.functionals.L2NormSquared(A.range).translated(data),
                                         lam * odl.functionals.GroupL1Norm(grad.range))
        odl.solvers.pdhg(x, f, g, K, n_iter, tau=tau, sigma=sigma, callback=cb)

    return _run(A, y, solve, x0, callback)


def mlem(op, y: torch.Tensor, n_iter: int, x0=None, callback: Callback = None) -> torch.Tensor:
    """ODL's ``mlem`` for Poisson data ``y ~ Poisson(A x)``: ``x ← x / A*1 · A*(y / A x)`` from ``x0`` (ones).
    The adjoint's weight ratio cancels; ``A`` must be non-negative (PET, CT as emission).

    Shapes: y (*batch, *range) -> (*batch, *domain).

    Example::

        x = mlem(system_model, counts, n_iter=30)
    """
    return _run(op, y, lambda A, data, x, cb: (x.assign(A.domain.one()) if x0 is None else None,
                                               odl.solvers.mlem(A, x, data, n_iter, callback=cb)),
                x0, callback)


def osem(ops: Sequence, ys: Sequence[torch.Tensor], n_iter: int, x0=None, callback: Callback = None) -> torch.Tensor:
    """ODL's ``osmlem`` (ordered-subsets MLEM): one update per subset ``(ops[s], ys[s])``, ``n_iter`` passes;
    ``callback`` after every subset. One data set (no batch).

    Shapes: ys[s] (*ops[s].range_shape) -> (*domain).

    Example::

        x = osem([ct.Projector(g[s::4]) for s in range(4)], [y[s::4] for s in range(4)], n_iter=5)
    """
    As = [_odl(op) for op in ops]
    if len(As) != len(ys) or not As:
        raise ValueError(f"expected as many data as operators (at least one), got {len(ys)} and {len(As)}")
    pd = _perms(As[0])[0]
    data = []
    for A, y in zip(As, ys):
        pr = _perms(A)[1]
        data.append(A.range.element(as_array(A.range, _permute(y, pr).contiguous())))
    x = As[0].domain.one() if x0 is None else As[0].domain.element(as_array(As[0].domain, _permute(x0, pd).contiguous()))
    odl.solvers.osmlem(As, x, data, n_iter, callback=None if callback is None else _Progress(callback, pd))
    return _permute(as_tensor(x).clone(), _inverse(pd)).to(ys[0].device)


def cg_sense(op, y: torch.Tensor, n_iter: int, lam: float = 0.0, x0=None, callback: Callback = None) -> torch.Tensor:
    """CG-SENSE: ODL's ``conjugate_gradient`` on ``(A*A + λ I) x = A* y`` (complex spaces for MRI).

    In plain sums this is ``(A^H A + λ w_d/w_r I) x = A^H y``; with unit cells (the default for operators
    without a geometry) ``λ`` is the plain Tikhonov weight.

    Shapes: y (*batch, *range) -> (*batch, *domain).

    Example::

        x = cg_sense(sense_op, kspace, n_iter=15, lam=1e-3)
    """
    def solve(A, data, x, cb):
        normal = A.adjoint * A
        if lam:
            normal = normal + lam * odl.IdentityOperator(A.domain)
        odl.solvers.conjugate_gradient(normal, x, A.adjoint(data), n_iter, callback=cb)

    return _run(op, y, solve, x0, callback)
