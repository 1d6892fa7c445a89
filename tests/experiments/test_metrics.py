"""PSNR and SSIM against closed forms and scikit-image on NumPy, data fit against closed forms and SciPy."""

import math
import re

import numpy as np
import pytest
import torch
from scipy.stats import poisson
from skimage.metrics import structural_similarity

from bridges import MatrixOperator
from experiments.bench.baselines import problem
from experiments.evaluation import stack
from experiments.metrics import data_fit, psnr, region_psnr, ssim


def _truth(shape, seed=0):
    return torch.rand(shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def test_psnr_of_a_known_mse_per_item_with_the_truth_range_as_peak():
    truth = _truth((2, 3, 16, 16)) * torch.arange(1, 7, dtype=torch.float64).reshape(2, 3, 1, 1)
    offsets = torch.linspace(0.01, 0.06, 6, dtype=torch.float64).reshape(2, 3, 1, 1)
    scores = psnr(truth + offsets, truth)  # MSE = offset² exactly
    ranges = truth.amax((-2, -1)) - truth.amin((-2, -1))
    expected = [10 * math.log10(r**2 / c**2) for r, c in zip(ranges.flatten().tolist(), offsets.flatten().tolist())]
    assert scores.shape == (6,) and scores.dtype == torch.float64
    np.testing.assert_allclose(scores.numpy(), expected, rtol=1e-10)
    np.testing.assert_allclose(
        psnr(truth + offsets, truth, data_range=2.0).numpy(),
        [10 * math.log10(4 / c**2) for c in offsets.flatten().tolist()],
        rtol=1e-10,
    )


def test_region_psnr_scores_only_the_region_with_the_whole_items_peak():
    truth = _truth((2, 16, 16))
    region = torch.zeros(2, 16, 16, dtype=torch.bool)
    region[0, 2:6, 3:9], region[1, 10:, :4] = True, True
    error = torch.full_like(truth, 0.5).masked_fill(region, 0.05)  # small inside the region, large outside it
    ranges = (truth.amax((-2, -1)) - truth.amin((-2, -1))).tolist()
    np.testing.assert_allclose(
        region_psnr(truth + error, truth, region).numpy(), [10 * math.log10(r**2 / 0.05**2) for r in ranges], rtol=1e-10
    )
    everywhere = torch.ones_like(region)
    np.testing.assert_allclose(
        region_psnr(truth + error, truth, everywhere).numpy(), psnr(truth + error, truth).numpy()
    )
    with pytest.raises(ValueError, match="region of item 1 is empty"):
        region_psnr(truth, truth + 0.1, region & torch.tensor([True, False]).reshape(2, 1, 1))
    with pytest.raises(ValueError, match="expected region as a boolean mask of 512 pixels"):
        region_psnr(truth, truth + 0.1, region.float())


def test_a_single_image_gives_one_value_and_float32_is_scored_in_float64():
    truth = _truth((32, 32))
    score = psnr((truth + 0.1).float(), truth.float())
    assert score.shape == (1,)
    assert abs(float(score) - 10 * math.log10(float(truth.max() - truth.min()) ** 2 / 0.01)) < 1e-4


def test_complex_images_are_compared_by_magnitude():
    magnitude = _truth((2, 16, 16)) + 0.5
    phase = _truth((2, 16, 16), seed=1) * 6
    x = (magnitude + 0.05) * torch.exp(1j * phase)
    truth = magnitude * torch.exp(-2j * phase)  # another phase: only the magnitudes count
    ranges = (magnitude.amax((-2, -1)) - magnitude.amin((-2, -1))).tolist()
    np.testing.assert_allclose(psnr(x, truth).numpy(), [10 * math.log10(r**2 / 0.05**2) for r in ranges], rtol=1e-10)
    np.testing.assert_allclose(
        ssim(x, truth).numpy(),
        [
            structural_similarity(t, r, data_range=t.max() - t.min())
            for r, t in zip((magnitude + 0.05).numpy(), magnitude.numpy())
        ],
        rtol=1e-12,
    )


def test_ssim_of_identical_images_is_one():
    truth = _truth((3, 20, 24))
    np.testing.assert_allclose(ssim(truth.clone(), truth).numpy(), np.ones(3), atol=1e-12)


def test_ssim_of_constant_images_is_the_luminance_closed_form():
    """Constant a against constant b: every window has σ = 0, so SSIM = (2ab + C1) / (a² + b² + C1), C1 = (0.01 R)²."""
    a, b, r = 0.3, 0.5, 1.0
    scores = ssim(torch.full((2, 16, 16), a), torch.full((2, 16, 16), b), data_range=r)
    c1 = (0.01 * r) ** 2
    np.testing.assert_allclose(scores.numpy(), [(2 * a * b + c1) / (a * a + b * b + c1)] * 2, rtol=1e-6)


def test_ssim_agrees_with_scikit_image_on_float64_numpy_with_its_options():
    truth = _truth((2, 24, 24))
    x = truth + 0.1 * _truth((2, 24, 24), seed=3)
    ours = ssim(x.float(), truth.float(), gaussian_weights=True, sigma=1.5, use_sample_covariance=False)
    direct = [
        structural_similarity(
            t, r, data_range=t.max() - t.min(), gaussian_weights=True, sigma=1.5, use_sample_covariance=False
        )
        for r, t in zip(x.numpy(), truth.numpy())
    ]
    np.testing.assert_allclose(ours.numpy(), direct, rtol=1e-5)


def test_l2_data_fit_is_the_relative_residual():
    A = MatrixOperator(torch.randn(12, 5, generator=torch.Generator().manual_seed(0), dtype=torch.float64))
    x = _truth((3, 5))
    scales = torch.tensor([[1.0], [0.0], [1.5]], dtype=torch.float64)
    np.testing.assert_allclose(data_fit(A, x * scales, A(x)).numpy(), [0.0, 1.0, 0.5], atol=1e-12)


def test_poisson_data_fit_is_the_negative_log_likelihood_per_count_with_the_background():
    task, _ = problem("pet", n_items=2, pet_downsample=12)
    test = stack(task.test)
    model, counts, truth = task.op, test["y"], test["x"]
    fit = data_fit(model, truth, counts, kind="poisson")
    expected = (model(truth) + model.background).double().numpy()
    y = counts.double().numpy()
    reference = [-poisson.logpmf(yi, ei).sum() / yi.sum() for yi, ei in zip(y, expected)]
    np.testing.assert_allclose(fit.numpy(), reference, rtol=1e-4)


@pytest.mark.parametrize(
    "call, error, words",
    [
        (lambda: psnr(torch.zeros(4, 4), torch.zeros(4, 5)), ValueError, "same shape"),
        (lambda: psnr(torch.zeros(4), torch.zeros(4)), ValueError, "(*batch, y, x)"),
        (lambda: psnr([[0.0]], torch.zeros(1, 1)), TypeError, "got list"),
        (lambda: ssim(torch.rand(2, 8, 8), torch.ones(2, 8, 8)), ValueError, "constant"),
        (lambda: psnr(torch.rand(3, 8, 8), torch.rand(3, 8, 8), data_range=[1.0, 2.0]), ValueError, "one per item (3)"),
        (lambda: psnr(torch.rand(8, 8), torch.rand(8, 8), data_range=0), ValueError, "positive"),
    ],
)
def test_metrics_refuse_bad_input(call, error, words):
    with pytest.raises(error, match=re.escape(words)):
        call()


def test_data_fit_refuses_bad_input():
    A = MatrixOperator(torch.eye(3))
    with pytest.raises(ValueError, match="kind must be"):
        data_fit(A, torch.zeros(3), torch.ones(3), kind="l1")
    with pytest.raises(ValueError, match=r"expected y of shape \(\.\.\., 3\)"):
        data_fit(A, torch.zeros(3), torch.ones(4))
    with pytest.raises(ValueError, match="same batch shape"):
        data_fit(A, torch.zeros(2, 3), torch.ones(3))
    with pytest.raises(TypeError, match="torch.Tensor"):
        data_fit(A, np.zeros(3), torch.ones(3))


def test_paired_difference_counts_wins_and_brackets_the_mean():
    from experiments.metrics import paired_difference

    a, b = torch.tensor([30.0, 31.0, 29.0, 33.0]), torch.tensor([29.0, 31.5, 28.0, 30.0])
    d = paired_difference(a, b)
    assert d["wins"] == 3 and d["n"] == 4 and d["mean"] == pytest.approx(1.125)
    assert d["low"] <= d["mean"] <= d["high"]
    assert -0.5 <= d["low"] and d["high"] <= 3.0  # a resampled mean stays within the differences' range
    constant = paired_difference(b + 0.7, b)
    assert (
        constant["low"] == pytest.approx(0.7, abs=1e-5)
        and constant["high"] == pytest.approx(0.7, abs=1e-5)
        and constant["wins"] == 4
    )
    with pytest.raises(ValueError, match="same non-zero length"):
        paired_difference(a, b[:3])


def test_paired_interval_narrows_with_more_images():
    from experiments.metrics import paired_difference

    g = torch.Generator().manual_seed(0)
    widths = []
    for n in (16, 256):
        diff = 1.0 + torch.randn(n, generator=g, dtype=torch.float64)
        d = paired_difference(diff, torch.zeros(n))
        widths.append(d["high"] - d["low"])
    # the bootstrap interval of a mean shrinks as 1/sqrt(n): 2 * 1.96 / 4 = 0.98 at n = 16, 0.245 at 256
    assert widths[0] == pytest.approx(0.98, rel=0.35) and widths[1] == pytest.approx(0.245, rel=0.35)
