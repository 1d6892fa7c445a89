"""What an evaluation shows a person: a GitHub markdown table and a PNG grid of reconstructions and errors.

Example::

    rows = [{"method": name, "PSNR": psnr(x, truth), "SSIM": ssim(x, truth)} for name, x in recons.items()]
    print(markdown_table(rows, ["method", "PSNR", "SSIM"], decimals={"SSIM": 3}))
    figure_grid(out / "ct.png", truth, recons, n_examples=2)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import torch

from experiments.metrics import image_pairs, psnr, ssim

__all__ = ["markdown_table", "figure_grid"]


def markdown_table(
    rows: Sequence[Mapping], columns: Sequence[str] | None = None, decimals: int | Mapping[str, int] = 2
) -> str:
    """A list of dicts as a GitHub markdown table, one row per dict, one column per key in ``columns``.

    Cells: a number with ``decimals`` decimals (an int, or per column with 2 for the others); a sequence,
    array or tensor of per-item values (a metric over a test set) as ``mean ± std`` (the test set's
    spread: NumPy's std, ddof 0); anything else as ``str``. A key missing from a row leaves its cell empty.
    ``columns`` defaults to the keys in order of first appearance.

    Example::

        markdown_table([{"method": "FBP", "PSNR": torch.tensor([27.1, 28.3])}], ["method", "PSNR"])
        # | method | PSNR |
        # |---|---|
        # | FBP | 27.70 ± 0.60 |
    """
    if not isinstance(rows, Sequence) or not rows or not all(isinstance(r, Mapping) for r in rows):
        raise TypeError(f"expected rows as a non-empty list of dicts, got {type(rows).__name__}")
    if columns is None:
        columns = list(dict.fromkeys(key for row in rows for key in row))
    absent = [c for c in columns if all(c not in row for row in rows)]
    if not columns or absent:
        raise ValueError(
            f"expected columns among the rows' keys {sorted({k for r in rows for k in r}, key=str)}, "
            f"got {list(columns)}"
        )

    def cell(column, value):
        places = decimals if isinstance(decimals, int) else decimals.get(column, 2)
        if isinstance(value, (torch.Tensor, np.ndarray, list, tuple)):
            values = np.asarray(value.detach().cpu() if isinstance(value, torch.Tensor) else value, dtype=np.float64)
            return f"{values.mean():.{places}f} ± {values.std():.{places}f}"
        if isinstance(value, (float, np.floating)):
            return f"{value:.{places}f}"
        return str(value).replace("|", "\\|")  # a bar would split the cell

    lines = ["| " + " | ".join(str(c) for c in columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(c, row[c]) if c in row else "" for c in columns) + " |" for row in rows]
    return "\n".join(lines)


def figure_grid(
    path,
    truth,
    recons: Mapping[str, object],
    n_examples: int = 2,
    error: bool = True,
    measurements=None,
    measurements_title: str = "measurements",
    panel_inches: float = 2.5,
    dpi: int = 100,
    error_cmap: str = "inferno",
    origin: str = "upper",
) -> Path:
    """A PNG comparing reconstructions: per example, a row of ground truth and each reconstruction, and a
    row of absolute error maps ``|x − truth|`` below it.

    Images share the grey window ``[min, max]`` of that example's truth (a reconstruction's own range
    would hide its bias); error maps share one scale per example, ``[0, 99th percentile]`` of all its
    errors, shown by a colour bar under the truth. Titles give PSNR (dB) / SSIM against the truth
    (`experiments.metrics`, the truth's range as peak). Complex images are shown, and scored, as
    magnitudes. ``measurements`` (one 2-D image per item, e.g. the sinogram) add a first column.
    ``origin`` is matplotlib's: "upper" puts row 0 at the top (fastMRI's images), "lower" at the bottom
    (this project's CT and PET images, whose y grows with the row).
    The first ``n_examples`` items are shown (all of them if there are fewer). The file is
    ``columns · panel_inches · dpi`` by ``rows · panel_inches · dpi`` pixels.

    Shapes: truth (*batch, y, x); each recon the same; measurements (*batch, h, w) or None.

    Example::

        figure_grid("runs/ct.png", x_test, {"FBP": x_fbp, "TV": x_tv, "LPD": x_lpd}, n_examples=2)
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not isinstance(recons, Mapping) or not recons:
        raise ValueError(f"expected recons as a non-empty dict of name -> images, got {recons!r}")
    if not isinstance(n_examples, int) or n_examples < 1:
        raise ValueError(f"n_examples must be a positive integer, got {n_examples!r}")
    stacks = {name: image_pairs(x, truth) for name, x in recons.items()}  # checks every shape against the truth
    truths = next(iter(stacks.values()))[1]
    n = min(n_examples, len(truths))
    scores = {
        name: (psnr(x[:n], t[:n], peaks[:n]), ssim(x[:n], t[:n], peaks[:n])) for name, (x, t, peaks) in stacks.items()
    }
    data = None if measurements is None else _measurement_stack(measurements, len(truths))

    offset = int(data is not None)
    n_cols, n_rows = offset + 1 + len(recons), n * (1 + int(error))
    fig, axes = plt.subplots(
        n_rows, n_cols, figsize=(n_cols * panel_inches, n_rows * panel_inches), dpi=dpi, squeeze=False
    )
    fig.subplots_adjust(left=0.01, right=0.99, bottom=0.01, top=0.92 if n_rows == 1 else 0.95, wspace=0.04, hspace=0.25)
    for ax in axes.flat:
        ax.axis("off")
    for k in range(n):
        row = k * (1 + int(error))
        t = truths[k]
        window = dict(cmap="gray", vmin=float(t.min()), vmax=float(t.max()), origin=origin)
        if data is not None:
            axes[row, 0].imshow(data[k], cmap="gray", aspect="auto", origin=origin)
            axes[row, 0].set_title(measurements_title, fontsize=9)
        axes[row, offset].imshow(t, **window)
        axes[row, offset].set_title("ground truth", fontsize=9)
        errors = {name: np.abs(x[k] - t) for name, (x, _, _) in stacks.items()}
        scale = float(np.percentile(np.stack(list(errors.values())), 99)) or 1.0
        for j, (name, (x, _, _)) in enumerate(stacks.items(), start=offset + 1):
            p, s = scores[name][0][k], scores[name][1][k]
            axes[row, j].imshow(x[k], **window)
            axes[row, j].set_title(f"{name}\n{p:.2f} dB / {s:.3f}", fontsize=9)
            if error:
                shown = axes[row + 1, j].imshow(errors[name], cmap=error_cmap, vmin=0, vmax=scale, origin=origin)
        if error:
            bar = axes[row + 1, offset].inset_axes([0.1, 0.45, 0.8, 0.1])
            fig.colorbar(shown, cax=bar, orientation="horizontal")
            bar.set_title("|error|", fontsize=9)
            bar.tick_params(labelsize=7)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi)
    plt.close(fig)
    return path


def _measurement_stack(measurements, n_items) -> np.ndarray:
    """Measurements as (N, h, w) float64 for display; complex (k-space) as log(1 + |k|)."""
    if not isinstance(measurements, (torch.Tensor, np.ndarray)) or len(measurements.shape) < 2:
        raise ValueError(f"expected measurements as a tensor (*batch, h, w), got {measurements!r:.80}")
    m = measurements.detach().cpu().numpy() if isinstance(measurements, torch.Tensor) else np.asarray(measurements)
    m = np.log1p(np.abs(m)) if np.iscomplexobj(m) else m.astype(np.float64)
    m = m.reshape(-1, *m.shape[-2:])
    if len(m) != n_items:
        raise ValueError(
            f"expected one measurement image per truth item ({n_items}), got shape {tuple(measurements.shape)}"
        )
    return m
