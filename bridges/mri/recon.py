"""Reference reconstructions: zero-filled / gridding, CG-SENSE in torch, L1-wavelet through SigPy.

Baselines for learned models: each takes and returns tensors, on any leading batch
(L1-wavelet item by item, as SigPy solves one problem at a time).

Example::

    >>> from bridges.mri import CartesianSense, birdcage_maps, mask_equispaced
    >>> A = CartesianSense(birdcage_maps((8, 8), 4), mask_equispaced((8, 8), 2, 0.25))
    >>> y = A(torch.ones(8, 8, dtype=torch.complex64))
    >>> x = cg_sense(A, y, n_iter=10)
    >>> x_cs = l1_wavelet(A, y, n_iter=10, lam=1e-3)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from ..operator import LinearOperator
from ..solvers import cgls
from .sigpy_adapter import sigpy_device, to_array, to_tensor

if TYPE_CHECKING:
    from .cartesian import CartesianSense
    from .sense import Sense


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

    The first call on a `Sense` operator costs more than the later ones: ``A.gram()`` builds its Toeplitz kernel
    (once per operator, kept in it), and the first NUFFTs plan FINUFFT's FFTs (FFTW_MEASURE above 65536 points
    x coils: once per grid and batch size in a process, the plans kept by the operator). Measured on a 2-core CPU,
    8 coils, radial (N/2 spokes of 2N points), 10 iterations, the data made by ``A`` beforehand (its first forward
    planned for 0.7 s at 256²): at 256 x 256 the first call 2.1 s, 1.8 s of it the kernel, against 0.19 s warm; at
    128 x 128, 0.11 s against 0.06 s. A `CartesianSense` has neither (0.03 s first and warm at 128 x 128). To warm
    an operator before timing it or before a latency-bound loop, call ``A.gram()`` and apply ``A`` and ``A.H``
    once to data of the batch shape to come (or run ``cg_sense(A, y, n_iter=1)``).

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
    parts = [A.item(i) for i in range(A.domain_shape[0])] if isinstance(A, CartesianSense) and A.item_axes else [A]
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


def _sigpy_problem(A: CartesianSense | Sense, device) -> tuple:
    """The coil maps and options SigPy's apps rebuild the operator ``A`` (one item) from."""
    from .sense import Sense

    if isinstance(A, Sense):
        return A.maps, dict(coord=to_array(A.nufft.coords))
    # SigPy takes unsampled points to be the zero ones unless given the mask as weights
    maps = A.maps if A.maps is not None else torch.ones(1, *A.domain_shape, dtype=torch.complex64, device=device)
    return maps, ({} if A.mask is None else dict(weights=to_array(A.mask.expand(A.domain_shape).contiguous())))
