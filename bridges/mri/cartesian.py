"""Cartesian MRI: centred orthonormal FFT, sampling mask, optional coil maps (SENSE).

The FFT is torch's (``torch.fft``), centred as SigPy's ``sigpy.fft`` centres it
(ifftshift, FFT with norm='ortho', fftshift), so results equal SigPy's linops; it is
faster than SigPy's NumPy FFT on the same data (experiments/bench_mri.py).

Example::

    >>> from bridges.mri import birdcage_maps, mask_equispaced
    >>> A = CartesianSense(birdcage_maps((8, 8), 4), mask_equispaced((8, 8), 2, 0.25))
    >>> k = A(torch.randn(2, 8, 8, dtype=torch.complex64))    # (*batch, y, x) -> (*batch, coils, y, x)
    >>> k.shape, A.H(k).shape
    (torch.Size([2, 4, 8, 8]), torch.Size([2, 8, 8]))
"""

from __future__ import annotations

import torch

from ..devices import gpu_or_cpu
from ..operator import ComposedOperator, Identity, LinearOperator
from .coil_maps import CoilMaps

_DIMS = (-2, -1)


# On the CPU a large batch is transformed a few images at a time: the two shifts are copies, and once the batch
# leaves the cache they cost more than the FFT. 8 slices x 8 coils at 320² (52 MB): 149 ms at once, 59 ms in
# 2 MB chunks, 74 ms in 8 MB ones (2-core CPU, 2026-11-30). GPUs take the batch at once.
_CPU_CHUNK_BYTES = 2 * 2**20


def _centred(transform, x: torch.Tensor) -> torch.Tensor:
    def centred(t):
        return torch.fft.fftshift(transform(torch.fft.ifftshift(t, dim=_DIMS), norm="ortho"), dim=_DIMS)

    image_bytes = x.shape[-2] * x.shape[-1] * x.element_size()
    if x.device.type != "cpu" or x.dim() < 3 or x.numel() * x.element_size() <= 2 * _CPU_CHUNK_BYTES:
        return centred(x)
    images = x.reshape(-1, *x.shape[-2:])
    return torch.cat([centred(c) for c in images.split(max(1, _CPU_CHUNK_BYTES // image_bytes))]).reshape(x.shape)


def fft2c(x: torch.Tensor) -> torch.Tensor:
    """Centred orthonormal 2D FFT over the last two axes, equal to ``sigpy.fft(x, axes=(-2, -1))``."""
    return _centred(torch.fft.fft2, x)


def ifft2c(k: torch.Tensor) -> torch.Tensor:
    """Centred orthonormal 2D inverse FFT, equal to ``sigpy.ifft(k, axes=(-2, -1))``."""
    return _centred(torch.fft.ifft2, k)


def complex_tensor(value, name: str, ndim: int | None = None) -> torch.Tensor:
    """`value` (tensor or array) as a complex64 tensor; real input is a TypeError, not a silent cast."""
    t = torch.as_tensor(value)
    if not t.is_complex():
        raise TypeError(f"expected {name} as a complex tensor (complex64), got {t.dtype}")
    if ndim is not None and t.dim() != ndim:
        raise ValueError(f"expected {name} with {ndim} dimensions, got shape {tuple(t.shape)}")
    if not torch.isfinite(t).all():  # a NaN would spread through every FFT to the whole image
        raise ValueError(f"{name} must be finite, got NaN or Inf")
    return t.to(torch.complex64).contiguous()


class SampledFFT(LinearOperator):
    """y = M ⊙ F x, F the centred orthonormal 2D FFT over the last two axes, M a real sampling mask (or None)
    broadcast against the images; self-adjoint up to the inverse FFT: x = F^H(M ⊙ y).

    Shapes: mask broadcastable to ``shape``; forward = adjoint: (*batch, *shape) -> (*batch, *shape) complex64.
    """

    batched_kernels = True
    traceable = True  # torch FFTs: traced by torch.compile
    mask: torch.Tensor | None  # a buffer

    def __init__(self, shape, mask: torch.Tensor | None = None, item_axes: int = 0):
        super().__init__(shape, shape, torch.complex64)
        self.item_axes = item_axes
        self.register_buffer("mask", mask)

    def _forward(self, x):
        k = fft2c(x)
        return k if self.mask is None else k * self.mask

    def _adjoint(self, y):
        return ifft2c(y if self.mask is None else y * self.mask)


class CartesianSense(ComposedOperator):
    """Cartesian (multi-coil) MRI: y_c = M ⊙ F(S_c ⊙ x), F the centred orthonormal 2D FFT, as the composition
    ``SampledFFT(mask) @ CoilMaps(maps)`` (the identity for the coil factor without maps).

    Without maps it is single-coil: y = M ⊙ F x. The mask M is any sampling pattern
    (1 sampled, 0 not; weights allowed), broadcast over coils; the adjoint is
    x = Σ_c conj(S_c) ⊙ F^H(M ⊙ y_c).

    Per item: maps ``(B, C, y, x)`` and/or a mask ``(B, y, x)``, ``(B, 1, x)`` or ``(B, y, 1)`` give each of B
    items its own coil maps and sampling (fastMRI slices). The item axis then leads the domain and the range
    (``item_axes = 1``, as `bridges.pet.SystemModel`'s slices) and the B items run as one batched FFT. ``mask``
    is kept broadcastable against the range: a per-item mask of a multi-coil operator as ``(B, 1, y, x)``.

    Shapes:
        maps: (coils, y, x) complex, (B, coils, y, x) per item, or None
        mask: (y, x), (1, x) or (y, 1); per item (B, y, x), (B, 1, x) or (B, y, 1)
        forward: (*batch, y, x) -> (*batch, coils, y, x), or (*batch, y, x) without maps;
        per item (*batch, B, y, x) -> (*batch, B, coils, y, x)

    Example::

        >>> from bridges.mri import birdcage_maps
        >>> maps, mask = birdcage_maps((8, 8), 4).expand(3, 4, 8, 8), torch.ones(3, 1, 8)   # 3 items
        >>> A = CartesianSense(maps, mask)
        >>> A(torch.randn(3, 8, 8, dtype=torch.complex64)).shape, A.item_axes
        (torch.Size([3, 4, 8, 8]), 1)
    """

    outer: SampledFFT
    inner: CoilMaps | Identity

    def __init__(self, maps=None, mask=None, image_shape=None):
        if maps is not None:
            maps = complex_tensor(maps, "maps")
            if maps.dim() not in (3, 4):
                raise ValueError(
                    f"expected maps of shape (coils, y, x), or (items, coils, y, x) per item, got {tuple(maps.shape)}"
                )
            image_shape = tuple(maps.shape[-2:])
        elif image_shape is None:
            if mask is None:
                raise ValueError("expected maps, a mask or image_shape to fix the image size, got none")
            image_shape = tuple(torch.as_tensor(mask).shape[-2:])
        image_shape = tuple(image_shape)
        mask = None if mask is None else _checked_mask(mask, image_shape)
        items = _items(maps, mask)
        leading = () if items is None else (items,)
        coils = () if maps is None else (maps.shape[-3],)
        item_axes = len(leading)
        if mask is not None and mask.dim() == 3 and maps is not None:
            mask = mask.unsqueeze(1)  # (B, 1, y, x): broadcast over each item's coils
        device = gpu_or_cpu(maps, mask)
        coil_factor = (
            Identity((*leading, *image_shape), torch.complex64, item_axes)
            if maps is None
            else CoilMaps(maps.to(device), image_ndim=2, items=items)
        )
        fft = SampledFFT((*leading, *coils, *image_shape), None if mask is None else mask.to(device), item_axes)
        super().__init__(fft, coil_factor)

    @property
    def maps(self) -> torch.Tensor | None:
        """The coil maps, (coils, y, x) or (B, coils, y, x) per item; None for single-coil data."""
        return self.inner.maps if isinstance(self.inner, CoilMaps) else None

    @property
    def mask(self) -> torch.Tensor | None:
        """The sampling mask, kept broadcastable against the range (a per-item one of a multi-coil operator as
        (B, 1, y, x)); None for full sampling."""
        return self.outer.mask

    def item(self, i: int) -> CartesianSense:
        """The operator of item ``i`` of a per-item operator, its own maps and mask (for solvers that take one
        problem at a time, as SigPy's)."""
        if not self.item_axes:
            raise TypeError(f"CartesianSense {self.extra_repr()} is not per item: it has no items to take")
        maps = self.maps if self.maps is None or self.maps.dim() == 3 else self.maps[i]
        mask = self.mask if self.mask is None or self.mask.dim() == 2 else self.mask[i].reshape(self.mask.shape[-2:])
        return CartesianSense(maps, mask, image_shape=self.domain_shape[-2:])


def _checked_mask(mask, image_shape) -> torch.Tensor:
    mask = torch.as_tensor(mask)
    if mask.is_complex():
        raise TypeError(f"expected a real sampling mask, got {mask.dtype}")
    ok = mask.dim() in (2, 3) and all(m in (1, n) for m, n in zip(mask.shape[-2:], image_shape))
    if not ok:
        raise ValueError(
            f"expected mask of shape {image_shape} or broadcastable to it ((1, x) or (y, 1)), "
            f"optionally with a leading item axis, got {tuple(mask.shape)}"
        )
    if not torch.isfinite(mask).all():
        raise ValueError("mask must be finite, got NaN or Inf")
    return mask.to(torch.float32).contiguous()


def _items(maps, mask) -> int | None:
    """The item count B of per-item maps (B, C, y, x) and masks (B, y, x); None if neither is per item."""
    counts = {
        name: t.shape[0]
        for name, t, ndim in (("maps", maps, 4), ("mask", mask, 3))
        if t is not None and t.dim() == ndim
    }
    if len(set(counts.values())) > 1:
        raise ValueError(f"expected per-item maps and mask with the same number of items, got {counts}")
    return next(iter(counts.values()), None)
