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

from bridges import ct, mri, solvers
from experiments.metrics import psnr

__all__ = ["BASELINES", "baseline", "tune"]

BASELINES = {
    "fbp": ct.fbp,                   # CT
    "tv": solvers.tv_pdhg,
    "zero_filled": mri.zero_filled,  # MRI
    "cg_sense": mri.cg_sense,
    "l1_wavelet": mri.l1_wavelet,
    "mlem": solvers.mlem,            # PET
    "osem": solvers.osem,
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
