"""Calibration (RCPS, CRC) and the measures of experiments.uncertainty against brute force and closed forms."""

import math

import numpy as np
import pytest
import torch
from scipy import stats
from scipy.special import erfc

from experiments.uncertainty import calibration, measures


def _heteroscedastic(n, size, generator, scale_spread=0.5):
    """Errors x̂ − x = σ s_i z with a known per-pixel σ (the heuristic u) and a per-item factor s_i uniform in
    [1 − spread, 1 + spread] that u does not know, so that items' risks differ."""
    sigma = 0.5 + 1.5 * torch.rand(n, size, size, generator=generator, dtype=torch.float64)
    s = 1 - scale_spread + 2 * scale_spread * torch.rand(n, 1, 1, generator=generator, dtype=torch.float64)
    z = torch.randn(n, size, size, generator=generator, dtype=torch.float64)
    return sigma * s * z, sigma


def _true_risk(lam, scale_spread=0.5, points=2001):
    """E over s ~ U[1 − spread, 1 + spread] of P(|s z| > λ) = erfc(λ / (s √2)), by the midpoint rule."""
    s = 1 - scale_spread + 2 * scale_spread * (np.arange(points) + 0.5) / points
    return float(erfc(lam / (s * math.sqrt(2))).mean())


def _brute_force_risk(error, u, mask, lam):
    outside = (error.abs() > lam * u) & mask
    return float((outside.sum(dim=(-2, -1)).double() / mask.sum(dim=(-2, -1)).double()).mean())


@pytest.mark.parametrize("bound", calibration.BOUNDS)
def test_rcps_lambda_equals_a_brute_force_scan_of_a_grid(bound):
    g = torch.Generator().manual_seed(0)
    error, u = _heteroscedastic(150, 12, g)
    mask = torch.rand(error.shape, generator=g) < 0.8
    alpha, delta = 0.1, 0.1
    lam = calibration.rcps_lambda(error, u, mask, alpha, delta, bound)
    assert math.isfinite(lam)
    grid = np.geomspace(0.05, 20.0, 3001)
    passes = np.array(
        [calibration.pvalue(_brute_force_risk(error, u, mask, g_), len(error), alpha, bound) < delta for g_ in grid]
    )
    # the smallest grid λ from which every larger grid λ passes
    first = len(grid) - int(np.argmin(passes[::-1])) if not passes.all() else 0
    assert grid[first] == grid[np.searchsorted(grid, lam)]  # the first grid point at or above the exact λ
    # the exact λ passes (a hair above it: λu rounds), anything just below it does not
    assert calibration.pvalue(_brute_force_risk(error, u, mask, lam * (1 + 1e-12)), len(error), alpha, bound) < delta
    assert calibration.pvalue(_brute_force_risk(error, u, mask, lam * (1 - 1e-9)), len(error), alpha, bound) >= delta


def test_crc_lambda_equals_a_brute_force_scan():
    g = torch.Generator().manual_seed(1)
    error, u = _heteroscedastic(40, 10, g)
    mask = torch.ones(error.shape, dtype=torch.bool)
    n, alpha = len(error), 0.1
    lam = calibration.crc_lambda(error, u, mask, alpha)
    assert (n * _brute_force_risk(error, u, mask, lam * (1 + 1e-12)) + 1) / (n + 1) <= alpha + 1e-12
    assert (n * _brute_force_risk(error, u, mask, lam * (1 - 1e-9)) + 1) / (n + 1) > alpha


def test_bounds_closed_forms_and_too_few_items():
    # R̂ = 0: Hoeffding's p-value is (1 − α)^n, Bentkus's e (1 − α)^n
    assert calibration.hoeffding_pvalue(0.0, 20, 0.1) == pytest.approx(0.9**20)
    assert calibration.bentkus_pvalue(0.0, 20, 0.1) == pytest.approx(math.e * 0.9**20)
    assert calibration.hoeffding_pvalue(0.1, 20, 0.1) == pytest.approx(1.0)  # at α, no evidence
    # with 8 items no λ passes δ = 0.1 (0.9^8 = 0.43), nor CRC's 1/(n+1) > α: the interval is the whole line
    g = torch.Generator().manual_seed(2)
    error, u = _heteroscedastic(8, 6, g)
    mask = torch.ones(error.shape, dtype=torch.bool)
    assert calibration.rcps_lambda(error, u, mask) == math.inf
    assert calibration.crc_lambda(error, u, mask) == math.inf
    # a pixel with u = 0 and an error is never covered; one with no error always is
    r = calibration.ratios(torch.tensor([[[1.0, 0.0]]]), torch.tensor([[[0.0, 0.0]]]))
    assert r.tolist() == [[[math.inf, 0.0]]]
    with pytest.raises(ValueError, match="u >= 0"):
        calibration.ratios(torch.ones(1, 2, 2), -torch.ones(1, 2, 2))


def test_calibrated_intervals_reach_the_coverage_with_the_stated_probability():
    """Known Gaussian noise: over repeated calibration draws, the RCPS λ's true risk (closed form) is at most α in
    at least 1 − δ of them, and fresh test items reach ≥ 1 − α coverage on average; CRC's risk is at most α in
    expectation."""
    alpha, delta, draws = 0.1, 0.1, 200
    g = torch.Generator().manual_seed(3)
    rcps, crc, test_coverage = [], [], []
    for _ in range(draws):
        error, u = _heteroscedastic(64, 8, g)
        mask = torch.ones(error.shape, dtype=torch.bool)
        lam = calibration.rcps_lambda(error, u, mask, alpha, delta)
        rcps.append(_true_risk(lam))
        crc.append(_true_risk(calibration.crc_lambda(error, u, mask, alpha)))
        test_error, test_u = _heteroscedastic(64, 8, g)
        test_coverage.append(1 - float(calibration.miscoverage(test_error, test_u, mask, lam).mean()))
    rcps, crc = np.array(rcps), np.array(crc)
    assert (rcps <= alpha).mean() >= 1 - delta
    assert np.mean(test_coverage) >= 1 - alpha
    # CRC: E[risk] ≤ α, up to the draws' standard error; and not vacuous: within 1/(n+1) + that error of α
    se = crc.std() / math.sqrt(draws)
    assert crc.mean() <= alpha + 3 * se
    assert crc.mean() >= alpha - 1 / 65 - 3 * se
    # the guarantee costs coverage: RCPS's intervals are the wider
    assert np.median(rcps) < np.median(crc)


def test_miscoverage_counts_the_pixels_outside_within_the_mask():
    error = torch.tensor([[[0.5, 2.0], [3.0, 0.0]]])
    u = torch.ones(1, 2, 2)
    mask = torch.tensor([[[True, True], [False, True]]])
    assert calibration.miscoverage(error, u, mask, 1.0).tolist() == [pytest.approx(1 / 3)]
    assert calibration.miscoverage(error, u, mask, 2.0).tolist() == [0.0]  # |e| = λu is inside
    with pytest.raises(ValueError, match="bool mask"):
        calibration.miscoverage(error, u, mask.float(), 1.0)


def test_auroc_is_mann_whitney_u_over_n1_n0():
    rng = np.random.default_rng(0)
    scores = np.round(rng.normal(size=40), 1)  # ties
    labels = rng.random(40) < 0.4
    u = stats.mannwhitneyu(scores[labels], scores[~labels]).statistic
    assert measures.auroc(scores, labels) == pytest.approx(u / (labels.sum() * (~labels).sum()))
    assert measures.auroc([1, 2, 3, 4], [False, False, True, True]) == 1.0
    assert measures.auroc([4, 3, 2, 1], [False, False, True, True]) == 0.0
    assert measures.auroc([1, 1, 1], [False, True, True]) == 0.5
    # by hand: positives {2, 3}, negatives {1, 3}: pairs (2>1) 1, (2<3) 0, (3>1) 1, (3=3) ½ -> 2.5 / 4
    assert measures.auroc([2, 3, 1, 3], [True, True, False, False]) == 0.625
    assert math.isnan(measures.auroc([1, 2], [True, True]))


def test_spearman_against_scipy_and_closed_forms():
    rng = np.random.default_rng(1)
    a = np.round(rng.normal(size=200), 1)
    b = a + rng.normal(size=200)
    assert measures.spearman(a, b) == pytest.approx(stats.spearmanr(a, b).statistic, abs=1e-12)
    x = np.arange(10.0)
    assert measures.spearman(x, x**3) == pytest.approx(1.0)
    assert measures.spearman(x, -np.exp(x)) == pytest.approx(-1.0)
    # no ties: 1 − 6 Σd² / (n(n² − 1)); ranks (1,2,3,4) and (2,1,4,3): Σd² = 4 -> 1 − 24/60
    assert measures.spearman([1, 2, 3, 4], [2, 1, 4, 3]) == pytest.approx(0.6)
    assert measures.ranks([3, 1, 3, 2]).tolist() == [3.5, 1.0, 3.5, 2.0]


def test_ause_is_zero_for_the_oracle_and_matches_a_hand_computed_case():
    g = torch.Generator().manual_seed(4)
    error = torch.rand(3, 8, 8, generator=g)
    assert measures.ause(error, error).tolist() == [0.0, 0.0, 0.0]
    assert measures.ause(error, 2 * error + 1).tolist() == [0.0, 0.0, 0.0]  # any increasing map of |error|
    # errors 1..4, uncertainty reversed, quarters removed: left means 2.5, 3, 3.5, 4 against the oracle's
    # 2.5, 2, 1.5, 1; divided by 2.5 and averaged: (0 + 1 + 2 + 3) / 2.5 / 4
    e = torch.tensor([[[1.0, 2.0], [3.0, 4.0]]])
    assert measures.ause(e, 5 - e, n_steps=4)[0] == pytest.approx(0.6)
    random_u = measures.ause(error, torch.rand(3, 8, 8, generator=g))
    assert (random_u > 0).all()
    mask = torch.zeros(1, 2, 2, dtype=torch.bool)
    mask[0, 0] = True  # pixels 1 and 2 only: reversed on them, 2 steps: (0 + (2 − 1)) / 1.5 / 2
    assert measures.ause(e, 5 - e, mask, n_steps=2)[0] == pytest.approx(1 / 3)
