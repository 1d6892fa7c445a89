"""Non-Cartesian multi-coil SENSE: y_c = F_nu(S_c ⊙ x), the NUFFT of each coil image.

Example::

    A = Sense(maps, coords=radial(128, 512, (256, 256)))
    y = A(x)                          # (*batch, 256, 256) -> (*batch, coils, 128, 512)
    x_adj = A.H(y)                    # Σ_c conj(S_c) ⊙ F_nu^H y_c
    z = A.gram()(x)                   # Σ_c conj(S_c) ⊙ T(S_c ⊙ x), T the NUFFT's Toeplitz normal operator
"""
from __future__ import annotations

import torch

from ..operator import LinearOperator
from .cartesian import complex_tensor, gpu_or_cpu
from .nufft import NUFFT
from .trajectory_gradients import TrajectoryGradients


class Sense(TrajectoryGradients, LinearOperator):
    """Multi-coil non-Cartesian MRI: y_c = F_nu(S_c ⊙ x), adjoint x = Σ_c conj(S_c) ⊙ F_nu^H y_c.

    All coils and batch items go to the NUFFT backend in one call (FINUFFT's n_trans);
    backend, eps, n_threads, oversamp, width and toeplitz are those of `NUFFT`, as are
    ``gram()`` (the Toeplitz embedding over all coils at once) and the gradients with
    respect to coordinates that require grad. For Cartesian data use `CartesianSense`.

    Shapes:
        maps: (coils, y, x) complex; coords: (..., 2) in SigPy's convention
        forward: (*batch, y, x) -> (*batch, coils, *coords.shape[:-1])
    """

    batched_kernels = True

    def __init__(self, maps, coords, **nufft_options):
        maps = complex_tensor(maps, "maps")
        if maps.dim() < 3:
            raise ValueError(f"expected maps of shape (coils, y, x) or (coils, z, y, x), got {tuple(maps.shape)}")
        coords = torch.as_tensor(coords)
        device = gpu_or_cpu(maps, coords)
        maps, nufft = maps.to(device), NUFFT(maps.shape[1:], coords, **nufft_options).to(device)
        super().__init__(nufft.domain_shape, (maps.shape[0], *nufft.range_shape), torch.complex64)
        self.nufft = nufft
        self.register_buffer("maps", maps)

    def _forward(self, x):
        coil_images = (x.unsqueeze(1) * self.maps).reshape(-1, *self.domain_shape)
        return self.nufft.kernel(x.device).forward(coil_images).reshape(x.shape[0], *self.range_shape)

    def _adjoint(self, y):
        coil_images = self.nufft.kernel(y.device).adjoint(y.reshape(y.shape[0] * self.maps.shape[0], -1))
        return (coil_images.reshape(y.shape[0], *self.maps.shape) * self.maps.conj()).sum(1)

    # --- what `TrajectoryGradients` asks for
    @property
    def coords(self) -> torch.Tensor:
        return self.nufft.coords

    @property
    def _nufft_operator(self):
        return self.nufft

    @property
    def _normal_maps(self):
        return self.maps

    def _coordinate_vjp(self, images, points):
        # y_c = F(S_c x): the NUFFT's form on the coil images, the forward's S_c x and the adjoint's S_c g alike
        n = len(self.domain_shape)
        return self.nufft._coordinate_vjp(images.unsqueeze(-n - 1) * self.maps, points)
