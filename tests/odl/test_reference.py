"""ODL's own solvers (bridges.odl.reference) against this project's torch solvers (bridges.solvers): one
signature, one meaning, the same iterates to float32 rounding."""

import pytest
import torch

from bridges import MatrixOperator, ct, pet, solvers
from bridges.odl import reference
from tests.conftest import crandn, rel

G = ct.ParallelBeam2D(angles=30, n_detectors=35, detector_spacing=0.5, image_shape=(24, 24), pixel_size=0.5)


@pytest.fixture(scope="module")
def problem():
    A = ct.Projector(G)
    x = torch.zeros(24, 24)
    x[6:18, 8:16] = 1.0
    x[10:14, 4:20] += 0.5
    return A, x, A(torch.stack([x, x.T]))


# CGLS amplifies rounding: by iteration 8 float32 and float64 runs of the same code are 1e-2 apart on this
# problem, so it is compared over 4 iterations.
@pytest.mark.parametrize(
    "name,n_iter,options",
    [
        ("landweber", 8, {}),
        ("landweber", 8, {"step": 0.01}),
        ("cgls", 4, {}),
        ("cgls", 4, {"lam": 5.0}),
        ("tv_pdhg", 20, {"lam": 0.05, "nonneg": True, "spacing": G.pixel_size}),
        ("tv_pdhg", 20, {"lam": 0.05, "step_ratio": 100.0}),
        ("mlem", 8, {}),
        ("mlem", 8, {"background": 0.3}),
        ("osem", 3, {"n_subsets": 3}),
        ("osem", 3, {"n_subsets": 4, "background": torch.rand(30, 35)}),
    ],
)
def test_same_signature_same_iterates(problem, name, n_iter, options):
    A, x, y = problem
    got = getattr(reference, name)(A, y, n_iter, **options)
    expected = getattr(solvers, name)(A, y, n_iter, **options)
    assert got.shape == (2, 24, 24)
    assert rel(got, expected) < 1e-5
    assert rel(expected[0], x) < 0.5  # a reconstruction, not two equal failures


def test_em_with_a_pet_background_matches_odl():
    """MLEM and OSEM on a SystemModel: its own background (A x + s) reaches ODL as an affine operator."""
    scanner = pet.scanner("biograph-mmr", downsample=12)
    model = pet.SystemModel(scanner, background=0.4, resolution_fwhm=20.0)
    counts = torch.poisson(
        model.expected(torch.rand(scanner.image_shape, generator=torch.Generator().manual_seed(0))),
        generator=torch.Generator().manual_seed(1),
    )
    assert rel(reference.mlem(model, counts, 5), solvers.mlem(model, counts, 5)) < 1e-5
    assert rel(reference.osem(model, counts, 2, n_subsets=3), solvers.osem(model, counts, 2, n_subsets=3)) < 1e-5


def test_cgls_on_a_complex_operator_solves_the_damped_normal_equations():
    M = crandn(20, 6, seed=3)
    A = MatrixOperator(M)
    y = A(crandn(6, seed=4))
    got = reference.cgls(A, y, 4)
    assert got.dtype == torch.complex64 and rel(got, solvers.cgls(A, y, 4)) < 1e-4
    exact = torch.linalg.solve(
        (M.conj().T @ M + 0.5 * torch.eye(6)).to(torch.complex128), (M.conj().T @ y).to(torch.complex128)
    )
    assert rel(reference.cgls(A, y, 6, lam=0.5), exact) < 1e-4
    assert rel(solvers.cgls(A, y, 6, lam=0.5), exact) < 1e-4


def test_fbp_is_odls_fbp_op(problem):
    A, x, y = problem
    rec = reference.fbp(A, y, filter_type="hann")
    assert rec.shape == (2, 24, 24) and rel(rec[0], x) < 0.3
    assert rel(rec[0], ct.fbp(A, y[0], filter_type="hann")) < 0.08  # measured 3-7 %: two ramp discretisations


def test_callbacks_follow_one_rule(problem):
    """callback(k, x) after iteration k from 1; for OSEM after a full pass over the subsets, on both sides."""
    A, _, y = problem
    for module in (reference, solvers):
        seen = []
        module.osem(A, y[0], 2, n_subsets=3, callback=lambda k, x: seen.append((k, tuple(x.shape))))
        assert seen == [(1, (24, 24)), (2, (24, 24))]
        seen.clear()
        module.cgls(A, y[0], 3, callback=lambda k, x: seen.append(k))
        assert seen == [1, 2, 3]


def test_bad_input(problem):
    A, _, _ = problem
    with pytest.raises(ValueError, match=r"expected data of shape \(\.\.\., 30, 35\), got \(35, 30\)"):
        reference.landweber(A, torch.zeros(35, 30), 1)
    with pytest.raises(TypeError, match="expected a bridges.LinearOperator, got Tensor"):
        reference.cgls(torch.eye(3), torch.zeros(3), 1)
    with pytest.raises(ValueError, match="filter_type must be one of"):
        reference.fbp(A, torch.zeros(30, 35), filter_type="Hann")
    arc = ct.FanBeam2D(
        angles=12,
        n_detectors=20,
        detector_spacing=2.0,
        source_distance=60,
        detector_distance=30,
        image_shape=(8, 8),
        detector_curve="arc",
    )
    with pytest.raises(TypeError, match="flat detectors only"):
        reference.fbp(ct.Projector(arc), torch.zeros(12, 20))
