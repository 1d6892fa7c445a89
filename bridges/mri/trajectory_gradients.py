"""Gradients with respect to the k-space trajectory: the vector-Jacobian product of a NUFFT in its coordinates.

With y_j = s Σ_r x[r] exp(-2πi Σ_d k_jd (r_d - N_d//2) / N_d) (module `nufft`; k in cycles per FOV,
r in pixels),

    ∂y_j / ∂k_jd = F(-i ρ_d x)_j,   ρ_d[r] = 2π (r_d - N_d//2) / N_d,

a NUFFT of x weighted by -i times the centred image position, in radians per cycle per FOV. For a real
loss L, PyTorch's gradient of a real k from the cotangent g = ∂L/∂y* of y = F(k) u is therefore

    ∂L/∂k_jd = Re(conj(g_j) ∂y_j/∂k_jd) = Im(conj(g_j) F(ρ_d u)_j),

and for the adjoint x = F(k)^H y with image cotangent g it is the same form with the roles swapped,
Im(conj(y_j) F(ρ_d g)_j): one batched forward NUFFT of the ndim weighted images either way.

`NUFFT` declares its coordinates as a tensor input of the core (``_tensor_inputs``) and gives this product
as their vector-Jacobian product; the core's autograd (`bridges.autograd`) does the rest, through ``A.H``,
``A.gram()``, ``A @ B`` and `Sense` alike. First derivatives only: differentiating the backward again raises.

Example::

    >>> from bridges.mri import NUFFT
    >>> angles, x = torch.linspace(0, torch.pi, 8).requires_grad_(), torch.randn(8, 8, dtype=torch.complex64)
    >>> spokes = torch.arange(-4.0, 4.0)[None, :, None] * torch.stack([angles.sin(), angles.cos()], -1)[:, None]
    >>> A = NUFFT((8, 8), spokes)                  # rebuilt each step: a FINUFFT plan, cheap
    >>> (A.H(A(x)) - x).abs().pow(2).sum().backward()
    >>> angles.grad.shape
    torch.Size([8])
"""

from __future__ import annotations

import math

import torch


def image_positions(shape, device=None) -> torch.Tensor:
    """ρ_d[r] = 2π (r_d - N_d//2) / N_d for each axis d, the factor of ∂/∂k_d.

    Shapes: (N_1, ..., N_ndim) -> (ndim, N_1, ..., N_ndim) float32.
    """
    axes = [(2 * math.pi / n) * (torch.arange(n, dtype=torch.float64, device=device) - n // 2) for n in shape]
    return torch.stack(torch.meshgrid(*axes, indexing="ij")).to(torch.float32)


def coordinate_vjp(kernel, image_shape, images: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
    """Σ over the batch of Im(conj(v_j) F(ρ_d u)_j): the gradient in k of Re<v, F(k) u> (module docstring),
    with `kernel` a NUFFT backend of `nufft_backends` computing F.

    Shapes: images u (B, *image_shape) complex, points v (B, M) complex -> (M, ndim) float32.
    """
    ndim = len(image_shape)
    u = images.reshape(-1, *image_shape).to(torch.complex64)
    v = points.reshape(u.shape[0], -1).to(torch.complex64)
    weighted = (u.unsqueeze(1) * image_positions(image_shape, u.device)).reshape(-1, *image_shape)
    fu = kernel.forward(weighted.contiguous()).reshape(u.shape[0], ndim, -1)  # one call: every item and axis
    return (v.conj().unsqueeze(1) * fu).imag.sum(0).T
