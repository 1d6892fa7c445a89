"""Image quality and data fit of reconstructions: PSNR and SSIM by scikit-image, relative residual, Poisson NLL.

Every metric takes batches ``(*batch, y, x)`` and returns one value per item, a 1-D float64 tensor
of length ``prod(batch)`` (1 for a single image), so that a table can show mean ± std over a test set.

The peak (``data_range``) defaults to each truth item's range ``max − min``, as the learned
primal-dual paper and fastMRI take it from the ground truth, never from the reconstruction:
the score then does not reward a reconstruction for changing its own range. Complex images (MRI)
are compared by magnitude, as fastMRI does.

Example::

    psnr(x_rec, x_true)              # tensor([31.2, 29.8, ...]) in dB, one per image
    ssim(x_rec, x_true).mean()
    data_fit(A, x_rec, y)            # ‖A x − y‖ / ‖y‖ per item
"""

from __future__ import annotations

import numpy as np
import torch
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from bridges.pet import poisson_nll

__all__ = ["psnr", "region_psnr", "ssim", "data_fit", "image_pairs", "paired_difference"]


def image_pairs(x, truth, data_range=None):
    """``(x, truth, data_range)`` as float64 NumPy stacks ``(N, y, x)`` (magnitudes if complex) and N peaks.

    Shapes: x and truth (*batch, y, x), equal; data_range None, a number, or N numbers -> (N, y, x), (N, y, x), (N,).
    """
    for name, value in (("x", x), ("truth", truth)):
        if not isinstance(value, (torch.Tensor, np.ndarray)):
            raise TypeError(f"expected {name} as a torch.Tensor or numpy array, got {type(value).__name__}")
    if tuple(x.shape) != tuple(truth.shape) or len(x.shape) < 2:
        raise ValueError(
            f"expected x and truth of the same shape (*batch, y, x), got {tuple(x.shape)} and {tuple(truth.shape)}"
        )
    x, truth = (_magnitude(v).reshape(-1, *v.shape[-2:]) for v in (x, truth))
    if data_range is None:
        data_range = truth.max(axis=(1, 2)) - truth.min(axis=(1, 2))
        flat = np.flatnonzero(data_range <= 0)
        if flat.size:
            raise ValueError(f"truth item {flat[0]} is constant (range 0), so it sets no peak: pass data_range")
    else:
        data_range = np.asarray(data_range, dtype=np.float64).reshape(-1)
        if data_range.size not in (1, len(x)):
            raise ValueError(f"expected data_range as one number or one per item ({len(x)}), got {data_range.size}")
        data_range = np.broadcast_to(data_range, (len(x),))
        if not (data_range > 0).all():
            raise ValueError(f"data_range must be positive, got {data_range}")
    return x, truth, data_range


def _magnitude(v) -> np.ndarray:
    v = v.detach().cpu().numpy() if isinstance(v, torch.Tensor) else np.asarray(v)
    return np.abs(v).astype(np.float64) if np.iscomplexobj(v) else v.astype(np.float64)


def psnr(x, truth, data_range=None) -> torch.Tensor:
    """Peak signal-to-noise ratio ``10 log10(R² / MSE(x, truth))`` per item, in dB (``skimage.metrics``).

    ``R`` is ``data_range``: default each truth item's ``max − min`` (module docstring); a number or one per item.

    Shapes: x, truth (*batch, y, x), real or complex -> (prod(batch),) float64.

    Example::

        psnr(fbp(A, y), x_true)          # tensor([27.3, 26.9])
    """
    x, truth, peaks = image_pairs(x, truth, data_range)
    return torch.tensor(
        [peak_signal_noise_ratio(t, r, data_range=p) for r, t, p in zip(x, truth, peaks)], dtype=torch.float64
    )


def region_psnr(x, truth, region, data_range=None) -> torch.Tensor:
    """PSNR over a region of each image, ``10 log10(R² / mean over the region of (x − truth)²)``.

    ``R`` is `psnr`'s, from the whole truth item, so that the two compare: a region that a method blurs
    scores below its image's PSNR. ``region`` is a boolean mask per item, none empty.

    Shapes: x, truth, region (*batch, y, x) -> (prod(batch),) float64.

    Example::

        region_psnr(lpd, x, items["detail"])   # over the small ellipses of `small_features`
    """
    x, truth, peaks = image_pairs(x, truth, data_range)
    region = np.asarray(region.cpu() if isinstance(region, torch.Tensor) else region)
    if region.dtype != bool or region.size != x.size:
        raise ValueError(
            f"expected region as a boolean mask of {x.size} pixels (the images' shape), got "
            f"{region.dtype} of shape {region.shape}"
        )
    region = region.reshape(x.shape)
    empty = np.flatnonzero(~region.any(axis=(1, 2)))
    if empty.size:
        raise ValueError(f"region of item {empty[0]} is empty: leave that item out")
    mse = np.array([((r - t)[m] ** 2).mean() for r, t, m in zip(x, truth, region)])
    return torch.from_numpy(10 * np.log10(peaks**2 / mse))


def ssim(x, truth, data_range=None, **options) -> torch.Tensor:
    """Structural similarity (Wang et al. 2004) per item by ``skimage.metrics.structural_similarity``.

    ``SSIM = mean over windows of (2 μ_x μ_t + C1)(2 σ_xt + C2) / ((μ_x² + μ_t² + C1)(σ_x² + σ_t² + C2))``,
    ``C1 = (0.01 R)²``, ``C2 = (0.03 R)²``, ``R = data_range`` (default each truth item's ``max − min``);
    scikit-image's defaults (7×7 uniform window), as fastMRI uses; ``options`` go to scikit-image
    (e.g. ``gaussian_weights=True, sigma=1.5`` for Wang's Gaussian window).

    Shapes: x, truth (*batch, y, x), real or complex, at least 7×7 -> (prod(batch),) float64, at most 1.

    Example::

        ssim(x_rec, x_true).mean()
    """
    x, truth, peaks = image_pairs(x, truth, data_range)
    return torch.tensor(
        [structural_similarity(t, r, data_range=p, **options) for r, t, p in zip(x, truth, peaks)], dtype=torch.float64
    )


def data_fit(op, x: torch.Tensor, y: torch.Tensor, kind: str = "l2") -> torch.Tensor:
    """How well a reconstruction explains its data, per item.

    - ``"l2"``: the relative residual ``‖A x − y‖ / ‖y‖`` (CT, MRI; 0 for a perfect fit);
    - ``"poisson"``: the Poisson negative log-likelihood per count, ``Σ (ȳ − y log ȳ + log y!) / Σ y`` with
      ``ȳ = op.expected(x) = A x + s`` (``s`` a PET `SystemModel`'s background), by
      `bridges.pet.poisson_nll`; ``ȳ`` is floored at 0, so negative pixels are scored, not refused.

    Shapes: x (*batch, *op.domain_shape), y (*batch, *op.range_shape) -> (prod(batch),) float64; with a per-item
    operator (``op.item_axes = 1``) one figure per item of each batch, (prod(batch) * B,).

    Example::

        data_fit(model, mlem(model, counts, 20), counts, kind="poisson")
    """
    if kind not in ("l2", "poisson"):
        raise ValueError(f"kind must be 'l2' or 'poisson', got {kind!r}")
    for name, value, shape in (("x", x, op.domain_shape), ("y", y, op.range_shape)):
        if not isinstance(value, torch.Tensor):
            raise TypeError(f"expected {name} as a torch.Tensor, got {type(value).__name__}")
        if tuple(value.shape[value.dim() - len(shape) :]) != tuple(shape):
            raise ValueError(f"expected {name} of shape (..., {', '.join(map(str, shape))}), got {tuple(value.shape)}")
    batch = tuple(x.shape[: x.dim() - len(op.domain_shape)])
    if tuple(y.shape[: y.dim() - len(op.range_shape)]) != batch:
        raise ValueError(
            f"expected x and y with the same batch shape, got {batch} and "
            f"{tuple(y.shape[: y.dim() - len(op.range_shape)])}"
        )
    item_shape = op.range_shape[op.item_axes :]  # a per-item operator's first axis counts items
    with torch.no_grad():
        expected = op.expected(x).reshape(-1, *item_shape)
        y = y.reshape(-1, *item_shape).to(expected.dtype)
        if kind == "l2":
            residual = torch.linalg.vector_norm((expected - y).reshape(len(y), -1), dim=1)
            return (residual / torch.linalg.vector_norm(y.reshape(len(y), -1), dim=1)).double()
        nll = poisson_nll(expected.clamp_min(0), y, reduction="none", constant=True).reshape(len(y), -1).sum(1)
        return (nll / y.reshape(len(y), -1).sum(1)).double()


def paired_difference(scores, reference, n_resamples: int = 10_000, seed: int = 0) -> dict:
    """How ``scores`` compare with ``reference`` image by image (both one value per test image, paired).

    Returns ``wins`` (images where ``scores`` is higher), ``n``, the ``mean`` difference and its percentile
    bootstrap 95 % interval ``low``, ``high`` (``n_resamples`` resamplings of the images, seeded). On 16
    test images a mean alone hides how much of a gain is the images drawn; the interval shows it.

    Example::

        paired_difference(psnr(lpd, x), psnr(tv, x))   # {"wins": 14, "n": 16, "mean": 1.2, "low": 0.8, "high": 1.6}
    """
    a = np.asarray(scores.detach().cpu() if isinstance(scores, torch.Tensor) else scores, dtype=np.float64).reshape(-1)
    b = np.asarray(
        reference.detach().cpu() if isinstance(reference, torch.Tensor) else reference, dtype=np.float64
    ).reshape(-1)
    if a.shape != b.shape or a.size == 0:
        raise ValueError(f"expected paired scores of the same non-zero length, got {a.size} and {b.size}")
    diff = a - b
    resampled = np.random.default_rng(seed).integers(0, diff.size, size=(n_resamples, diff.size))
    means = diff[resampled].mean(axis=1)
    low, high = np.percentile(means, [2.5, 97.5])
    return {
        "wins": int((diff > 0).sum()),
        "n": int(diff.size),
        "mean": float(diff.mean()),
        "low": float(low),
        "high": float(high),
    }
