"""Non-Cartesian multi-coil SENSE: y_c = F_nu(S_c ⊙ x), the NUFFT of each coil image, as the composition
A = F_nu S of `CoilMaps` and the NUFFT on the stack of coil images (as SigPy's ``Sense = NUFFT * Multiply``).

Example::

    >>> from bridges.mri import birdcage_maps, radial
    >>> A, x = Sense(birdcage_maps((8, 8), 4), coords=radial(6, 16, (8, 8))), torch.randn(8, 8, dtype=torch.complex64)
    >>> y = A(x)                      # (*batch, 8, 8) -> (*batch, coils, 6, 16)
    >>> y.shape, A.H(y).shape         # A.H: Σ_c conj(S_c) ⊙ F_nu^H y_c
    (torch.Size([4, 6, 16]), torch.Size([8, 8]))
    >>> z = A.gram()(x)               # Σ_c conj(S_c) ⊙ T(S_c ⊙ x), T the NUFFT's Toeplitz normal operator
"""

from __future__ import annotations

import torch

from ..devices import gpu_or_cpu
from ..operator import ComposedOperator, Stacked
from .cartesian import complex_tensor
from .coil_maps import CoilMaps
from .nufft import NUFFT
from .toeplitz import DirectNormal, ToeplitzNormal, checked_weights


class Sense(ComposedOperator):
    """Multi-coil non-Cartesian MRI: y_c = F_nu(S_c ⊙ x), adjoint x = Σ_c conj(S_c) ⊙ F_nu^H y_c.

    ``Stacked(NUFFT, coils) @ CoilMaps(maps)``: all coils and batch items go to the NUFFT backend in one call
    (FINUFFT's n_trans); backend, eps, n_threads, oversamp, width and toeplitz are those of `NUFFT`, as are
    ``gram()`` (the Toeplitz embedding over all coils at once) and the gradients with respect to coordinates
    that require grad. For Cartesian data use `CartesianSense`.

    Shapes:
        maps: (coils, y, x) complex; coords: (..., 2) in SigPy's convention
        forward: (*batch, y, x) -> (*batch, coils, *coords.shape[:-1])
    """

    outer: Stacked  # of the NUFFT
    inner: CoilMaps

    def __init__(self, maps, coords, **nufft_options):
        maps = complex_tensor(maps, "maps")
        if maps.dim() < 3:
            raise ValueError(f"expected maps of shape (coils, y, x) or (coils, z, y, x), got {tuple(maps.shape)}")
        coords = torch.as_tensor(coords)
        device = gpu_or_cpu(maps, coords)
        nufft = NUFFT(maps.shape[1:], coords, **nufft_options).to(device)
        super().__init__(Stacked(nufft, maps.shape[0]), CoilMaps(maps.to(device)))

    @property
    def nufft(self) -> NUFFT:
        """The NUFFT of one coil image (its trajectory, kernels and Toeplitz spectrum)."""
        nufft = self.outer.op
        assert isinstance(nufft, NUFFT)
        return nufft

    @property
    def maps(self) -> torch.Tensor:
        return self.inner.maps

    @property
    def coords(self) -> torch.Tensor:
        return self.nufft.coords

    def _normal(self, weights):
        # Σ_c conj(S_c) T(S_c x) with the NUFFT's kernel, fused over coils: one operator, one batched FFT
        nufft = self.nufft
        weights = None if weights is None else checked_weights(weights, nufft.range_shape)
        if self.coords.requires_grad or not nufft.toeplitz:
            return DirectNormal(self, weights)
        return ToeplitzNormal(nufft.toeplitz_spectrum(weights), self.maps)
