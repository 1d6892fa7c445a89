"""The torch solvers against closed forms: batches, convergence, EM's invariants, caching, bad input.
(Agreement with ODL's implementations is tests/odl/test_reference.py.)"""

import pytest
import torch

from bridges import MatrixOperator, ct, pet, solvers
from experiments.validation.ct import CUDA_CPU_TOL
from tests.conftest import assert_gpu_resident, crandn, rel


def dense(m=12, n=5, seed=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(m, n, generator=g, dtype=dtype)


@pytest.mark.parametrize("lam", [0.0, 0.3])
def test_cgls_reaches_the_damped_least_squares_solution(lam):
    M = dense()
    A, y = MatrixOperator(M), torch.randn(3, 12, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    exact = torch.linalg.solve(M.T @ M + lam * torch.eye(5, dtype=M.dtype), (y @ M).T).T
    assert rel(solvers.cgls(A, y, 5, lam=lam), exact) < 1e-10  # n steps solve an n-dimensional system


def test_cgls_stops_on_a_converged_item_instead_of_drifting():
    """A^H A a projection: CG converges in one step; later steps must not iterate on rounding noise."""
    A = MatrixOperator(torch.eye(6)[:3].to(torch.float32))  # A^H A projects onto the first three coordinates
    y = torch.stack([torch.rand(3, generator=torch.Generator().manual_seed(2)), torch.zeros(3)])
    x = solvers.cgls(A, y, 50, lam=0.25)
    assert rel(x[0, :3], y[0] / 1.25) < 1e-6 and torch.equal(x[1], torch.zeros(6))  # zero data: zero, no NaN


def test_cgls_differentiates_through_a_learned_weight():
    A = MatrixOperator(crandn(8, 4, seed=5))
    lam = torch.tensor(0.7, requires_grad=True)
    x = solvers.cgls(A, A(crandn(4, seed=6)), 4, lam=lam)
    x.abs().pow(2).sum().backward()
    assert lam.grad is not None and torch.isfinite(lam.grad) and lam.grad != 0


def test_landweber_converges_to_the_least_squares_solution():
    M = dense(seed=3)
    A, y = MatrixOperator(M), torch.randn(12, dtype=torch.float64, generator=torch.Generator().manual_seed(4))
    exact = torch.linalg.lstsq(M, y).solution
    assert rel(solvers.landweber(A, y, 3000), exact) < 1e-6


def test_tv_pdhg_lowers_its_objective_and_keeps_nonnegativity():
    g = ct.ParallelBeam2D(angles=20, n_detectors=30, detector_spacing=1.0, image_shape=(16, 16))
    A = ct.Projector(g)
    x_true = torch.zeros(16, 16)
    x_true[4:12, 5:10] = 1.0
    y = A(x_true)

    def objective(x):
        return float(0.5 * (A(x) - y).pow(2).sum() + 0.1 * solvers.gradient(x, (1.0, 1.0)).norm(dim=0).sum())

    values = []
    x = solvers.tv_pdhg(A, y, 200, lam=0.1, nonneg=True, callback=lambda k, x: values.append(objective(x)))
    assert values[-1] < 0.05 * values[0] and float(x.min()) >= 0 and rel(x, x_true) < 0.1


def test_gradient_adjoint_is_its_transpose():
    x, q = torch.randn(3, 5, 7, dtype=torch.float64), torch.randn(3, 2, 5, 7, dtype=torch.float64)
    lhs = (solvers.gradient(x, (0.5, 2.0)) * q).sum()
    assert abs(float(lhs - (x * solvers.gradient_adjoint(q, (0.5, 2.0))).sum())) < 1e-12 * float(lhs.abs())


@pytest.fixture(scope="module")
def pet_problem():
    scanner = pet.scanner("biograph-mmr", downsample=12)
    model = pet.SystemModel(scanner, background=0.3)
    counts = torch.poisson(
        model.expected(2 * torch.ones(scanner.image_shape)), generator=torch.Generator().manual_seed(0)
    )
    return model, counts


def test_mlem_without_background_keeps_the_total_counts(pet_problem):
    model, _ = pet_problem
    plain = pet.SystemModel(model.scanner)
    # every counted bin must lie on a line through the image, or no image can explain its counts
    counts = torch.poisson(plain(2 * torch.ones(plain.domain_shape)), generator=torch.Generator().manual_seed(0))
    totals = []
    solvers.mlem(plain, counts, 4, callback=lambda k, x: totals.append(float(plain(x).double().sum())))
    torch.testing.assert_close(torch.tensor(totals), torch.full((4,), float(counts.sum())), rtol=1e-4, atol=0)


def test_em_uses_the_operators_background_unless_given(pet_problem):
    model, counts = pet_problem
    plain = pet.SystemModel(model.scanner)
    torch.testing.assert_close(
        solvers.mlem(model, counts, 3), solvers.mlem(plain, counts, 3, background=model.background)
    )
    torch.testing.assert_close(solvers.mlem(model, counts, 3, background=0.0), solvers.mlem(plain, counts, 3))
    assert rel(solvers.mlem(model, counts, 3), solvers.mlem(plain, counts, 3)) > 1e-4


def test_osem_keeps_its_subsets_and_sensitivities(pet_problem):
    model, counts = pet_problem
    solvers.osem(model, counts, 1, n_subsets=3)
    parts = model.subsets(3)
    sensitivities = [part.sensitivity() for part in parts]
    solvers.osem(model, counts, 1, n_subsets=3)
    assert all(a is b for a, b in zip(parts, model.subsets(3)))
    assert all(a is part.sensitivity() for a, part in zip(sensitivities, parts))
    assert model.subsets(1) == [model]


def test_em_step_is_differentiable_in_x(pet_problem):
    model, counts = pet_problem
    x = torch.ones(model.domain_shape, requires_grad=True)
    solvers.em_step(model, x, counts).sum().backward()
    assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0


@pytest.mark.parametrize("em_step", [solvers.em_step, pet.em_step], ids=["solvers", "pet"])
def test_em_step_checks_its_counts_as_mlem_does(pet_problem, em_step):
    """em_step had lost mlem's check_counts: negative counts gave a finite, meaningless image."""
    model, counts = pet_problem
    x = torch.ones(model.domain_shape)
    with pytest.raises(ValueError, match="counts must be non-negative, got a minimum of -1"):
        em_step(model, x, counts - 1)
    for bad in (float("nan"), float("inf")):
        y = counts.clone()
        y[3, 4] = bad
        with pytest.raises(ValueError, match="counts must be finite, got NaN or Inf"):
            em_step(model, x, y)
    with pytest.raises(ValueError, match=r"expected counts of shape \(\.\.\., 21, 28\), got \(21, 27\)"):
        em_step(model, x, counts[:, :27])
    torch.testing.assert_close(em_step(model, x, counts), solvers.mlem(model, counts, 1))


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_counts_must_be_finite(pet_problem, bad):
    # mlem returned an all-NaN image, or silently dropped the NaN where its ray missed the image
    from bridges.odl import reference

    model, counts = pet_problem
    for corner in ((0, 0), (10, 20)):
        y = counts.clone()
        y[corner] = bad
        for solve in (solvers.mlem, reference.mlem):
            with pytest.raises(ValueError, match="counts must be finite, got NaN or Inf"):
                solve(model, y, 1)
        with pytest.raises(ValueError, match="counts must be finite, got NaN or Inf"):
            pet.poisson_nll(model.expected(torch.ones(model.domain_shape)), y)


def test_bad_input(pet_problem):
    model, counts = pet_problem
    with pytest.raises(ValueError, match="n_iter must be a non-negative integer, got -1"):
        solvers.cgls(model, counts, -1)
    with pytest.raises(ValueError, match="counts must be non-negative"):
        solvers.mlem(model, counts - 1e6, 1)
    with pytest.raises(ValueError, match="x0 must be non-negative"):
        solvers.mlem(model, counts, 1, x0=-torch.ones(model.domain_shape))
    with pytest.raises(ValueError, match=r"expected x0 of shape \(16, 16\), got \(3,\)"):
        solvers.landweber(model, counts, 1, x0=torch.zeros(3))
    with pytest.raises(ValueError, match=r"n_subsets must be at most the number of views \(21\), got 22"):
        solvers.osem(model, counts, 1, n_subsets=22)
    with pytest.raises(TypeError, match="no views to split into ordered subsets"):
        solvers.osem(
            MatrixOperator(torch.eye(4)[:, :3]).H @ MatrixOperator(torch.eye(4)[:, :3]),
            torch.ones(3, 3),
            1,
            n_subsets=2,
        )
    with pytest.raises(ValueError, match="step_ratio must be positive"):
        solvers.tv_pdhg(model, counts, 1, lam=0.1, step_ratio=0)


EM_RUNS = {  # solver, ASTRA passes (A then A^T over all views) it makes, OSEM's subsets
    "em_step": (lambda A, y: solvers.em_step(A, torch.ones(*y.shape[:-2], *A.domain_shape, device=y.device), y), 1, 1),
    "mlem": (lambda A, y: solvers.mlem(A, y, 3), 3, 1),
    "osem": (lambda A, y: solvers.osem(A, y, 2, n_subsets=7), 2, 7),
}


@pytest.mark.cuda
@pytest.mark.parametrize("name", EM_RUNS)
def test_em_on_cuda_is_the_cpus_there(name):
    """Within 1.5 CUDA_CPU_TOL of the CPU run: every EM update applies ASTRA's CUDA projector and backprojector,
    each within CUDA_CPU_TOL of the CPU's (experiments/validation/ct.py), and EM's ratio y / A x does not amplify
    it. Copies: only ASTRA's per-view geometry of the same calls."""
    from tests.pet.phantoms import cpu_and_cuda_models

    cpu, gpu, x = cpu_and_cuda_models()
    y = torch.poisson(cpu.expected(x), generator=torch.Generator().manual_seed(0))
    yg, xg = y.cuda(), x.cuda()
    assert solvers.check_counts(yg) is yg
    run, passes, n_subsets = EM_RUNS[name]

    def astra():  # the projections the solver makes: its start image A^T y (not em_step's), then its passes
        if name != "em_step":
            gpu.projector.adjoint(yg)
        for _ in range(passes):
            for k, part in enumerate(gpu.subsets(n_subsets)):
                part.projector(xg), part.projector.adjoint(yg[..., k::n_subsets, :])

    got = assert_gpu_resident(run, gpu, yg, data_bytes=y.nbytes + 2 * x.nbytes, astra=astra)
    assert got.is_cuda and rel(got, run(cpu, y)) < 1.5 * CUDA_CPU_TOL
