"""Gradients with respect to the k-space trajectory, and the normal operators of `NUFFT` and `Sense`.

With y_j = s Σ_r x[r] exp(-2πi Σ_d k_jd (r_d - N_d//2) / N_d) (module `nufft`; k in cycles per FOV,
r in pixels),

    ∂y_j / ∂k_jd = F(-i ρ_d x)_j,   ρ_d[r] = 2π (r_d - N_d//2) / N_d,

a NUFFT of x weighted by -i times the centred image position, in radians per cycle per FOV. For a real
loss L, PyTorch's gradient of a real k from the cotangent g = ∂L/∂y* of y = F(k) u is therefore

    ∂L/∂k_jd = Re(conj(g_j) ∂y_j/∂k_jd) = Im(conj(g_j) F(ρ_d u)_j),

and for the adjoint x = F(k)^H y with image cotangent g it is the same form with the roles swapped,
Im(conj(y_j) F(ρ_d g)_j): one batched forward NUFFT of the ndim weighted images either way.

Operators built from coordinates that require grad route their public calls, while grad mode is on,
through `_CoordinateApply`, which computes the value and the x gradient by the core's own path
(`LinearOperator.forward`/`adjoint`) and adds the coordinate gradient. ``A.H`` and ``A.gram()`` of such an
operator call it directly, so that the coordinates stay in the graph; composites made with ``@``, ``*`` and
``+`` hold them constant. First derivatives only: differentiating the backward again raises.

Example::

    angles = torch.linspace(0, torch.pi, 16).requires_grad_()
    spokes = torch.arange(-32.0, 32.0)[None, :, None] * torch.stack([angles.sin(), angles.cos()], -1)[:, None]
    A = NUFFT((64, 64), spokes)                    # rebuilt each step: a FINUFFT plan, cheap
    loss = (A.H(A(x)) - x).abs().pow(2).sum()
    loss.backward()                                # angles.grad
"""
from __future__ import annotations

import math

import torch
from torch.autograd.function import once_differentiable

from ..operator import AdjointOperator, LinearOperator
from .toeplitz import ToeplitzNormal, checked_weights, toeplitz_spectrum


def image_positions(shape, device=None) -> torch.Tensor:
    """ρ_d[r] = 2π (r_d - N_d//2) / N_d for each axis d, the factor of ∂/∂k_d.

    Shapes: (N_1, ..., N_ndim) -> (ndim, N_1, ..., N_ndim) float32.
    """
    axes = [(2 * math.pi / n) * (torch.arange(n, dtype=torch.float64, device=device) - n // 2) for n in shape]
    return torch.stack(torch.meshgrid(*axes, indexing="ij")).to(torch.float32)


def coordinate_vjp(nufft, images: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
    """Σ over the batch of Im(conj(v_j) F(ρ_d u)_j): the gradient in k of Re<v, F(k) u> (module docstring).

    Shapes: images u (B, *N) complex, points v (B, *nufft.range_shape) complex -> (*nufft.range_shape, ndim) float32.
    """
    shape, ndim = nufft.domain_shape, len(nufft.domain_shape)
    u = images.reshape(-1, *shape).to(torch.complex64)
    v = points.reshape(u.shape[0], -1).to(torch.complex64)
    weighted = (u.unsqueeze(1) * image_positions(shape, u.device)).reshape(-1, *shape)
    fu = nufft._kernel(weighted, False).reshape(u.shape[0], ndim, -1)  # one call: every item and axis
    grad = (v.conj().unsqueeze(1) * fu).imag.sum(0)
    return grad.T.reshape(*nufft.range_shape, ndim)


class _CoordinateApply(torch.autograd.Function):
    """A x (``adjoint`` False) or A^H x as a function of x and the coordinates (module docstring)."""

    @staticmethod
    def forward(op, x, coords, adjoint):
        return (LinearOperator.adjoint if adjoint else LinearOperator.forward)(op, x)

    @staticmethod
    def setup_context(ctx, inputs, output):
        op, x, _, ctx.adjoint = inputs
        ctx.op = op
        ctx.save_for_backward(x)

    @staticmethod
    @once_differentiable  # the coordinate gradient is not itself differentiable: a second derivative raises
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        op, adjoint = ctx.op, ctx.adjoint
        grad_x = grad_coords = None
        if ctx.needs_input_grad[1]:
            grad_x = (LinearOperator.forward if adjoint else LinearOperator.adjoint)(op, grad)
        if ctx.needs_input_grad[2]:
            images, points = (grad, x) if adjoint else (x, grad)
            grad_coords = op._coordinate_vjp(images, points)
        return None, grad_x, grad_coords, None


class TrajectoryGradients:
    """What `NUFFT` and `Sense` share: coordinate gradients and the normal operator ``gram``.

    A class using it (before `LinearOperator` in its bases) gives ``coords``, ``_nufft_operator`` (the NUFFT
    holding the trajectory, its kernels and the cached spectrum), ``_normal_maps`` (coil maps or None) and
    ``_coordinate_vjp(images, points)``.
    """

    def _tracks_coordinates(self) -> bool:
        if not (self.coords.requires_grad and torch.is_grad_enabled()):
            return False
        if torch.compiler.is_compiling():  # the custom op would hold the coordinates constant, silently
            raise RuntimeError(f"{type(self).__name__}: gradients with respect to the coordinates run eagerly; "
                               "got coordinates that require grad under torch.compile")
        return True

    def forward(self, x):
        if self._tracks_coordinates():
            return _CoordinateApply.apply(self, x, self.coords, False)
        return super().forward(x)

    def adjoint(self, y):
        if self._tracks_coordinates():
            return _CoordinateApply.apply(self, y, self.coords, True)
        return super().adjoint(y)

    @property
    def H(self) -> LinearOperator:
        return DirectAdjoint(self) if self.coords.requires_grad else super().H

    def gram(self, weights=None) -> LinearOperator:
        """The normal operator A^H W A (W = diag(weights), real, per k-space point; the identity by default).

        The Toeplitz embedding (`ToeplitzNormal`), with the unweighted kernel made on the first call and kept
        on the operator (``.to()`` moves it); a weighted one is made at each call, so keep what it returns.
        ``A.H @ A``, computed as such (`DirectNormal`), where the operator was built with ``toeplitz=False``
        or from coordinates that require grad (a kernel made from them would hold them constant).
        """
        nufft = self._nufft_operator
        weights = None if weights is None else checked_weights(weights, nufft.range_shape)
        if self.coords.requires_grad or not nufft.toeplitz:
            return DirectNormal(self, weights)
        return ToeplitzNormal(cached_spectrum(nufft, weights), self._normal_maps)


class DirectNormal(LinearOperator):
    """A^H W A as the adjoint of the (weighted) forward, by the operator's own public calls.

    Shapes: weights broadcastable to the k-space points; forward = adjoint: A.domain_shape -> A.domain_shape.
    """

    traceable = True

    def __init__(self, op: LinearOperator, weights=None):
        super().__init__(op.domain_shape, op.domain_shape, op.domain_dtype)
        self.op = op
        self.register_buffer("weights", weights)

    def forward(self, x):
        ax = self.op(x)
        return self.op.adjoint(ax if self.weights is None else ax * self.weights)

    adjoint = forward

    @property
    def H(self):
        return self


class DirectAdjoint(AdjointOperator):
    """A^H as an operator whose calls are A's own public ones (so that coordinates stay in the graph)."""

    def forward(self, y):
        return self.op.adjoint(y)

    def adjoint(self, x):
        return self.op(x)


def cached_spectrum(nufft, weights=None) -> torch.Tensor:
    """`toeplitz_spectrum` of `nufft`, kept in its ``spectrum`` buffer when unweighted, for its coordinates'
    current values (an in-place change of them makes a new one)."""
    if weights is not None:
        return toeplitz_spectrum(nufft, weights)
    version = nufft.coords._version
    if nufft.spectrum is None or nufft._spectrum_version != version:
        if torch.compiler.is_compiling():
            raise RuntimeError("the Toeplitz kernel is made on the first gram() call, outside compiled code: call "
                               "A.gram() once before compiling (the learned models do it at construction)")
        nufft.spectrum, nufft._spectrum_version = toeplitz_spectrum(nufft), version
    return nufft.spectrum
