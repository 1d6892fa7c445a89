"""Each classical baseline beats a trivial reconstruction on a small problem; batches equal items; tune picks the best."""
import math

import pytest
import torch

from bridges import MatrixOperator, pet
from experiments import baselines
from experiments.baselines import BASELINES, tune
from experiments.bench_baselines import problem
from experiments.metrics import data_fit, psnr

SIZE = 64  # CT: 36 views x 92 channels; MRI: 4 coils; PET: Biograph mMR / 4 (50², 63 views)


@pytest.fixture(scope="module")
def problems():
    return {m: problem(m, size=SIZE, n_items=2, pet_downsample=4) for m in ("ct", "mri", "pet")}


def test_tv_beats_fbp_on_noisy_ellipses(problems):
    A, y, x = problems["ct"]
    fbp, tv = psnr(baselines.fbp(A, y), x), psnr(baselines.tv(A, y), x)
    assert (tv > fbp + 3).all(), (tv, fbp)


def test_cg_sense_and_l1_wavelet_beat_zero_filled_at_4x(problems):
    A, y, x = problems["mri"]
    zero_filled = psnr(baselines.zero_filled(A, y), x)
    assert (psnr(baselines.cg_sense(A, y), x) > zero_filled + 0.5).all()
    assert (psnr(baselines.l1_wavelet(A, y), x) > zero_filled + 1).all()


def test_l1_wavelet_single_coil_reconstructs_a_sparse_image():
    """Single coil, no maps: a few bright pixels, half the columns: far better than zero-filled."""
    from bridges.mri import CartesianSense, mask_random
    x = torch.zeros(1, 32, 32, dtype=torch.complex64)
    x[0, 8, 8], x[0, 20, 12], x[0, 16, 25] = 1, 0.7, 0.5j
    A = CartesianSense(mask=mask_random((32, 32), 2, 0.1), image_shape=(32, 32))
    y = A(x)
    assert psnr(baselines.l1_wavelet(A, y, lam=1e-3, n_iter=100), x) > psnr(baselines.zero_filled(A, y), x) + 5


def test_mlem_increases_the_likelihood_every_iteration_and_beats_a_uniform_image(problems):
    model, counts, truth = problems["pet"]
    fits = [data_fit(model, baselines.mlem(model, counts, n_iter=k), counts, kind="poisson") for k in (0, 2, 5, 10)]
    assert all((later < earlier).all() for earlier, later in zip(fits, fits[1:])), fits
    uniform = torch.ones_like(truth) * truth.mean((-2, -1), keepdim=True)
    assert (psnr(baselines.mlem(model, counts), truth) > psnr(uniform, truth) + 5).all()


def test_osem_gains_on_mlem_at_equal_passes(problems):
    model, counts, truth = problems["pet"]
    assert model.views.size % 7 == 0
    osem = psnr(baselines.osem(model, counts, n_iter=2), truth)  # 7 subsets (largest divisor of 63 up to 8)
    assert (osem > psnr(baselines.mlem(model, counts, n_iter=2), truth) + 2).all()
    assert torch.equal(baselines.osem(model, counts, n_iter=2), pet.osem(model, counts, n_subsets=7, n_iter=2))


@pytest.mark.parametrize("modality, name", [(m, n) for m, table in BASELINES.items() for n in table])
def test_a_batch_gives_the_items_one_by_one(problems, modality, name):
    op, y, _ = problems[modality]
    fn = BASELINES[modality][name]
    params = {"n_iter": 20} if name == "TV" else {}
    batch = fn(op, y, **params)
    items = torch.stack([fn(op, y[i], **params) for i in range(len(y))])
    assert batch.shape == (len(y), *op.domain_shape)
    torch.testing.assert_close(batch, items, rtol=1e-4, atol=1e-4 * float(batch.abs().max()))


def test_tune_picks_the_best_of_the_grid_by_mean_psnr(problems):
    A, y, x = problems["mri"]
    grid = {"n_iter": [0, 2, 8], "lam": [0.0, 10.0]}
    best, table = tune(baselines.cg_sense, A, y, x, grid)
    assert [(row["n_iter"], row["lam"]) for row in table] == [(n, lam) for n in grid["n_iter"] for lam in grid["lam"]]
    means = [float(row["PSNR"].mean()) for row in table]
    assert best == {k: table[means.index(max(means))][k] for k in grid}
    assert best["n_iter"] > 0 and best["lam"] == 0.0  # no iteration is an empty image; λ = 10 over-smooths
    recomputed = psnr(baselines.cg_sense(A, y, **best), x)
    torch.testing.assert_close(recomputed, table[means.index(max(means))]["PSNR"])


def test_tune_never_picks_a_nan_score():
    A = MatrixOperator(torch.eye(4, dtype=torch.float64))
    x = torch.rand(2, 2, 2, dtype=torch.float64)

    def gain(op, y, g):
        return y * g  # g = nan gives a NaN PSNR

    best, table = tune(gain, A, x + 0.01, x, {"g": [math.nan, 0.5, 1.0]})
    assert best == {"g": 1.0} and math.isnan(float(table[0]["PSNR"].mean()))


def test_bad_input_is_refused():
    A = MatrixOperator(torch.eye(4))
    with pytest.raises(TypeError, match="CartesianSense or Sense, got MatrixOperator"):
        baselines.l1_wavelet(A, torch.zeros(4))
    with pytest.raises(ValueError, match="non-empty dict"):
        tune(baselines.cg_sense, A, torch.zeros(4), torch.zeros(4), {})
    with pytest.raises(ValueError, match="non-empty list of values for 'lam'"):
        tune(baselines.cg_sense, A, torch.zeros(4), torch.zeros(4), {"lam": 0.1})
