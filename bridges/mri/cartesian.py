"""Cartesian MRI: centred orthonormal FFT, sampling mask, optional coil maps (SENSE).

The FFT is torch's (``torch.fft``), centred as SigPy's ``sigpy.fft`` centres it
(ifftshift, FFT with norm='ortho', fftshift), so results equal SigPy's linops; it is
faster than SigPy's NumPy FFT on the same data (experiments/bench_mri.py).

Example::

    A = CartesianSense(maps, mask_equispaced((320, 320), 4, 0.08))
    k = A(x)                          # x: (*batch, 320, 320) complex64 -> (*batch, coils, 320, 320)
    x_zf = A.H(k)
"""
from __future__ import annotations

import torch

from ..operator import LinearOperator

_DIMS = (-2, -1)


def fft2c(x: torch.Tensor) -> torch.Tensor:
    """Centred orthonormal 2D FFT over the last two axes, equal to ``sigpy.fft(x, axes=(-2, -1))``."""
    return torch.fft.fftshift(torch.fft.fft2(torch.fft.ifftshift(x, dim=_DIMS), norm="ortho"), dim=_DIMS)


def ifft2c(k: torch.Tensor) -> torch.Tensor:
    """Centred orthonormal 2D inverse FFT, equal to ``sigpy.ifft(k, axes=(-2, -1))``."""
    return torch.fft.fftshift(torch.fft.ifft2(torch.fft.ifftshift(k, dim=_DIMS), norm="ortho"), dim=_DIMS)


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


def gpu_or_cpu(*tensors) -> torch.device:
    """Where an operator built from ``tensors`` (None ignored) keeps them: the GPU of the first one on a GPU,
    else the CPU; so that constants given partly as host arrays do not leave it split across devices."""
    return next((t.device for t in tensors if t is not None and t.device.type != "cpu"), torch.device("cpu"))


class CartesianSense(LinearOperator):
    """Cartesian (multi-coil) MRI: y_c = M ⊙ F(S_c ⊙ x), F the centred orthonormal 2D FFT.

    Without maps it is single-coil: y = M ⊙ F x. The mask M is any sampling pattern
    (1 sampled, 0 not; weights allowed), broadcast over coils; the adjoint is
    x = Σ_c conj(S_c) ⊙ F^H(M ⊙ y_c).

    Shapes:
        maps: (coils, y, x) complex, or None; mask: (y, x), (1, x) or (y, 1)
        forward: (*batch, y, x) -> (*batch, coils, y, x), or (*batch, y, x) without maps
    """

    batched_kernels = True

    def __init__(self, maps=None, mask=None, image_shape=None):
        if maps is not None:
            maps = complex_tensor(maps, "maps", ndim=3)
            image_shape = tuple(maps.shape[1:])
        elif image_shape is None:
            if mask is None:
                raise ValueError("expected maps, a mask or image_shape to fix the image size, got none")
            image_shape = tuple(torch.as_tensor(mask).shape)
        image_shape = tuple(image_shape)
        range_shape = image_shape if maps is None else (maps.shape[0], *image_shape)
        super().__init__(image_shape, range_shape, torch.complex64)
        mask = None if mask is None else _checked_mask(mask, image_shape)
        device = gpu_or_cpu(maps, mask)
        self.register_buffer("maps", None if maps is None else maps.to(device))
        self.register_buffer("mask", None if mask is None else mask.to(device))

    def _forward(self, x):
        if self.maps is not None:
            x = x.unsqueeze(1) * self.maps
        k = fft2c(x)
        return k if self.mask is None else k * self.mask

    def _adjoint(self, y):
        if self.mask is not None:
            y = y * self.mask
        x = ifft2c(y)
        return x if self.maps is None else (x * self.maps.conj()).sum(1)


def _checked_mask(mask, image_shape) -> torch.Tensor:
    mask = torch.as_tensor(mask)
    if mask.is_complex():
        raise TypeError(f"expected a real sampling mask, got {mask.dtype}")
    ok = mask.dim() == 2 and all(m in (1, n) for m, n in zip(mask.shape, image_shape))
    if not ok:
        raise ValueError(f"expected mask of shape {image_shape} or broadcastable to it ((1, x) or (y, 1)), "
                         f"got {tuple(mask.shape)}")
    if not torch.isfinite(mask).all():
        raise ValueError("mask must be finite, got NaN or Inf")
    return mask.to(torch.float32).contiguous()
