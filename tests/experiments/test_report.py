"""The markdown table's text and the figure grid's PNG, read back with matplotlib."""

import re

import matplotlib.image
import numpy as np
import pytest
import torch

from experiments.report import figure_grid, markdown_table


def test_markdown_table_in_column_order_with_mean_and_std_of_per_item_metrics():
    rows = [
        {"SSIM": np.array([0.5, 0.7]), "method": "FBP", "PSNR": torch.tensor([27.0, 29.0]), "iterations": 0},
        {"method": "TV | ODL", "PSNR": [30.0, 30.5, 31.0], "SSIM": (0.9, 0.9), "iterations": 100, "λ": 3e-5},
    ]
    text = markdown_table(rows, ["method", "PSNR", "SSIM", "iterations"], decimals={"SSIM": 3})
    std = np.std([30.0, 30.5, 31.0])  # the test set's spread, ddof 0
    assert text == (
        "| method | PSNR | SSIM | iterations |\n"
        "|---|---|---|---|\n"
        "| FBP | 28.00 ± 1.00 | 0.600 ± 0.100 | 0 |\n"
        f"| TV \\| ODL | 30.50 ± {std:.2f} | 0.900 ± 0.000 | 100 |"
    )


def test_markdown_table_default_columns_plain_numbers_and_missing_cells():
    text = markdown_table([{"a": 1.23456, "b": "x"}, {"a": 2.0, "c": 7}], decimals=1)
    assert text.splitlines() == ["| a | b | c |", "|---|---|---|", "| 1.2 | x |  |", "| 2.0 |  | 7 |"]


def test_markdown_table_refuses_unknown_columns_and_non_rows():
    with pytest.raises(ValueError, match=r"columns among the rows' keys \['a'\], got \['b'\]"):
        markdown_table([{"a": 1}], ["b"])
    with pytest.raises(TypeError, match="list of dicts"):
        markdown_table({"a": 1})


def _images(n=3, size=32, seed=0):
    g = torch.Generator().manual_seed(seed)
    truth = torch.zeros(n, size, size)
    truth[:, 8:24, 8:24] = 1 + torch.rand(n, 1, 1, generator=g)
    recons = {"noisy": truth + 0.1 * torch.randn(truth.shape, generator=g), "blurred": truth * 0.8}
    return truth, recons


def _panel_centre(image, row, col, panel):
    return image[int((row + 0.5) * panel), int((col + 0.5) * panel), :3]


def test_figure_grid_writes_a_png_of_two_rows_per_example(tmp_path):
    truth, recons = _images()
    path = figure_grid(tmp_path / "sub" / "grid.png", truth, recons, n_examples=2, panel_inches=1.0, dpi=50)
    image = matplotlib.image.imread(path)
    assert image.shape == (4 * 50, 3 * 50, 4)  # (2 examples x (images, errors)) x (truth + 2 recons)
    r, g, b = _panel_centre(image, 0, 0, 50)  # ground truth in grey
    assert r == g == b and r > 0.5
    r, g, b = _panel_centre(image, 1, 2, 50)  # error map of "blurred" in colour (inferno), not grey
    assert not (r == g == b)
    below_truth = image[50:100, :50, :3]
    assert (below_truth[..., 0] != below_truth[..., 2]).any()  # the errors' colour bar under the truth


def test_figure_grid_without_errors_and_with_measurements(tmp_path):
    truth, recons = _images(n=1)
    path = figure_grid(
        tmp_path / "grid.png",
        truth[0] + 0j,
        {k: v[0] + 0j for k, v in recons.items()},
        n_examples=2,
        error=False,
        measurements=torch.rand(1, 10, 20),
        panel_inches=1.0,
        dpi=40,
    )
    assert matplotlib.image.imread(path).shape == (40, 4 * 40, 4)  # one example only; complex shown as magnitude


@pytest.mark.parametrize(
    "kwargs, error, words",
    [
        (dict(recons={"bad": torch.zeros(3, 32, 31)}), ValueError, "same shape"),
        (dict(recons={}), ValueError, "non-empty dict"),
        (dict(n_examples=0), ValueError, "n_examples"),
        (dict(measurements=torch.zeros(2, 5, 5)), ValueError, "one measurement image per truth item (3)"),
    ],
)
def test_figure_grid_refuses_mismatched_input(tmp_path, kwargs, error, words):
    truth, recons = _images()
    args = dict(recons=recons) | kwargs
    with pytest.raises(error, match=re.escape(words)):
        figure_grid(tmp_path / "x.png", truth, **args)
    assert not (tmp_path / "x.png").exists()
