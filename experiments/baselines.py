"""The classical reconstructions a learned model is compared with: names for the library's solvers.

Each entry is called ``BASELINES[name](op, y, **params)`` on batches ``(*batch, *op.range_shape)``;
the parameters are the library function's (``n_iter``, ``lam``, ...), set in a configuration's
``[evaluate.baselines.NAME]`` table. `tune` picks free ones by mean PSNR on a validation set, as
the learned primal-dual paper (Adler & Öktem 2018) tuned its FBP and TV baselines.

Example::

    best, table = tune(BASELINES["tv"], A, y_val, x_val, {"lam": [1e-3, 3e-3]}, n_iter=100, nonneg=True)
    x_tv = BASELINES["tv"](A, y_test, n_iter=100, nonneg=True, **best)
"""

from __future__ import annotations

import itertools
import math
from functools import partial

import torch
import torch.nn.functional as F

from bridges import ct, mri, solvers
from experiments.metrics import psnr

__all__ = ["BASELINES", "baseline", "tune", "osem_filtered", "gaussian_filter"]

FWHM_PER_SIGMA = 2 * math.sqrt(2 * math.log(2))


def pixel_size(op) -> float:
    """The image pixel size in mm of a PET `SystemModel` (its scanner's) or a SPECT `Projector` (its geometry's)."""
    for holder in ("scanner", "geometry"):
        size = getattr(getattr(op, holder, None), "pixel_size", None)
        if isinstance(size, (int, float)):
            return float(size)
    raise ValueError(
        f"expected an operator with a pixel size (PET SystemModel, SPECT Projector), got {type(op).__name__}"
    )


def gaussian_filter(images: torch.Tensor, fwhm_pixels: float) -> torch.Tensor:
    """A separable Gaussian of FWHM ``fwhm_pixels`` over the last two axes, cut at 3σ, renormalised at the edges
    (the filter of the image's own pixels: a body near the edge keeps its level). 0: the images unchanged.

    Shapes: (*batch, y, x) -> the same.
    """
    if not fwhm_pixels > 0:
        return images
    sigma = fwhm_pixels / FWHM_PER_SIGMA
    r = max(1, int(math.ceil(3 * sigma)))
    k = torch.exp(-0.5 * (torch.arange(-r, r + 1, dtype=images.dtype, device=images.device) / sigma) ** 2)
    k = k / k.sum()
    *batch, ny, nx = images.shape
    flat = images.reshape(-1, 1, ny, nx)

    def blur(t):
        t = F.conv2d(t, k.view(1, 1, -1, 1), padding=(r, 0))
        return F.conv2d(t, k.view(1, 1, 1, -1), padding=(0, r))

    return (blur(flat) / blur(torch.ones_like(flat[:1]))).reshape(*batch, ny, nx)


def osem_filtered(op, y: torch.Tensor, n_iter: int, *, n_subsets: int, fwhm: float = 0.0) -> torch.Tensor:
    """OSEM (`bridges.solvers.osem`) then a Gaussian post-filter of FWHM ``fwhm`` mm, as clinical SPECT and PET
    reconstructions are filtered (both tuned on validation data in the experiments: iterations against noise).

    Shapes: y (*batch, *op.range_shape) -> (*batch, *op.domain_shape).
    """
    x = solvers.osem(op, y, n_iter, n_subsets=n_subsets)
    return gaussian_filter(x, fwhm / pixel_size(op)) if fwhm > 0 else x


BASELINES = {
    "fbp": ct.fbp,  # CT
    "tv": solvers.tv_pdhg,
    "zero_filled": mri.zero_filled,  # MRI
    "cg_sense": mri.cg_sense,
    "l1_wavelet": mri.l1_wavelet,
    "mlem": solvers.mlem,  # PET
    "osem": solvers.osem,
    "osem_filtered": osem_filtered,  # PET, SPECT: OSEM and a Gaussian post-filter (FWHM in mm)
}


def baseline(name: str, **params):
    """``BASELINES[name]`` with ``params`` fixed, or a ValueError naming the known baselines."""
    if name not in BASELINES:
        raise ValueError(f"expected a baseline among {sorted(BASELINES)}, got {name!r}")
    return partial(BASELINES[name], **params)


def tune(fn, op, ys: torch.Tensor, xs: torch.Tensor, grid: dict[str, list], **fixed) -> tuple[dict, list[dict]]:
    """The parameters of ``fn`` in ``grid`` (all combinations) with the highest mean PSNR of
    ``fn(op, ys, **fixed, **p)`` against ``xs``; the first in grid order wins a tie, a NaN score never wins.

    Returns ``(best_params, table)``: ``table`` has one row per combination, its parameters and
    ``"PSNR"`` (per item), ready for `experiments.report.markdown_table`.

    Shapes: ys (*batch, *op.range_shape), xs (*batch, *op.domain_shape): a small validation set.

    Example::

        best, table = tune(ct.fbp, A, y_val, x_val, {"frequency_scaling": [0.5, 0.7, 1.0]}, filter_type="hann")
        print(markdown_table(table, ["frequency_scaling", "PSNR"]))
    """
    if not isinstance(grid, dict) or not grid:
        raise ValueError(f"expected grid as a non-empty dict of parameter name -> list of values, got {grid!r}")
    for name, values in grid.items():
        if not isinstance(values, (list, tuple)) or not values:
            raise ValueError(f"expected a non-empty list of values for {name!r}, got {values!r}")
    best, best_score, table = None, -math.inf, []
    for combination in itertools.product(*grid.values()):
        params = dict(zip(grid, combination))
        scores = psnr(fn(op, ys, **fixed, **params), xs)
        table.append({**params, "PSNR": scores})
        if float(scores.mean()) > best_score:  # False for NaN
            best, best_score = params, float(scores.mean())
    if best is None:
        raise ValueError(f"every combination of {grid} gave a NaN PSNR")
    return best, table
