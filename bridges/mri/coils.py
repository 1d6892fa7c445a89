"""Coil sensitivity maps: estimated from calibration data by ESPIRiT (in torch), or simulated (birdcage, SigPy's).

Example::

    >>> from bridges.mri import fft2c
    >>> maps = birdcage_maps((16, 16), 4)                  # simulated, Σ_c |S_c|² = 1
    >>> kspace = fft2c(maps * torch.ones(16, 16))           # (coils, y, x), centre fully sampled
    >>> espirit_maps(kspace, calib_width=8, kernel_width=3).shape
    torch.Size([4, 16, 16])
"""

from __future__ import annotations

import contextlib
import math

import numpy as np
import torch

from .cartesian import complex_tensor

__all__ = ["espirit_maps", "birdcage_maps"]


def espirit_maps(
    kspace: torch.Tensor,
    calib_width: int = 24,
    thresh: float = 0.02,
    kernel_width: int = 6,
    crop: float = 0.95,
    n_iter: int = 100,
) -> torch.Tensor:
    """ESPIRiT maps (Uecker et al. MRM 2014): the top eigenvector of the calibration-derived operator per pixel.

    Maps are normalised (Σ_c |S_c|² = 1 inside the support, phase relative to coil 0) and set
    to zero where the eigenvalue is below ``crop``. Runs on the tensor's device.

    The same operator as ``sigpy.mri.app.EspiritCalib`` (calibration region, kernels with singular
    values above ``thresh`` times the largest, crop), computed in torch: the kernels from the
    eigenvectors of the calibration matrix's Gram matrix (complex128), the image-space operator
    ``AHA(r) = Σ_k g_k(r) g_k(r)^H`` from the kernels' cross-correlations on a ``(2·kernel_width - 1)^d``
    grid and one small matrix product per axis (no FFT of every kernel at the image size), and each
    pixel's top eigenvector exactly, by batched ``torch.linalg.eigh``, where SigPy runs ``n_iter``
    power iterations (so ``n_iter`` is accepted and unused; where the top two eigenvalues nearly tie the
    power method had not converged). On the CPU it runs on one thread (`_one_thread`). 8 coils, 128²,
    calibration 24 (``python -m experiments.bench.mri --espirit``, medians on 2 busy cores): 0.20–0.40 s
    against 1.4–2.1 s for SigPy's EspiritCalib and 0.44–0.79 s for BART 0.8's ecalib; the maps equal
    SigPy's to 2e-7 on the object.

    Shapes: kspace (coils, y, x) or (coils, z, y, x) complex -> maps of the same shape, complex64.
    """
    kspace = complex_tensor(kspace, "k-space")
    if kspace.dim() not in (3, 4):
        raise ValueError(f"expected k-space of shape (coils, y, x) or (coils, z, y, x), got {tuple(kspace.shape)}")
    if calib_width > min(kspace.shape[1:]):
        raise ValueError(f"expected calib_width <= the k-space size {tuple(kspace.shape[1:])}, got {calib_width}")
    coils, shape = kspace.shape[0], tuple(kspace.shape[1:])
    with _one_thread(kspace.device):
        partial, rows = _espirit_operator(kspace, calib_width, thresh, kernel_width)
        maps = torch.empty(shape[0], math.prod(shape[1:]), coils, dtype=torch.complex64, device=kspace.device)
        step = max(1, _PIXELS_PER_CHUNK // math.prod(shape[1:]))
        for start in range(0, shape[0], step):  # AHA at 2^16 pixels at a time: 64 MiB with 8 coils, not all of it
            aha = torch.tensordot(rows[start : start + step], partial, dims=([1], [0])).reshape(-1, coils, coils)
            maps[start : start + step] = _top_eigenvectors(aha, crop).reshape(-1, maps.shape[1], coils)
        return maps.permute(2, 0, 1).reshape(kspace.shape)


_PIXELS_PER_CHUNK = 2**16


@contextlib.contextmanager
def _one_thread(device: torch.device):
    """One intra-op thread on the CPU: every step here is small (a 288² eigh, 16384 8x8 ones), and with
    more threads than free cores MKL's threads wait on each other: the Gram matrix's eigh took 5 s instead
    of 0.05 s with 2 threads on 2 busy cores."""
    if device.type != "cpu":
        yield
        return
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def _espirit_operator(kspace: torch.Tensor, calib_width: int, thresh: float, kernel_width: int):
    """ESPIRiT's image-space operator, as SigPy's, but for its first axis: from (coils, *N) k-space, ``partial``
    (2w - 1, *N[1:], coils, coils) and ``rows`` (N[0], 2w - 1), complex128, with
    ``AHA = tensordot(rows, partial, 1)`` (*N, coils, coils)."""
    coils, shape = kspace.shape[0], tuple(kspace.shape[1:])
    d, w, device = len(shape), kernel_width, kspace.device
    # calibration matrix: the centre calib_width^d region (sp.resize's crop), every w^d block a row (coil, kernel)
    centre = (slice(None), *(slice(n // 2 - calib_width // 2, n // 2 - calib_width // 2 + calib_width) for n in shape))
    blocks = kspace[centre].to(torch.complex128)
    for axis in range(1, d + 1):
        blocks = blocks.unfold(axis, w, 1)  # (coils, *blocks, *kernel)
    mat = blocks.permute(*range(1, d + 1), 0, *range(d + 1, 2 * d + 1)).reshape(-1, coils * w**d)
    # right singular vectors from the Gram matrix's eigenvectors (σ² = λ), the rank's largest as an SVD's
    evals, evecs = torch.linalg.eigh(mat.mH @ mat)
    rank = min(mat.shape)
    evals, evecs = evals[-rank:], evecs[:, -rank:]
    kernels = evecs[:, evals > thresh**2 * evals[-1]].mT.conj().reshape(-1, coils, *[w] * d)  # rows of V^H
    # AHA(r) = N^d/w^d Σ_k g_k(r) g_k(r)^H with g_k the centred ifft of kernel k zero-filled to N: a trigonometric
    # polynomial, = Σ_δ R[δ] exp(2πi δ·(r - N//2)/N) / w^d, R[c, c', δ] = Σ_k Σ_j K_kc[j] conj(K_kc'[j - δ])
    # for |δ_i| < w, the cross-correlations, by FFTs on a (2w - 1)^d grid (no wrap-around there)
    size, dims = 2 * w - 1, tuple(range(2, 2 + d))
    if len(kernels) == 0:  # all-zero calibration data: no kernel, AHA = 0, zero maps (SigPy's would be NaN)
        kernels = torch.zeros(1, coils, *[w] * d, dtype=torch.complex128, device=device)
    spectra = torch.fft.fftn(kernels, s=[size] * d, dim=dims)
    corr = torch.fft.ifftn(torch.einsum("kc...,kd...->cd...", spectra, spectra.conj()), dim=dims)
    corr = torch.roll(corr, [w - 1] * d, dims=dims) / w**d  # index i <-> δ = i - (w - 1)
    out = corr.permute(*dims, 0, 1)  # (δ_1, ..., δ_d, coils, coils)
    delta = torch.arange(size, dtype=torch.float64, device=device) - (w - 1)
    rows = []
    for n in shape:
        phase = 2 * torch.pi * torch.outer(torch.arange(n, dtype=torch.float64, device=device) - n // 2, delta) / n
        rows.append(torch.polar(torch.ones_like(phase), phase))  # (n, 2w - 1): exp(2πi δ (r - n//2) / n)
    for axis in range(d - 1, 0, -1):  # all axes but the first: small, the caller does axis 0 in chunks
        out = torch.tensordot(rows[axis], out.movedim(axis, 0), dims=([1], [0])).movedim(0, axis)
    return out, rows[0]


def _top_eigenvectors(aha: torch.Tensor, crop: float) -> torch.Tensor:
    """Each Hermitian matrix's top eigenvector, phase relative to coil 0, zero where its eigenvalue is at or
    below ``crop``: (P, coils, coils) -> (P, coils). Matrices with ‖AHA‖_F ≤ crop (≥ their largest
    eigenvalue) are not decomposed."""
    top = torch.zeros(aha.shape[:2], dtype=aha.dtype, device=aha.device)
    pixels = torch.nonzero(torch.linalg.matrix_norm(aha) > crop).squeeze(1)
    vals, vecs = torch.linalg.eigh(aha[pixels])
    vec = vecs[:, :, -1] * (vals[:, -1:] > crop)
    first = vec[:, :1]
    top[pixels] = vec * torch.where(first.abs() > 0, first.conj() / first.abs(), torch.ones_like(first))
    return top


def birdcage_maps(image_shape, n_coils: int, radius: float = 1.5) -> torch.Tensor:
    """Birdcage coil maps from ``sigpy.mri.birdcage_maps``, normalised so that ``Σ_c |S_c|² = 1``.

    ``S_c(r) ∝ exp(iφ_c(r)) / |r - r_c|``: ``n_coils`` coils on a ring of ``radius`` (relative to the
    image's half-width, > 1 puts them outside the image), divided by their root-sum-of-squares.

    Why normalise: then ``Σ_c conj(S_c) S_c = 1``, so `bridges.mri.CartesianSense` with a full mask is
    an isometry (``A^H A = I``, ``‖A‖ = 1``) and the zero-filled ``A^H y`` and the noise per pixel in it
    stay on the image's scale whatever the coil count. (With an undersampling mask and more than one
    coil ``A^H A = S^H F^H M F S`` is in general not a projection; ``‖A‖ ≤ 1`` still holds.)

    Shapes: image_shape (y, x) -> maps (n_coils, y, x) complex64.

    Example::

        >>> maps = birdcage_maps((8, 8), 4)
        >>> maps.shape, bool(torch.allclose((maps.abs() ** 2).sum(0), torch.ones(8, 8)))
        (torch.Size([4, 8, 8]), True)
    """
    import sigpy.mri

    shape = tuple(image_shape)
    if len(shape) != 2 or not all(isinstance(n, int) and n > 0 for n in shape):
        raise ValueError(f"expected image_shape as (y, x) positive integers, got {image_shape!r}")
    if not (isinstance(n_coils, int) and n_coils > 0):
        raise ValueError(f"expected n_coils as a positive integer, got {n_coils!r}")
    if not (isinstance(radius, (int, float)) and radius > 1):
        raise ValueError(f"expected radius > 1 (coils outside the image, relative to its half-width), got {radius!r}")
    maps = sigpy.mri.birdcage_maps((n_coils, *shape), r=float(radius), dtype=np.complex128)
    # SigPy already divides by the root-sum-of-squares; redo it so the invariant holds in any version.
    maps = maps / np.sqrt(np.sum(np.abs(maps) ** 2, axis=0))
    return torch.from_numpy(maps.astype(np.complex64))
