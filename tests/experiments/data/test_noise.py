"""Noise models against closed forms: exact Poisson moments, the delta method, Gaussian variances."""

import math

import numpy as np
import pytest
import torch
from scipy import stats

import experiments.commands.run
from bridges import mri
from bridges.mri import birdcage_maps
from experiments.data import complex_gaussian_noise, poisson_counts, transmission_noise

N = 200_000


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def exact_log_moments(rate, photons):
    """Mean and variance of -log(max(I, 1) / I0), I ~ Poisson(rate), summed over the pmf."""
    k = np.arange(0, int(rate + 20 * math.sqrt(rate) + 20))
    pmf = stats.poisson.pmf(k, rate)
    value = -np.log(np.maximum(k, 1) / photons)
    mean = float(np.sum(pmf * value))
    return mean, float(np.sum(pmf * (value - mean) ** 2))


@pytest.mark.parametrize("p, photons", [(2.0, 1e4), (0.5, 300.0)])
def test_poisson_transmission_moments_match_the_pmf_and_the_delta_method(p, photons):
    y = transmission_noise(torch.full((N,), p, dtype=torch.float64), photons, gen())
    rate = photons * math.exp(-p)
    mean, var = exact_log_moments(rate, photons)
    assert abs(float(y.mean()) - mean) < 5 * math.sqrt(var / N)
    assert abs(float(y.var()) - var) < 5 * var * math.sqrt(2 / N)
    # delta method: E ≈ p + 1/(2λ), Var ≈ 1/λ, to O(1/λ²)
    assert abs(mean - (p + 0.5 / rate)) < 3 / rate**2 + 1e-12
    assert abs(var * rate - 1) < 3 / rate


def test_poisson_transmission_clips_photon_starved_rays_at_one_count():
    y = transmission_noise(torch.full((1000,), 30.0), 10.0, gen())  # I0 e^-30 ≈ 1e-12: almost no photon
    assert torch.isfinite(y).all()
    assert torch.allclose(y, torch.full_like(y, math.log(10.0)))


def test_gaussian_transmission_has_the_delta_method_variance():
    p = torch.tensor([[0.5], [3.0]], dtype=torch.float64).expand(2, N)
    y = transmission_noise(p, 1e3, gen(), model="gaussian")
    var = torch.exp(p[:, 0]) / 1e3
    assert torch.allclose(y.mean(1), p[:, 0], atol=float(5 * var.max().sqrt() / math.sqrt(N)))
    assert torch.allclose(y.var(1), var, rtol=5 * math.sqrt(2 / N))


def test_transmission_noise_keeps_shape_and_dtype_and_run_py_uses_it():
    p = torch.rand(3, 20, 30)
    for model in ("poisson", "gaussian"):
        y = transmission_noise(p, 1e4, gen(), model)
        assert y.shape == p.shape and y.dtype == torch.float32
    assert experiments.commands.run.transmission_noise is transmission_noise
    # run.py's behaviour: the same draws for the same seed as before it moved here
    counts = torch.poisson(1e4 * torch.exp(-p), generator=gen(3))
    assert torch.equal(transmission_noise(p, 1e4, gen(3)), -torch.log(counts.clamp_min(1) / 1e4))


def test_complex_noise_has_variance_sigma_squared_per_part():
    k = torch.zeros(4, N // 4, dtype=torch.complex64)
    y = complex_gaussian_noise(k, 0.3, gen())
    re, im = y.real.double().flatten(), y.imag.double().flatten()
    for part in (re, im):
        assert abs(float(part.var()) - 0.09) < 5 * 0.09 * math.sqrt(2 / N)
        assert abs(float(part.mean())) < 5 * 0.3 / math.sqrt(N)
    assert abs(float(torch.corrcoef(torch.stack([re, im]))[0, 1])) < 5 / math.sqrt(N)


def test_complex_noise_only_on_the_mask_support_and_not_scaled_by_weights():
    mask = torch.zeros(64, 64)
    mask[:, ::2] = 0.5  # weighted sampled columns
    k = torch.randn(8, 64, 64, dtype=torch.complex64, generator=gen(1))
    y = complex_gaussian_noise(k, 0.1, gen(), mask=mask)
    assert torch.equal(y[..., 1::2], k[..., 1::2])  # never acquired: untouched
    noise = (y - k)[..., ::2]
    assert abs(float(noise.real.var()) - 0.01) < 5 * 0.01 * math.sqrt(2 / noise.numel())


def test_complex_noise_keeps_sigma_in_the_adjoint_image_with_normalised_coils():
    A = mri.CartesianSense(birdcage_maps((32, 32), 6))
    n = complex_gaussian_noise(torch.zeros(500, *A.range_shape, dtype=torch.complex64), 0.2, gen())
    image_noise = A.H(n)  # Σ_c conj(S_c) F^H n_c: per-part variance σ² Σ|S_c|² = σ²
    assert abs(float(image_noise.real.var()) - 0.04) < 5 * 0.04 * math.sqrt(2 / image_noise.numel())


def test_poisson_counts_have_mean_and_variance_of_the_expected():
    rate = torch.tensor([0.3, 5.0, 80.0]).repeat(N // 3, 1)
    y = poisson_counts(rate, gen())
    assert torch.equal(y, y.round()) and y.dtype == torch.float32
    sd = rate[0].sqrt()
    assert (y.mean(0) - rate[0]).abs().le(5 * sd / math.sqrt(N // 3)).all()
    assert torch.allclose(y.var(0), rate[0], rtol=5 * math.sqrt(2 / (N // 3)) + 5 / math.sqrt(N // 3))


@pytest.mark.parametrize(
    "call, error, words",
    [
        (lambda: transmission_noise(torch.zeros(3), 0.0, gen()), ValueError, "photons"),
        (lambda: transmission_noise(torch.zeros(3), 1e4, gen(), model="binomial"), ValueError, "model"),
        (lambda: transmission_noise(torch.zeros(3, dtype=torch.complex64), 1e4, gen()), TypeError, "real"),
        (lambda: transmission_noise(torch.zeros(3), 1e4, 0), TypeError, "Generator"),
        (lambda: complex_gaussian_noise(torch.zeros(3), 0.1, gen()), TypeError, "complex"),
        (lambda: complex_gaussian_noise(torch.zeros(3, dtype=torch.complex64), -1.0, gen()), ValueError, "sigma"),
        (
            lambda: complex_gaussian_noise(
                torch.zeros(2, 4, 4, dtype=torch.complex64), 0.1, gen(), mask=torch.ones(3, 4)
            ),
            ValueError,
            "broadcastable",
        ),
        (lambda: poisson_counts(torch.tensor([-1.0, 2.0]), gen()), ValueError, "non-negative"),
        (lambda: poisson_counts([1.0], gen()), TypeError, "tensor"),
    ],
)
def test_bad_input_is_named(call, error, words):
    with pytest.raises(error, match=words):
        call()
