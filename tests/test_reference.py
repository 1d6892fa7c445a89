"""ODL's reference solvers on our operators against this project's torch solvers (bridges.solvers)."""
import math

import pytest
import torch

from bridges import MatrixOperator, ct, reference, solvers

G = ct.ParallelBeam2D(angles=30, n_detectors=35, detector_spacing=0.5, image_shape=(24, 24), pixel_size=0.5)


def rel(a, b):
    return float((a - b).norm() / b.norm())


@pytest.fixture(scope="module")
def problem():
    A = ct.Projector(G)
    x = torch.zeros(24, 24)
    x[6:18, 8:16] = 1.0
    x[10:14, 4:20] += 0.5
    return A, x, A(torch.stack([x, x.T]))


def test_weights_are_odls_cell_volumes(problem):
    A, _, _ = problem
    w_d, w_r = reference.weights(A)
    assert w_d == pytest.approx(0.25) and w_r == pytest.approx(math.pi / 30 * 0.5)
    assert reference.odl_norm(A) == pytest.approx(A.norm() * math.sqrt(w_r / w_d))


# CGLS amplifies rounding: by iteration 8 float32 and float64 runs of the same code are 1e-2 apart on this
# problem, so it is compared over 4 iterations (4e-6 apart).
@pytest.mark.parametrize("name,n_iter", [("landweber", 8), ("cgls", 4), ("mlem", 8)])
def test_iterative_solvers_match_torch(problem, name, n_iter):
    A, _, y = problem
    got = getattr(reference, name)(A, y, n_iter=n_iter)
    assert got.shape == (2, 24, 24)
    assert rel(got, getattr(solvers, name)(A, y, n_iter=n_iter)) < 1e-4


def test_tv_pdhg_matches_torch_through_the_isometry(problem):
    """ODL's weighted problem is the plain one on sqrt(w_r/w_d) A, data sqrt(w_r) y, λ sqrt(w_d), x sqrt(w_d)."""
    A, x, y = problem
    w_d, w_r = reference.weights(A)
    got = reference.tv_pdhg(A, y[0], n_iter=40, lam=0.05, nonneg=True)
    plain = solvers.tv_pdhg(math.sqrt(w_r / w_d) * A, math.sqrt(w_r) * y[0], n_iter=40, lam=0.05 * math.sqrt(w_d),
                            spacing=G.pixel_size, nonneg=True) / math.sqrt(w_d)
    assert rel(got, plain) < 1e-4
    assert rel(got, x) < 0.3


def test_osem_subsets_match_torch(problem):
    A, _, y = problem
    subsets = [ct.Projector(G[s::3]) for s in range(3)]
    data = [y[0, s::3] for s in range(3)]
    got = reference.osem(subsets, data, n_iter=3)
    assert rel(got, solvers.osem(subsets, data, n_iter=3)) < 1e-5


def test_fbp_is_odls(problem):
    A, x, y = problem
    rec = reference.fbp(A, y, filter_type="Hann")
    assert rec.shape == (2, 24, 24) and rel(rec[0], x) < 0.3
    assert rel(rec[0], ct.fbp(A, y[0], filter="hann")) < 0.08  # main's measured 3-7 % ODL/torch FBP gap


def test_cg_sense_on_a_complex_operator():
    g = torch.Generator().manual_seed(3)
    M = torch.complex(torch.randn(20, 6, generator=g), torch.randn(20, 6, generator=g))
    A = MatrixOperator(M)
    y = A(torch.complex(torch.randn(6, generator=g), torch.randn(6, generator=g)))
    got = reference.cg_sense(A, y, n_iter=4)
    assert got.dtype == torch.complex64
    assert rel(got, solvers.cgls(A, y, n_iter=4)) < 1e-4
    exact = torch.linalg.solve((M.conj().T @ M + 0.5 * torch.eye(6)).to(torch.complex128),
                               (M.conj().T @ y).to(torch.complex128))
    assert rel(reference.cg_sense(A, y, n_iter=6, lam=0.5).to(torch.complex128), exact) < 1e-4


def test_callbacks_report_progress(problem):
    A, _, y = problem
    seen = []
    reference.cgls(A, y[0], n_iter=3, callback=lambda k, x: seen.append((k, tuple(x.shape))))
    assert seen == [(1, (24, 24)), (2, (24, 24)), (3, (24, 24))]


def test_bad_data_shape(problem):
    A, _, _ = problem
    with pytest.raises(ValueError, match=r"expected data of shape \(\.\.\., 30, 35\), got \(35, 30\)"):
        reference.landweber(A, torch.zeros(35, 30), n_iter=1)
    with pytest.raises(TypeError, match="expected a bridges.LinearOperator or an odl.Operator, got Tensor"):
        reference.cgls(torch.eye(3), torch.zeros(3), n_iter=1)
