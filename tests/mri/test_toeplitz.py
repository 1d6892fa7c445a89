"""Toeplitz normal operators of NUFFT and SENSE: equal to A^H A, self-adjoint, cached, used by CG-SENSE."""

import pytest
import torch

from bridges.mri import NUFFT, Sense, birdcage_maps, cg_sense, ndft_matrix, radial, spiral
from bridges.mri.toeplitz import DirectNormal, ToeplitzNormal
from bridges.testing import check_operator
from learned import DeepCascade, VarNet
from tests.conftest import crandn, rel

# several trajectories, an odd and a non-square image, and 3D
TRAJECTORIES = {
    "radial 12x10": ((12, 10), lambda: radial(6, 16, (12, 10))),
    "radial 11x13 (odd)": ((11, 13), lambda: radial(9, 20, (11, 13))),
    "spiral 16x16": ((16, 16), lambda: spiral((16, 16), 4)),
    "radial 3D 6x8x5": ((6, 8, 5), lambda: radial(8, 6, (6, 8, 5))),
}
# SigPy at its accurate setting: at its defaults (1.25, 4) A itself is 7e-3 from the exact NDFT (see below)
BACKENDS = {"finufft": dict(backend="finufft"), "sigpy": dict(backend="sigpy", oversamp=2.0, width=6)}


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("trajectory", TRAJECTORIES)
def test_gram_equals_A_H_A(trajectory, backend):
    shape, coords = TRAJECTORIES[trajectory][0], TRAJECTORIES[trajectory][1]()
    x = crandn(3, *shape)
    A = NUFFT(shape, coords, **BACKENDS[backend])
    T = A.gram()
    assert isinstance(T, ToeplitzNormal) and T.domain_shape == shape
    assert rel(T(x), A.H(A(x))) < 1e-4  # measured 4e-7 (FINUFFT) to 1e-5 (SigPy)
    S = Sense(crandn(4, *shape, seed=1), coords, **BACKENDS[backend])  # any maps: the identity holds for all
    assert rel(S.gram()(x), S.H(S(x))) < 1e-4


def test_gram_is_the_exact_ndfts_even_where_the_operator_is_coarse():
    """The kernel is computed at FINUFFT's default accuracy whatever the operator's own setting: SigPy at its
    defaults is 7e-3 from the NDFT, its A^H A likewise; its gram() is the exact normal operator."""
    shape, coords = (12, 10), radial(6, 16, (12, 10))
    E = ndft_matrix(shape, coords)
    x = crandn(2, *shape)
    exact = (x.reshape(2, -1).to(torch.complex128) @ (E.conj().T @ E).T).reshape(2, *shape)
    coarse = NUFFT(shape, coords, backend="sigpy", oversamp=1.25, width=4)  # SigPy's defaults
    assert rel(coarse.H(coarse(x)), exact) > 1e-3
    assert rel(coarse.gram()(x), exact) < 1e-5
    assert rel(NUFFT(shape, coords).gram()(x), exact) < 1e-5


def test_weighted_gram_is_A_H_W_A(maps):
    shape, coords = (12, 10), radial(6, 16, (12, 10))
    w = torch.rand(6, 16, generator=torch.Generator().manual_seed(0))
    x = crandn(2, *shape)
    A, S = NUFFT(shape, coords), Sense(maps, coords)
    assert rel(A.gram(weights=w)(x), A.H(w * A(x))) < 1e-4
    assert rel(S.gram(weights=w)(x), S.H(w * S(x))) < 1e-4
    assert A.spectrum is None  # a weighted kernel is not kept
    with pytest.raises(
        ValueError,
        match=r"expected weights broadcastable to the k-space points \(6, 16\), "
        r"got shape \(5,\)",
    ):
        A.gram(weights=torch.ones(5))
    with pytest.raises(TypeError, match="expected real floating-point weights.*got torch.complex64"):
        A.gram(weights=w.to(torch.complex64))


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
@pytest.mark.parametrize("toeplitz", [True, False])
def test_non_finite_weights_refused(maps, toeplitz, bad):
    """One NaN density weight made the whole image NaN, silently, on both paths of gram()."""
    coords = radial(6, 16, (12, 10))
    w = torch.rand(6, 16, generator=torch.Generator().manual_seed(0))
    w[2, 5] = bad
    for A in (NUFFT((12, 10), coords, toeplitz=toeplitz), Sense(maps, coords, toeplitz=toeplitz)):
        with pytest.raises(
            ValueError,
            match=r"expected finite weights \(a density compensation\), got NaN or Inf "
            r"at 1 of 96 entries",
        ):
            A.gram(weights=w)


@pytest.mark.parametrize("make", [lambda m, k: NUFFT((12, 10), k), lambda m, k: Sense(m, k)], ids=["nufft", "sense"])
def test_passes_operator_checks_and_is_self_adjoint(maps, make):
    T = make(maps, radial(6, 16, (12, 10))).gram()
    assert T.H is T
    check_operator(T, adjoint_rtol=1e-5)


def test_kernel_made_once_kept_as_a_buffer_and_remade_when_the_coordinates_change():
    coords = radial(6, 16, (12, 10))
    A = NUFFT((12, 10), coords)
    assert A.spectrum is None
    first = A.gram().spectrum
    assert A.gram().spectrum is first and A.spectrum is first
    assert dict(A.named_buffers())["spectrum"] is first  # .to() moves it with the coordinates
    assert "spectrum" not in A.state_dict()  # derived data, not a parameter of the operator
    assert first.shape == (24, 20) and first.dtype == torch.float32
    with torch.no_grad():
        A.coords.mul_(0.5)
    x = crandn(12, 10)
    assert A.gram().spectrum is not first and rel(A.gram()(x), A.H(A(x))) < 1e-4


def test_without_toeplitz_the_gram_is_A_H_A(maps):
    coords, x = radial(6, 16, (12, 10)), crandn(12, 10)
    A = Sense(maps, coords, toeplitz=False)
    assert isinstance(A.gram(), DirectNormal) and A.nufft.spectrum is None
    assert torch.equal(A.gram()(x), A.H(A(x)))


def test_cg_sense_uses_it_and_equals_cg_sense_with_A_H_A():
    """20 iterations of CG-SENSE with the Toeplitz gram and with A^H A, 8 coils, radial 32x32, λ = 0.1 ||A||².

    The two normal operators differ by the NUFFT's accuracy (~1e-6, relative); CG's iterates move by up to the
    condition number times that, here at most 1 + ||A||²/λ = 11: measured 4.7e-7, tolerance 1e-5. (Without λ
    the problem is ill-conditioned and float32 CG drifts by 1e-3 from a 1e-7 change of the data alone.)"""
    shape = (32, 32)
    maps, coords = birdcage_maps(shape, 8), radial(12, 64, shape)
    fast, direct = Sense(maps, coords), Sense(maps, coords, toeplitz=False)
    y = direct(crandn(2, *shape)) + 0.01 * crandn(2, 8, 12, 64, seed=1)
    lam = 0.1 * direct.norm() ** 2
    x_fast = cg_sense(fast, y, 20, lam=lam)
    assert fast.nufft.spectrum is not None  # cg_sense -> cgls -> A.gram(): the Toeplitz embedding
    assert rel(x_fast, cg_sense(direct, y, 20, lam=lam)) < 1e-5


def test_cascade_data_consistency_makes_the_kernel_at_construction(maps):
    """DeepCascade's CG data consistency solves with cgls, i.e. with A.gram(); the kernel is made when the model
    is built, outside any compiled forward."""
    A = Sense(maps, radial(6, 16, (12, 10)))
    model = DeepCascade(A, n_cascades=1, n_layers=2, width=4, data_consistency="cg", n_cg=2)
    assert A.nufft.spectrum is not None
    assert "ToeplitzNormal" in operators_in_graph(model(crandn(4, 6, 16)).abs().sum())


def test_varnet_image_form_steps_with_the_toeplitz_gram(maps):
    """VarNet's image-form data term A^H A x - A^H y uses gram(): the same network on Sense with and without the
    Toeplitz embedding gives the same output (the two normal operators agree to ~1e-6)."""
    coords, y = radial(6, 16, (12, 10)), crandn(2, 4, 6, 16)
    fast, direct = Sense(maps, coords), Sense(maps, coords, toeplitz=False)
    model = VarNet(fast, n_cascades=2, width=4, depth=1)
    assert fast.nufft.spectrum is not None  # made at construction
    reference = VarNet(direct, n_cascades=2, width=4, depth=1)
    with torch.no_grad():
        torch.nn.init.normal_(model.cascades[0].regulariser.unet.out.weight, generator=torch.Generator().manual_seed(1))
        reference.load_state_dict(model.state_dict())
        assert rel(model(y), reference(y)) < 1e-4
    assert "ToeplitzNormal" in operators_in_graph(model(y).abs().sum())


def operators_in_graph(t) -> set:
    """Type names of the operators whose applications (the core's autograd nodes keep ``op``) made ``t``."""
    names, todo, seen = set(), [t.grad_fn], set()
    while todo:
        node = todo.pop()
        if node is None or node in seen:
            continue
        seen.add(node)
        if hasattr(node, "op"):
            names.add(type(node.op).__name__)
        todo += [n for n, _ in node.next_functions]
    return names
