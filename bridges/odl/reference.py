"""ODL's own solvers on this project's operators: the independent implementation `bridges.solvers` is checked against.

Each function has the signature and meaning of its namesake in `bridges.solvers` (`fbp` those of
`bridges.ct.fbp`) and returns tensors in the operator's layout. The iterative ones pose the same
problem in the same plain sums: the operator enters ODL on spaces of unit weighting (``<x, y> = Σ x̄ y``;
the image space keeps ``spacing`` as its cell sides, which ODL's ``Gradient`` divides by), so ``lam``,
``step`` and the step sizes mean the same on both sides and the iterates agree to rounding. ODL solves
one batch item at a time. `fbp` is ODL's ``fbp_op`` on ODL's own spaces for the geometry.

Example::

    >>> from bridges import ct, solvers
    >>> A = ct.Projector(ct.ParallelBeam2D(angles=6, n_detectors=12, detector_spacing=1.0, image_shape=(8, 8)))
    >>> y = A(torch.ones(8, 8))
    >>> x_odl, x_torch = tv_pdhg(A, y, 20, lam=0.01, nonneg=True), solvers.tv_pdhg(A, y, 20, lam=0.01, nonneg=True)
    >>> bool((x_odl - x_torch).abs().max() < 1e-4 * x_torch.abs().max())   # equal to float32 rounding
    True
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import odl
import torch
from odl.applications import tomo

from ..operator import LinearOperator
from ..solvers import check_counts, tv_blocks
from .operators import BridgeOperator, to_odl

__all__ = ["fbp", "landweber", "cgls", "tv_pdhg", "mlem", "osem"]

Callback = Callable[[int, torch.Tensor], None] | None

_ODL_FILTERS = {
    "ram-lak": "Ram-Lak",
    "shepp-logan": "Shepp-Logan",
    "cosine": "Cosine",
    "hamming": "Hamming",
    "hann": "Hann",
}


def _space(shape, dtype, cell=None) -> odl.DiscretizedSpace:
    """A space of unit weighting (plain sums) with cells of side ``cell`` (default 1), in our layout."""
    cell = np.ones(len(shape)) if cell is None else np.asarray(cell, dtype=float)
    half = cell * np.asarray(shape) / 2
    tspace = odl.tensor_space(shape, dtype=str(dtype).replace("torch.", ""))
    return odl.DiscretizedSpace(odl.uniform_partition(-half, half, shape), tspace)


def _plain(A: LinearOperator, spacing=None) -> BridgeOperator:
    if not isinstance(A, LinearOperator):
        raise TypeError(f"expected a bridges.LinearOperator, got {type(A).__name__}")
    identity = tuple(range(len(A.domain_shape))), tuple(range(len(A.range_shape)))
    return BridgeOperator(
        A, _space(A.domain_shape, A.domain_dtype, spacing), _space(A.range_shape, A.range_dtype), identity
    )


class _Progress:
    """ODL calls ``callback(x)`` after every update; ours get ``(k, tensor)`` after every ``every`` of them."""

    def __init__(self, callback, B: BridgeOperator, every: int = 1):
        self.callback, self.B, self.every, self.calls = callback, B, every, 0

    def __call__(self, x):
        self.calls += 1
        if self.calls % self.every == 0:
            self.callback(self.calls // self.every, self.B.tensor(x, self.B.domain).clone())


def _run(
    B: BridgeOperator, y: torch.Tensor, solve, x0=None, fill: float = 0.0, callback: Callback = None, every: int = 1
) -> torch.Tensor:
    """``solve(item, x, cb)`` for each batch item of ``y`` (a tensor), ``x`` an ODL element it updates in place."""
    range_shape, domain_shape = B.op.range_shape, B.op.domain_shape
    n = len(range_shape)
    if not isinstance(y, torch.Tensor) or tuple(y.shape[y.dim() - n :]) != range_shape:
        raise ValueError(
            f"expected data of shape (..., {', '.join(map(str, range_shape))}), "
            f"got {tuple(y.shape) if isinstance(y, torch.Tensor) else type(y).__name__}"
        )
    batch = y.shape[: y.dim() - n]
    if x0 is not None and tuple(x0.shape) != (*batch, *domain_shape):
        raise ValueError(f"expected x0 of shape {(*batch, *domain_shape)}, got {tuple(x0.shape)}")
    starts = None if x0 is None else x0.reshape(-1, *domain_shape)
    results = []
    for i, item in enumerate(y.reshape(-1, *range_shape)):
        x = B.domain.element(fill) if starts is None else B.element(starts[i], B.domain)
        solve(item, x, None if callback is None else _Progress(callback, B, every))
        results.append(B.tensor(x, B.domain).clone())
    return torch.stack(results).reshape(*batch, *domain_shape).to(y.device)


def fbp(
    A: LinearOperator, y: torch.Tensor, *, filter_type: str = "ram-lak", frequency_scaling: float = 1.0
) -> torch.Tensor:
    """ODL's filtered back-projection ``fbp_op`` (detector zero-padded) for a CT `Projector` on a circular
    geometry with a flat detector (parallel, fan, 3D parallel, cone): `bridges.ct.fbp`'s parameters.

    Shapes: y (*batch, *A.range_shape) -> (*batch, *A.domain_shape).
    """
    if filter_type not in _ODL_FILTERS:
        raise ValueError(f"filter_type must be one of {tuple(_ODL_FILTERS)}, got {filter_type!r}")
    B = to_odl(A)
    if B.geometry is None:
        raise TypeError(f"fbp expects a CT Projector on a circular geometry (ODL's fbp_op needs one), got {A!r}")
    if getattr(B.geometry, "det_curvature_radius", None) is not None:  # documented by ODL, not enforced
        raise TypeError("ODL's fbp_op supports flat detectors only; got an arc (curved) detector")
    F = tomo.fbp_op(B, padding=True, filter_type=_ODL_FILTERS[filter_type], frequency_scaling=frequency_scaling)
    return _run(B, y, lambda item, x, cb: x.assign(F(B.element(item, B.range))))


def landweber(
    A: LinearOperator, y: torch.Tensor, n_iter: int, *, step: float | None = None, x0=None, callback: Callback = None
) -> torch.Tensor:
    """ODL's ``landweber``: ``x ← x + ω A^H(y − A x)``, ``ω = step`` (default ``1/‖A‖²``)."""
    B = _plain(A)
    step = 1.0 / A.norm() ** 2 if step is None else step
    return _run(
        B,
        y,
        lambda item, x, cb: odl.solvers.landweber(B, x, B.element(item, B.range), n_iter, omega=step, callback=cb),
        x0,
        callback=callback,
    )


def cgls(
    A: LinearOperator, y: torch.Tensor, n_iter: int, *, lam: float = 0.0, x0=None, callback: Callback = None
) -> torch.Tensor:
    """ODL's ``conjugate_gradient_normal`` (CGLS), or for ``lam > 0`` its ``conjugate_gradient`` on
    ``(A^H A + λ I) x = A^H y``."""
    B = _plain(A)

    def solve(item, x, cb):
        data = B.element(item, B.range)
        if lam == 0:
            odl.solvers.conjugate_gradient_normal(B, x, data, n_iter, callback=cb)
        else:
            normal = B.adjoint * B + float(lam) * odl.IdentityOperator(B.domain)
            odl.solvers.conjugate_gradient(normal, x, B.adjoint(data), n_iter, callback=cb)

    return _run(B, y, solve, x0, callback=callback)


def tv_pdhg(
    A: LinearOperator,
    y: torch.Tensor,
    n_iter: int,
    *,
    lam: float,
    spacing: Sequence[float] | None = None,
    nonneg: bool = False,
    step_ratio: float = 1.0,
    x0=None,
    callback: Callback = None,
) -> torch.Tensor:
    """ODL's ``pdhg`` on ``½‖Ax − y‖² + λ ‖ |∇x| ‖₁ (+ ι_{x≥0})`` with ``odl.Gradient`` (cells of side ``spacing``)
    and ``GroupL1Norm``, posed on ``K = [A; c ∇]`` with the steps of `bridges.solvers.tv_blocks`."""
    spacing = tuple(spacing or (1.0,) * len(A.domain_shape))
    B = _plain(A, spacing)
    grad = odl.Gradient(B.domain)
    tau, sigma, c = tv_blocks(A.norm(), spacing, step_ratio)
    K = odl.BroadcastOperator(B, c * grad)
    f = odl.functionals.IndicatorNonnegativity(B.domain) if nonneg else odl.functionals.ZeroFunctional(B.domain)

    def solve(item, x, cb):
        data = B.element(item, B.range)
        g = odl.functionals.SeparableSum(
            0.5 * odl.functionals.L2NormSquared(B.range).translated(data),
            (lam / c) * odl.functionals.GroupL1Norm(grad.range),
        )
        odl.solvers.pdhg(x, f, g, K, n_iter, tau=tau, sigma=sigma, callback=cb)

    return _run(B, y, solve, x0, callback=callback)


class _Affine(odl.Operator):
    """``x ↦ B x + s`` whose adjoint is B's: what ODL's (OS)MLEM needs to model data with a background."""

    def __init__(self, B: BridgeOperator, background):
        super().__init__(B.domain, B.range, linear=False)
        self.B, self.background = B, background

    def _call(self, x):
        return self.B(x) + self.background

    @property
    def adjoint(self):
        return self.B.adjoint


def mlem(
    A: LinearOperator, y: torch.Tensor, n_iter: int, *, background=None, x0=None, callback: Callback = None
) -> torch.Tensor:
    """ODL's ``mlem``; ``background`` (default ``A.background``) enters as ``A x + s``."""
    return osem(A, y, n_iter, n_subsets=1, background=background, x0=x0, callback=callback)


def osem(
    A: LinearOperator,
    y: torch.Tensor,
    n_iter: int,
    *,
    n_subsets: int,
    background=None,
    x0=None,
    callback: Callback = None,
) -> torch.Tensor:
    """ODL's ``osmlem`` on the view subsets ``A.subsets(n_subsets)`` (subset k: views k, k + n_subsets, ...)."""
    check_counts(y, A.range_shape)
    parts = A.subsets(n_subsets)
    views = [slice(k, None, n_subsets) for k in range(n_subsets)] if n_subsets > 1 else [slice(None)]
    Bs = [_plain(part) for part in parts]
    shifts = []
    for part, B, v in zip(parts, Bs, views):
        s = part.background  # a subset's own is already cut to its views
        if background is not None:
            s = background[..., v, :] if isinstance(background, torch.Tensor) and background.dim() >= 2 else background
        if isinstance(s, torch.Tensor):
            s = B.element(s.expand(part.range_shape).to(torch.float32), B.range)
        shifts.append(0.0 if s is None else s)
    ops = [_Affine(B, s) for B, s in zip(Bs, shifts)]
    whole = _plain(A)

    def solve(item, x, cb):
        pieces = [B.element(item[..., v, :] if n_subsets > 1 else item, B.range) for B, v in zip(Bs, views)]
        odl.solvers.osmlem(ops, x, pieces, n_iter, callback=cb)

    return _run(whole, y, solve, x0, fill=1.0, callback=callback, every=n_subsets)
