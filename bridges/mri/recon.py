"""Reference reconstructions: zero-filled / gridding, CG-SENSE in torch, L1-wavelet through SigPy.

Baselines for learned models: each takes and returns tensors, on any leading batch
(L1-wavelet item by item, as SigPy solves one problem at a time).

Example::

    A = CartesianSense(maps, mask)
    x = cg_sense(A, A(x_true), max_iter=20)
    x_cs = l1_wavelet(A(x_true), maps, lamda=1e-3, mask=mask)
"""
from __future__ import annotations

import torch

from ..operator import LinearOperator
from .cartesian import complex_tensor
from .sigpy_adapter import to_array, to_tensor


def zero_filled(A: LinearOperator, kspace: torch.Tensor, dcf: torch.Tensor | None = None) -> torch.Tensor:
    """Adjoint reconstruction x = A^H(w ⊙ y): zero-filled for Cartesian, gridding for non-Cartesian.

    With a density compensation ``dcf`` w (see `density_compensation`), the non-Cartesian
    adjoint becomes the classic gridding reconstruction.

    Shapes: kspace A.range_shape with batch; dcf broadcastable to the k-space points.
    """
    return A.adjoint(kspace if dcf is None else kspace * dcf)


def density_compensation(coords: torch.Tensor, image_shape, max_iter: int = 30) -> torch.Tensor:
    """Pipe-Menon density compensation (``sigpy.mri.pipe_menon_dcf``) for a trajectory.

    Shapes: coords (..., ndim) -> dcf (...) float32.
    """
    import sigpy.mri
    from .nufft import check_coords
    coords = check_coords(coords, tuple(image_shape))
    w = sigpy.mri.pipe_menon_dcf(to_array(coords), img_shape=list(image_shape), max_iter=max_iter, show_pbar=False)
    return to_tensor(w, torch.float32)


def _dot(a, b):
    """Re<a, b> per batch item, over the image axes (a real step size for the Hermitian system)."""
    return torch.sum((a.conj() * b).real.reshape(a.shape[0], -1), dim=1).reshape(-1, *[1] * (a.dim() - 1))


def cg_sense(A: LinearOperator, kspace: torch.Tensor, lamda: float = 0.0, max_iter: int = 10,
             x0: torch.Tensor | None = None) -> torch.Tensor:
    """CG-SENSE: conjugate gradient on (A^H A + λ I) x = A^H y (Pruessmann et al. MRM 2001).

    The same iteration as ``sigpy.alg.ConjugateGradient`` inside ``sigpy.mri.app.SenseRecon``,
    run in torch so it batches, runs on GPU and is differentiable (unrolled).

    Shapes: kspace (*batch, *A.range_shape) -> image (*batch, *A.domain_shape).
    """
    b = A.adjoint(kspace)  # checks the shape before any reshape
    batch = b.shape[: b.dim() - len(A.domain_shape)]
    b = b.reshape(-1, *A.domain_shape)
    if x0 is not None and tuple(x0.shape) != (*batch, *A.domain_shape):
        raise ValueError(f"expected x0 of shape {(*batch, *A.domain_shape)}, got {tuple(x0.shape)}")

    def normal(v):
        return A.adjoint(A(v)) + lamda * v

    x = torch.zeros_like(b) if x0 is None else x0.reshape(b.shape).to(b.dtype)
    r = b - normal(x) if x0 is not None else b
    p, rr = r, _dot(r, r)
    for _ in range(max_iter):
        ap = normal(p)
        # a zero residual ends that item's iteration (0/0 would give NaN)
        alpha = torch.where(rr > 0, rr / _dot(p, ap).clamp_min(torch.finfo(rr.dtype).tiny), 0)
        x = x + alpha * p
        r = r - alpha * ap
        rr_new = _dot(r, r)
        p = r + torch.where(rr > 0, rr_new / rr.clamp_min(torch.finfo(rr.dtype).tiny), 0) * p
        rr = rr_new
    return x.reshape(*batch, *A.domain_shape)


def l1_wavelet(kspace: torch.Tensor, maps: torch.Tensor, lamda: float, coords: torch.Tensor | None = None,
               mask: torch.Tensor | None = None, wave_name: str = "db4", max_iter: int = 100) -> torch.Tensor:
    """L1-wavelet compressed sensing, min_x ½||A x - y||² + λ||W x||_1 (``sigpy.mri.app.L1WaveletRecon``).

    A is SigPy's Sense on ``coords`` (non-Cartesian) or on the Cartesian grid with
    sampling ``mask`` (without one, SigPy takes the sampled points to be the non-zero ones).

    Shapes: kspace (*batch, coils, ...) , maps (coils, y, x) -> image (*batch, y, x) complex64.
    """
    import sigpy.mri
    maps = complex_tensor(maps, "maps")
    kspace = complex_tensor(kspace, "k-space")
    n_data = maps.dim() if coords is None else 1 + torch.as_tensor(coords).dim() - 1
    if kspace.dim() < n_data or kspace.shape[kspace.dim() - n_data] != maps.shape[0]:
        raise ValueError(f"expected k-space with {maps.shape[0]} coils as in maps, (*batch, {maps.shape[0]}, ...), "
                         f"got {tuple(kspace.shape)}")
    batch = kspace.shape[: kspace.dim() - n_data]
    options = dict(coord=None if coords is None else to_array(torch.as_tensor(coords, dtype=torch.float32)),
                   weights=None if mask is None else to_array(torch.as_tensor(mask, dtype=torch.float32)),
                   wave_name=wave_name, max_iter=max_iter, show_pbar=False)
    images = [to_tensor(sigpy.mri.app.L1WaveletRecon(to_array(y), to_array(maps), lamda, **options).run(),
                        torch.complex64) for y in kspace.reshape(-1, *kspace.shape[len(batch):])]
    return torch.stack(images).reshape(*batch, *maps.shape[1:])
