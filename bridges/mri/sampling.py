"""The Cartesian sampling protocol: what a model that works in multi-coil k-space needs of its operator.

A k-space model (`learned.VarNet`'s k-space form, Sriram et al. 2020) needs more than forward and adjoint:
it expands an image to coil k-space, ``E(x) = (F(S_c x))_c``, combines coil k-space back to an image,
``R(k) = Σ_c S_c^* F^{-1} k_c``, and takes the data term on the sampled points alone, ``M (k - y)``. An
operator serves it when it is

    y = M ⊙ F(S_c ⊙ x),   F the centred orthonormal 2D FFT `fft2c` (SigPy's ``sigpy.fft`` centring),

with k-space on the image's grid, and it exposes the two tensors of that formula:

- ``maps``: the coil maps S, (coils, y, x), or per item (items, coils, y, x); complex;
- ``mask``: the sampling mask M, broadcastable against the range, or None for full sampling.

`bridges.mri.CartesianSense` with maps is one such operator; a composition ``mask @ fft @ coils`` that
exposes the two is another. The models import this module, never an operator class.

Example::

    >>> from bridges.mri import CartesianSense, birdcage_maps, mask_equispaced
    >>> A = CartesianSense(birdcage_maps((8, 8), 4), mask_equispaced((8, 8), 2, 0.25))
    >>> op = require_cartesian_sampling(A, "VarNet")
    >>> x = torch.randn(8, 8, dtype=torch.complex64)
    >>> k = expand(op, x)                  # (*items, coils, y, x)
    >>> torch.allclose(combine(op, op.mask * k), op.adjoint(op(x)), atol=1e-6)
    True
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import torch

from .cartesian import fft2c, ifft2c

FORMULA = "y = mask ⊙ fft2c(maps ⊙ x)"


@runtime_checkable
class CartesianSampling(Protocol):
    """A multi-coil Cartesian sampling operator ``y = mask ⊙ fft2c(maps ⊙ x)`` (see the module's docstring)."""

    maps: torch.Tensor
    mask: torch.Tensor | None
    domain_shape: tuple
    range_shape: tuple


def missing(op) -> str | None:
    """Why ``op`` does not serve as a `CartesianSampling` operator, or None if it does."""
    if not isinstance(op, CartesianSampling):
        absent = [name for name in ("maps", "mask", "domain_shape", "range_shape") if not hasattr(op, name)]
        return f"it has no {', '.join(repr(a) for a in absent)}"
    if not isinstance(op.maps, torch.Tensor) or not op.maps.is_complex() or op.maps.dim() < 3:
        got = (
            "None"
            if op.maps is None
            else (
                f"{tuple(op.maps.shape)} {op.maps.dtype}"
                if isinstance(op.maps, torch.Tensor)
                else type(op.maps).__name__
            )
        )
        return f"its maps are not complex coil maps (coils, y, x): {got}"
    if op.mask is not None and not isinstance(op.mask, torch.Tensor):
        return f"its mask is neither a tensor nor None: {type(op.mask).__name__}"
    grid = (op.maps.shape[-3], *op.domain_shape[-2:])
    if tuple(op.range_shape[-3:]) != grid:
        # a non-Cartesian SENSE has maps too, but its k-space is a list of points, not the image's grid
        return f"its range {tuple(op.range_shape)} is not coil k-space on the image's grid (..., {grid})"
    return None


def require_cartesian_sampling(op, who: str):
    """``op`` itself if it serves as a `CartesianSampling` operator; otherwise a ValueError naming the contract."""
    reason = missing(op)
    if reason is not None:
        extra = op.extra_repr() if hasattr(op, "extra_repr") else ""
        raise ValueError(
            f"{who}: expected a multi-coil Cartesian sampling operator "
            f"(bridges.mri.sampling.CartesianSampling: {FORMULA}, with tensors 'maps' and 'mask'), "
            f"got {type(op).__name__} {extra}: {reason}"
        )
    return op


def is_cartesian_sampling(op) -> bool:
    return missing(op) is None


def expand(op: CartesianSampling, x: torch.Tensor) -> torch.Tensor:
    """E(x) = (F(S_c x))_c: images (N, y, x) to coil k-space (N, coils, y, x), before the mask."""
    return fft2c(op.maps * x.unsqueeze(-3))


def combine(op: CartesianSampling, k: torch.Tensor) -> torch.Tensor:
    """R(k) = Σ_c S_c^* F^{-1} k_c: coil k-space (N, coils, y, x) to images (N, y, x)."""
    return (op.maps.conj() * ifft2c(k)).sum(-3)


def sampled(op: CartesianSampling, k: torch.Tensor) -> torch.Tensor:
    """M ⊙ k: coil k-space on the sampled points (all of it without a mask)."""
    return k if op.mask is None else op.mask * k
