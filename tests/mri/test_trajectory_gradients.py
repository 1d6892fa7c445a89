"""Gradients with respect to the k-space coordinates, against an NDFT written here from first principles."""

import math

import pytest
import torch

from bridges.mri import NUFFT, Sense, radial
from bridges.mri.toeplitz import DirectNormal
from tests.conftest import crandn, rel

SHAPE = (7, 6)  # odd and even: the centre N//2 is the convention's, not a symmetric one
BACKENDS = [("finufft", {}), ("sigpy", dict(oversamp=2.0, width=6))]


def ndft_matrix(k, shape):
    """E[j, r] = (prod N)^(-1/2) exp(-2πi Σ_d k_jd (r_d - N_d//2) / N_d), k in cycles per FOV, complex128,
    differentiable in k by torch's own autograd."""
    grids = torch.meshgrid(*[torch.arange(n, dtype=torch.float64) - n // 2 for n in shape], indexing="ij")
    phase = sum(k.reshape(-1, len(shape))[:, d, None] * grids[d].reshape(1, -1) / n for d, n in enumerate(shape))
    return torch.exp(-2j * math.pi * phase) / math.sqrt(math.prod(shape))


def ndft(x, k, shape):
    return (x.reshape(*x.shape[:-2], -1) @ ndft_matrix(k, shape).T).reshape(*x.shape[:-2], *k.shape[:-1])


def ndft_adjoint(y, k, shape):
    flat = y.reshape(*y.shape[: y.dim() - (k.dim() - 1)], -1)
    return (flat @ ndft_matrix(k, shape).conj()).reshape(*flat.shape[:-1], *shape)


@pytest.fixture
def coords():
    return radial(4, 8, SHAPE).double()


def grads(fn, inputs, cotangent):
    """The gradients of Re<g, fn(*inputs)> with respect to every input."""
    inputs = [t.detach().requires_grad_() for t in inputs]
    return torch.autograd.grad((fn(*inputs).conj() * cotangent).real.sum(), inputs)


def test_derivative_is_a_nufft_weighted_by_minus_i_r(coords):
    """∂(F x)_j/∂k_jd by central differences of the exact NDFT equals F(-i ρ_d x)_j, ρ_d = 2π (r_d - N_d//2)/N_d."""
    x, h = crandn(*SHAPE).to(torch.complex128), 1e-6
    A = NUFFT(SHAPE, coords)
    for d, n in enumerate(SHAPE):
        step = torch.zeros_like(coords)
        step[..., d] = h
        numeric = (ndft(x, coords + step, SHAPE) - ndft(x, coords - step, SHAPE)) / (2 * h)
        r = (torch.arange(n, dtype=torch.float64) - n // 2).reshape([-1 if a == d else 1 for a in range(len(SHAPE))])
        analytic = A(-1j * (2 * math.pi / n) * r * x)
        assert rel(analytic, numeric) < 1e-5  # FINUFFT at eps 1e-6 (float32), differences at h = 1e-6 in float64


@pytest.mark.parametrize("backend,options", BACKENDS)
def test_coordinate_gradients_equal_the_exact_ndfts(coords, backend, options):
    x, y = crandn(2, *SHAPE).to(torch.complex128), crandn(2, 4, 8, seed=1).to(torch.complex128)
    g_y, g_x = crandn(2, 4, 8, seed=2).to(torch.complex128), crandn(2, *SHAPE, seed=3).to(torch.complex128)
    for ours, exact, point, cotangent in (
        (lambda v, k: NUFFT(SHAPE, k, backend=backend, **options)(v), lambda v, k: ndft(v, k, SHAPE), x, g_y),
        (lambda v, k: NUFFT(SHAPE, k, backend=backend, **options).H(v), lambda v, k: ndft_adjoint(v, k, SHAPE), y, g_x),
    ):
        got, expected = grads(ours, (point, coords), cotangent), grads(exact, (point, coords), cotangent)
        assert rel(got[1], expected[1]) < 1e-4  # measured ~1e-6: the NUFFT's accuracy
        assert rel(got[0], expected[0]) < 1e-4


@pytest.mark.parametrize("backend,options", BACKENDS)
def test_sense_coordinate_gradients_equal_the_exact_ndfts(maps, backend, options):
    shape, k = maps.shape[1:], radial(4, 8, maps.shape[1:]).double()
    m = maps.to(torch.complex128)
    x, y = crandn(2, *shape).to(torch.complex128), crandn(2, 4, 4, 8, seed=1).to(torch.complex128)
    g_y, g_x = crandn(2, 4, 4, 8, seed=2).to(torch.complex128), crandn(2, *shape, seed=3).to(torch.complex128)

    def exact_adjoint(v, k):
        return (ndft_adjoint(v, k, shape) * m.conj()).sum(-3)

    for ours, exact, point, cotangent in (
        (
            lambda v, k: Sense(maps, k, backend=backend, **options)(v),
            lambda v, k: ndft(v.unsqueeze(-3) * m, k, shape),
            x,
            g_y,
        ),
        (lambda v, k: Sense(maps, k, backend=backend, **options).adjoint(v), exact_adjoint, y, g_x),
    ):
        got, expected = grads(ours, (point, k), cotangent), grads(exact, (point, k), cotangent)
        assert rel(got[1], expected[1]) < 1e-4
        assert rel(got[0], expected[0]) < 1e-4


@pytest.mark.parametrize("direction", ["forward", "adjoint"])
def test_gradcheck_in_float64(coords, maps, direction):
    """torch.autograd.gradcheck against finite differences in (x, k), NUFFT and SENSE.

    The kernels run in single precision (double input is computed in float32), so the finite differences carry
    the rounding of the coordinates to float32 (2.4e-7 at |k| ~ 3, over a step of 1e-3: ~2e-4 of a Jacobian
    entry) and the step's own truncation error (~(2π r/N)³ h² ~ 3e-5): atol and rtol 1e-3, against entries
    of up to ~10. A wrong factor (2π, the sign of i, the centre N//2) moves entries by O(1).
    """
    kw = dict(eps=1e-3, atol=1e-3, rtol=1e-3)
    point = crandn(*SHAPE) if direction == "forward" else crandn(4, 8, seed=1)
    nufft = (lambda v, k: NUFFT(SHAPE, k)(v)) if direction == "forward" else (lambda v, k: NUFFT(SHAPE, k).H(v))
    assert torch.autograd.gradcheck(nufft, (point.to(torch.complex128).requires_grad_(), coords.requires_grad_()), **kw)
    shape = maps.shape[1:]
    k = radial(3, 5, shape).double().requires_grad_()
    point = crandn(*shape) if direction == "forward" else crandn(4, 3, 5, seed=1)
    sense = (lambda v, k: Sense(maps, k)(v)) if direction == "forward" else (lambda v, k: Sense(maps, k).H(v))
    assert torch.autograd.gradcheck(sense, (point.to(torch.complex128).requires_grad_(), k), **kw)


def test_batch_sums_the_items_gradients(coords):
    x, g = crandn(3, *SHAPE), crandn(3, 4, 8, seed=1)
    batch = grads(lambda k: NUFFT(SHAPE, k)(x), (coords,), g)[0]
    items = sum(grads(lambda k: NUFFT(SHAPE, k)(x[i]), (coords,), g[i])[0] for i in range(3))
    assert rel(batch, items) < 1e-6


def backward_nodes(t) -> set:
    names, todo = set(), [t.grad_fn]
    while todo:
        node = todo.pop()
        if node is not None:
            names.add(type(node).__name__)
            todo += [n for n, _ in node.next_functions]
    return names


def test_the_core_path_serves_x_alone(coords):
    """Constant coordinates, or grad mode off: the core's `_Apply`; coordinates that require grad: the new path."""
    x = crandn(*SHAPE).requires_grad_()
    assert "_ApplyBackward" in backward_nodes(NUFFT(SHAPE, coords)(x))
    assert "_ApplyWithInputsBackward" not in backward_nodes(NUFFT(SHAPE, coords)(x))
    k = coords.clone().requires_grad_()
    assert "_ApplyWithInputsBackward" in backward_nodes(NUFFT(SHAPE, k)(x))
    with torch.no_grad():
        assert NUFFT(SHAPE, k)(x).grad_fn is None


def test_H_and_gram_keep_the_coordinates_in_the_graph(coords):
    x, g = crandn(*SHAPE), crandn(*SHAPE, seed=1)
    expected = grads(lambda k: ndft_adjoint(ndft(x.to(torch.complex128), k, SHAPE), k, SHAPE), (coords,), g)[0]
    k = coords.clone().requires_grad_()
    A = NUFFT(SHAPE, k)
    assert isinstance(A.gram(), DirectNormal)
    via_gram = torch.autograd.grad((A.gram()(x).conj() * g).real.sum(), k)[0]
    via_h = torch.autograd.grad((A.H(A(x)).conj() * g).real.sum(), k)[0]
    assert rel(via_gram, expected) < 1e-4 and rel(via_h, expected) < 1e-4


def test_second_derivatives_raise_rather_than_miss_the_coordinates(coords):
    k, x = coords.clone().requires_grad_(), crandn(*SHAPE).requires_grad_()
    (gx,) = torch.autograd.grad(NUFFT(SHAPE, k)(x).abs().pow(2).sum(), x, create_graph=True)
    with pytest.raises(RuntimeError, match="marked with @once_differentiable"):
        gx.abs().sum().backward()


def test_an_in_place_step_on_shared_coordinates_replans(coords):
    k = torch.nn.Parameter(coords.float())
    A, x = NUFFT(SHAPE, k), crandn(*SHAPE)
    assert A.coords is k  # float32 coordinates are shared, not copied
    A(x).abs().pow(2).sum().backward()
    with torch.no_grad():
        k.mul_(0.9)  # an in-place update, as an optimiser's step
        assert rel(A(x), NUFFT(SHAPE, k.detach().clone())(x)) < 1e-6


def test_compiled_code_refuses_coordinates_that_require_grad(coords):
    A, x = NUFFT(SHAPE, coords.float().requires_grad_()), crandn(*SHAPE)
    with pytest.raises(Exception, match="gradients with respect to the coordinates run eagerly"):
        torch.compile(lambda t: A(t), fullgraph=True)(x)


def test_compositions_keep_the_coordinates_in_the_graph(coords):
    """The core carries the coordinates through ``A.H``, ``c * A``, ``A @ B`` and ``A + B`` (they were held
    constant there): here B = (0.5i A)^H A + A^H A = (1 - 0.5i) A^H A."""
    x, g = crandn(2, *SHAPE), crandn(2, *SHAPE, seed=1)
    exact = grads(lambda k: (1 - 0.5j) * ndft_adjoint(ndft(x.to(torch.complex128), k, SHAPE), k, SHAPE), (coords,), g)[
        0
    ]
    k = coords.clone().requires_grad_()
    A = NUFFT(SHAPE, k)
    B = (0.5j * A).H @ A + A.gram()
    assert rel(torch.autograd.grad((B(x).conj() * g).real.sum(), k)[0], exact) < 1e-4
