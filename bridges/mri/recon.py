"""Reference reconstructions: zero-filled / gridding, CG-SENSE in torch, L1-wavelet through SigPy.

Baselines for learned models: each takes and returns tensors, on any leading batch
(L1-wavelet item by item, as SigPy solves one problem at a time).

Example::

    A = CartesianSense(maps, mask)
    x = cg_sense(A, A(x_true), n_iter=20)
    x_cs = l1_wavelet(A, A(x_true), n_iter=100, lam=1e-3)
"""

from __future__ import annotations

import torch

from ..operator import LinearOperator
from ..solvers import cgls
from .sigpy_adapter import sigpy_device, to_array, to_tensor


def zero_filled(A: LinearOperator, kspace: torch.Tensor, dcf: torch.Tensor | None = None) -> torch.Tensor:
    """Adjoint reconstruction x = A^H(w ⊙ y): zero-filled for Cartesian, gridding for non-Cartesian.

    With a density compensation ``dcf`` w (see `density_compensation`), the non-Cartesian
    adjoint becomes the classic gridding reconstruction.

    Shapes: kspace A.range_shape with batch; dcf broadcastable to the k-space points.
    """
    return A.adjoint(kspace if dcf is None else kspace * dcf)


def density_compensation(coords: torch.Tensor, image_shape, n_iter: int = 30) -> torch.Tensor:
    """Pipe-Menon density compensation (``sigpy.mri.pipe_menon_dcf``) for a trajectory.

    Shapes: coords (..., ndim) -> dcf (...) float32.
    """
    import sigpy.mri

    from .nufft import check_coords

    coords = check_coords(coords, tuple(image_shape))
    # SigPy's apps compute on their `device` argument (default its CPU), not their input's: name the tensor's
    w = sigpy.mri.pipe_menon_dcf(
        to_array(coords), img_shape=list(image_shape), device=sigpy_device(coords), max_iter=n_iter, show_pbar=False
    )
    return to_tensor(w, torch.float32)


def cg_sense(A: LinearOperator, kspace: torch.Tensor, n_iter: int, *, lam=0.0, x0=None, callback=None) -> torch.Tensor:
    """CG-SENSE (Pruessmann et al. MRM 2001): `bridges.solvers.cgls` on a SENSE operator, ``(A^H A + λ I) x = A^H y``.

    The iteration of ``sigpy.mri.app.SenseRecon``, in torch: it batches, runs on the GPU and unrolls.

    Shapes: kspace (*batch, *A.range_shape) -> image (*batch, *A.domain_shape).
    """
    return cgls(A, kspace, n_iter, lam=lam, x0=x0, callback=callback)


def l1_wavelet(
    A: LinearOperator, kspace: torch.Tensor, n_iter: int, *, lam: float, wave_name: str = "db4"
) -> torch.Tensor:
    """L1-wavelet compressed sensing ``min_x ½‖A x − y‖² + λ‖W x‖₁`` by SigPy (``sigpy.mri.app.L1WaveletRecon``).

    ``A`` is a `CartesianSense` (its maps and mask; single-coil without maps; per item, each item's) or a
    `Sense` (its maps and trajectory): SigPy rebuilds the same operator, and solves one item at a time
    (``n_iter`` iterations). On CUDA tensors it runs on their GPU, except SigPy's wavelet transform, which is
    PyWavelets on the host: each iteration takes the image there and back.

    Shapes: kspace (*batch, *A.range_shape) -> image (*batch, *A.domain_shape) complex64.
    """
    import sigpy.mri

    from .cartesian import CartesianSense
    from .sense import Sense

    if not isinstance(A, (CartesianSense, Sense)):
        raise TypeError(f"l1_wavelet expects a bridges.mri.CartesianSense or Sense, got {type(A).__name__}")
    n = len(A.range_shape)
    if kspace.dim() < n or tuple(kspace.shape[kspace.dim() - n :]) != A.range_shape:
        raise ValueError(
            f"expected k-space of shape (..., {', '.join(map(str, A.range_shape))}), got {tuple(kspace.shape)}"
        )
    batch = kspace.shape[: kspace.dim() - n]
    # SigPy solves one problem at a time: each item of a per-item operator with its own maps and mask
    parts = [A.item(i) for i in range(A.domain_shape[0])] if A.item_axes else [A]
    problems = [_sigpy_problem(part, kspace.device) for part in parts]
    items = kspace.reshape(-1, len(parts), *parts[0].range_shape)
    if A.maps is None:  # single coil: one coil of unit sensitivity
        items = items.unsqueeze(2)
    images = [
        to_tensor(
            sigpy.mri.app.L1WaveletRecon(
                to_array(y),
                to_array(maps),
                lam,
                wave_name=wave_name,
                device=sigpy_device(y),
                max_iter=n_iter,
                show_pbar=False,
                **options,
            ).run(),
            torch.complex64,
        )
        for row in items
        for y, (maps, options) in zip(row, problems)
    ]
    return torch.stack(images).reshape(*batch, *A.domain_shape)


def _sigpy_problem(A: LinearOperator, device) -> tuple:
    """The coil maps and options SigPy's apps rebuild the operator ``A`` (one item) from."""
    from .sense import Sense

    if isinstance(A, Sense):
        return A.maps, dict(coord=to_array(A.nufft.coords))
    # SigPy takes unsampled points to be the zero ones unless given the mask as weights
    maps = A.maps if A.maps is not None else torch.ones(1, *A.domain_shape, dtype=torch.complex64, device=device)
    return maps, ({} if A.mask is None else dict(weights=to_array(A.mask.expand(A.domain_shape).contiguous())))
