"""Coil sensitivity maps as an operator: x -> (S_c ⊙ x)_c, the first factor of SENSE (A = F S).

Example::

    >>> from bridges.mri import birdcage_maps
    >>> S = CoilMaps(birdcage_maps((8, 8), 4))          # maps (4, 8, 8) complex64, Σ_c |S_c|² = 1
    >>> x = torch.randn(8, 8, dtype=torch.complex64)
    >>> coil_images = S(x)                              # (*batch, 8, 8) -> (*batch, 4, 8, 8)
    >>> torch.allclose(S.H(coil_images), x, atol=1e-6)  # Σ_c conj(S_c) ⊙ coil_images_c
    True
"""

from __future__ import annotations

import torch

from ..operator import LinearOperator


class CoilMaps(LinearOperator):
    """S x = (S_c ⊙ x)_c, adjoint S^H y = Σ_c conj(S_c) ⊙ y_c.

    Args:
        maps: (coils, *N), or (B, coils, *N) per item; complex64, checked by the caller.
        image_ndim: the number of image axes N (default: all axes of the maps but the coils').
        items: B for a per-item operator (``item_axes = 1``, `CartesianSense`'s fastMRI slices): maps
            (B, coils, *N) give item b's image item b's maps, shared maps (coils, *N) every item's.

    Shapes:
        forward: (*batch, [B,] *N) -> (*batch, [B,] coils, *N)
    """

    batched_kernels = True
    traceable = True  # plain torch products: traced by torch.compile
    maps: torch.Tensor  # a buffer

    def __init__(self, maps: torch.Tensor, image_ndim: int | None = None, items: int | None = None):
        image_ndim = maps.dim() - 1 if image_ndim is None else image_ndim
        leading, image = (() if items is None else (items,)), maps.shape[-image_ndim:]
        coils = maps.shape[-image_ndim - 1]
        super().__init__((*leading, *image), (*leading, coils, *image), torch.complex64)
        self.item_axes, self._coil_axis = len(leading), -image_ndim - 1
        self.register_buffer("maps", maps)

    def _forward(self, x):
        return x.unsqueeze(self._coil_axis) * self.maps

    def _adjoint(self, y):
        return (y * self.maps.conj()).sum(self._coil_axis)

    def extra_repr(self) -> str:
        return f"{self.maps.shape[self._coil_axis]} coils, " + super().extra_repr()
