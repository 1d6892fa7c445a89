"""The operator core against dense matrices, the closed-form reference."""

import pytest
import torch

from bridges import LinearOperator, MatrixOperator
from bridges.testing import adjoint_error, check_least_squares_gradient, check_operator


def matrix(m, n, dtype, seed=0):
    g = torch.Generator().manual_seed(seed)
    real = torch.randn(m, n, generator=g, dtype=torch.float64)
    if dtype.is_complex:
        real = torch.complex(real, torch.randn(m, n, generator=g, dtype=torch.float64))
    return real.to(dtype)


DTYPES = [torch.float32, torch.float64, torch.complex64, torch.complex128]


@pytest.mark.parametrize("dtype", DTYPES)
def test_matrix_operator_passes_all_checks(dtype):
    A = MatrixOperator(matrix(6, 4, dtype))
    check_operator(A)
    check_operator(A.H)
    check_least_squares_gradient(A, rtol=1e-5)


@pytest.mark.parametrize("dtype", DTYPES)
def test_algebra_matches_matrices(dtype):
    M, N = matrix(6, 4, dtype, 0), matrix(4, 5, dtype, 1)
    A, B = MatrixOperator(M), MatrixOperator(N)
    x = matrix(3, 5, dtype, 2)
    expected = (2.5 * (M @ N) - M @ N) @ x.T
    got = (2.5 * (A @ B) - A @ B)(x)
    torch.testing.assert_close(got, expected.T)
    torch.testing.assert_close((A @ B).H(matrix(3, 6, dtype, 3)), matrix(3, 6, dtype, 3) @ (M @ N).conj())
    torch.testing.assert_close(A.gram()(matrix(2, 4, dtype, 4)), matrix(2, 4, dtype, 4) @ (M.conj().T @ M).T)
    check_operator(2.5 * (A @ B) - A @ B)


def test_complex_scale_uses_conjugate_in_adjoint():
    A = MatrixOperator(matrix(3, 3, torch.complex128))
    assert adjoint_error((1 + 2j) * A) < 1e-12


def test_adjoint_of_adjoint_is_the_operator():
    A = MatrixOperator(matrix(3, 2, torch.float64))
    assert A.H.H is A and A.T.T is A


def test_norm_is_spectral_norm_and_cached():
    M = matrix(20, 10, torch.float64)
    A = MatrixOperator(M.clone())
    sigma = torch.linalg.matrix_norm(M, 2).item()
    assert abs(A.norm(n_iter=500, rtol=1e-10) - sigma) < 1e-6 * sigma
    A.matrix.mul_(2)  # the cache is kept until asked to recompute
    assert abs(A.norm() - sigma) < 1e-6 * sigma
    assert abs(A.norm(n_iter=500, rtol=1e-10, recompute=True) - 2 * sigma) < 2e-6 * sigma


@pytest.mark.parametrize("batch", [(), (1,), (4,), (2, 3)])
def test_any_leading_batch(batch):
    M = matrix(5, 3, torch.float64)
    x = torch.randn(*batch, 3, dtype=torch.float64)
    y = MatrixOperator(M)(x)
    assert y.shape == (*batch, 5)
    torch.testing.assert_close(y, x @ M.T)


def _empty_batch_operators():
    """One real operator of each kind of kernel: batched (CT, PET, MRI) and item by item (SigPy, ODL)."""
    import odl
    import sigpy as sp

    from bridges import ct, mri, pet
    from bridges.odl import from_odl

    maps = mri.birdcage_maps((8, 8), 2)
    return {
        "ct": lambda: ct.Projector(
            ct.ParallelBeam2D(angles=6, n_detectors=12, detector_spacing=1.0, image_shape=(8, 8))
        ),
        "pet": lambda: pet.SystemModel(pet.scanner("biograph-mmr", downsample=12)),
        "cartesian": lambda: mri.CartesianSense(maps, mri.mask_equispaced((8, 8), 2, 0.25)),
        "nufft-finufft": lambda: mri.NUFFT((8, 8), mri.radial(4, 8, (8, 8)), backend="finufft"),
        "nufft-sigpy": lambda: mri.NUFFT((8, 8), mri.radial(4, 8, (8, 8)), backend="sigpy"),
        "sense": lambda: mri.Sense(maps, mri.radial(4, 8, (8, 8))),
        "from_sigpy": lambda: mri.from_sigpy(sp.linop.FFT((6, 5))),
        "from_odl": lambda: from_odl(
            odl.MatrixOperator(
                torch.ones(4, 3).numpy(), domain=odl.rn(3, dtype="float32"), range=odl.rn(4, dtype="float32")
            )
        ),
        "matrix": lambda: MatrixOperator(matrix(5, 3, torch.float32)),
    }


@pytest.mark.parametrize("name", sorted(_empty_batch_operators()))
@pytest.mark.parametrize("batch", [(0,), (2, 0)])
def test_empty_batch_gives_an_empty_result(name, batch):
    # FINUFFT ("ntrans invalid"), MKL's FFT and torch.stack (item-by-item kernels) refused an empty batch
    A = _empty_batch_operators()[name]()
    x = torch.zeros(*batch, *A.domain_shape, dtype=A.domain_dtype, requires_grad=True)
    y = A(x)
    assert y.shape == (*batch, *A.range_shape) and y.dtype == A.range_dtype
    back = A.adjoint(torch.zeros(*batch, *A.range_shape, dtype=A.range_dtype))
    assert back.shape == x.shape and back.dtype == A.domain_dtype
    y.abs().sum().backward()  # autograd passes through it too
    assert x.grad.shape == x.shape


def test_non_contiguous_input_gives_same_result():
    M = matrix(5, 3, torch.float32)
    x = torch.randn(3, 4).T  # (4, 3), not contiguous
    torch.testing.assert_close(MatrixOperator(M)(x), MatrixOperator(M)(x.contiguous()))


def test_float64_into_float32_operator_is_computed_and_returned_as_float64():
    A = MatrixOperator(matrix(5, 3, torch.float32))
    x = torch.randn(2, 3, dtype=torch.float64, requires_grad=True)
    y = A(x)
    assert y.dtype == torch.float64
    y.sum().backward()
    assert x.grad.dtype == torch.float64


def test_double_backward_through_forward_and_adjoint():
    """A gradient penalty needs d/dx ||∇_x f||²; with f = ½||Ax||² that is 2 A^T A A^T A x."""
    M = matrix(4, 3, torch.float64)
    A = MatrixOperator(M)
    x = torch.randn(3, dtype=torch.float64, requires_grad=True)
    (grad,) = torch.autograd.grad(0.5 * A(x).pow(2).sum(), x, create_graph=True)
    (gg,) = torch.autograd.grad(grad.pow(2).sum(), x)
    G = M.T @ M
    torch.testing.assert_close(gg, 2 * G @ G @ x.detach())


class _BrokenAdjoint(LinearOperator):
    """An operator whose adjoint is wrong: the checks must catch it."""

    def __init__(self):
        super().__init__((3,), (3,), torch.float64)
        self.M = matrix(3, 3, torch.float64)

    def _forward(self, x):
        return self.M @ x

    def _adjoint(self, y):
        return self.M @ y  # should be M.T


def test_check_operator_catches_a_wrong_adjoint():
    with pytest.raises(AssertionError, match="adjoint error"):
        check_operator(_BrokenAdjoint())


def test_bad_inputs_name_expected_and_got():
    A = MatrixOperator(matrix(5, 3, torch.float32))
    with pytest.raises(ValueError, match=r"expected input of shape \(\.\.\., 3\), got \(4, 2\)"):
        A(torch.randn(4, 2))
    with pytest.raises(ValueError, match=r"expected adjoint input of shape \(\.\.\., 5\)"):
        A.adjoint(torch.randn(3))
    with pytest.raises(TypeError, match="expected input of dtype torch.float32 or torch.float64, got torch.complex64"):
        A(torch.randn(3, dtype=torch.complex64))
    with pytest.raises(TypeError, match="as a torch.Tensor"):
        A([1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="cannot compose"):
        A @ A
    with pytest.raises(TypeError, match="use .H"):
        _ = MatrixOperator(matrix(2, 2, torch.complex64)).T
    with pytest.raises(ValueError, match="positive sizes"):
        MatrixOperator(torch.zeros(0, 3))


def test_module_conversions_reach_the_buffers():
    """nn.Module.to/.float/.cpu run Module._apply: the operator must not shadow it."""
    M = matrix(5, 3, torch.float32)
    A = torch.nn.Sequential(MatrixOperator(M)).to("cpu").float()[0]
    assert A.matrix.device.type == "cpu"
    torch.testing.assert_close(A(torch.ones(3)), M.sum(1))


# ---------------------------------------------------------------- torch.func, forward-mode AD, torch.compile
class CountingMatrix(MatrixOperator):
    """A matrix operator that counts its kernel calls: a vmap must be one call, never one per item."""

    calls = 0

    def _forward(self, x):
        CountingMatrix.calls += 1
        return super()._forward(x)


def test_func_transforms_match_the_matrix():
    M = matrix(5, 3, torch.float64)
    A = MatrixOperator(M)
    x, v, X = (
        torch.randn(3, dtype=torch.float64),
        torch.randn(3, dtype=torch.float64),
        torch.randn(7, 3, dtype=torch.float64),
    )
    y, tangent = torch.func.jvp(A, (x,), (v,))
    torch.testing.assert_close((y, tangent), (M @ x, M @ v))
    torch.testing.assert_close(torch.func.jvp(A.adjoint, (M @ x,), (M @ v,))[1], M.T @ M @ v)
    torch.testing.assert_close(torch.func.vmap(A)(X), X @ M.T)
    torch.testing.assert_close(torch.func.jacrev(A)(x), M)
    torch.testing.assert_close(torch.func.jacfwd(A)(x), M)
    loss = lambda t: (A(t) ** 2).sum()  # noqa: E731
    torch.testing.assert_close(torch.func.grad(loss)(x), 2 * M.T @ M @ x)
    torch.testing.assert_close(torch.func.hessian(loss)(x), 2 * M.T @ M)
    torch.testing.assert_close(torch.func.vmap(torch.func.grad(loss))(X), 2 * X @ M.T @ M)


def test_forward_mode_ad_through_forward_and_adjoint():
    import torch.autograd.forward_ad as fwAD

    M = matrix(4, 3, torch.complex128)
    A = MatrixOperator(M)
    x, v = matrix(1, 3, torch.complex128, 1)[0], matrix(1, 3, torch.complex128, 2)[0]
    with fwAD.dual_level():
        out = A.H(A(fwAD.make_dual(x, v)))
        torch.testing.assert_close(fwAD.unpack_dual(out).tangent, M.conj().T @ M @ v)


def test_vmap_is_one_batched_kernel_call():
    A = CountingMatrix(matrix(5, 3, torch.float32))
    X = torch.randn(6, 2, 3)
    CountingMatrix.calls = 0
    out = torch.func.vmap(A, in_dims=1)(X)
    assert CountingMatrix.calls == 1
    torch.testing.assert_close(out, (X @ A.matrix.T).movedim(1, 0))


def test_compiled_training_step_equals_eager_without_graph_breaks():
    M = matrix(5, 3, torch.float32)
    A = MatrixOperator(M)
    net = torch.nn.Linear(3, 3)
    x = torch.randn(4, 3)

    def loss_fn(t):
        return (A.H(A(net(t)) - 1.0) ** 2).sum()

    eager_loss = loss_fn(x)
    eager_loss.backward()
    eager_grad = net.weight.grad.clone()
    net.weight.grad = None
    # fullgraph: a graph break would raise; the backward is AOTAutograd's, compiled with the forward
    compiled_loss = torch.compile(loss_fn, fullgraph=True)(x)
    compiled_loss.backward()
    torch.testing.assert_close(compiled_loss, eager_loss)
    torch.testing.assert_close(net.weight.grad, eager_grad)


def test_a_copied_operator_is_an_operator_of_its_own():
    import copy

    A = MatrixOperator(matrix(3, 2, torch.float32))
    B = copy.deepcopy(A)
    B.matrix.mul_(2)
    x = torch.randn(2)
    compiled = torch.compile(lambda t: B(t), fullgraph=True)
    torch.testing.assert_close(compiled(x), 2 * A(x))


def test_check_transforms_catches_a_jacobian_that_is_not_the_matrix():
    from bridges.testing import OperatorCheckError, check_transforms

    with pytest.raises(OperatorCheckError, match="jacrev"):
        check_transforms(_BrokenAdjoint())


class _LazyConjugateKernel(LinearOperator):
    """A complex diagonal whose adjoint multiplies by a lazy `conj()` view, as Sense's does with its maps."""

    batched_kernels = True

    def __init__(self, d):
        super().__init__(d.shape, d.shape, d.dtype)
        self.register_buffer("d", d)

    def _forward(self, x):
        return x * self.d

    def _adjoint(self, y):
        return y * self.d.conj()


def test_compiled_kernels_see_lazy_conjugates_as_eager_does():
    """A compiled graph runs custom ops below the Conjugate fallback: without restoring eager dispatch, the
    adjoint here silently multiplied by d instead of conj(d)."""
    d = matrix(1, 6, torch.complex64)[0]
    A = _LazyConjugateKernel(d)
    y = matrix(2, 6, torch.complex64, 1)
    compiled = torch.compile(lambda t: A.adjoint(t), fullgraph=True)
    torch.testing.assert_close(compiled(y), y * d.conj())


# ---------------------------------------------------------------- the protocol: hooks, never public methods
# The core's own public methods and properties (not its class flags, batched_kernels and traceable, which are
# declarations, nor torch.nn.Module's extension points such as extra_repr)
PUBLIC = sorted(
    name
    for name, value in vars(LinearOperator).items()
    if not name.startswith("_")
    and (callable(value) or isinstance(value, property))
    and not hasattr(torch.nn.Module, name)
)


def test_no_operator_in_bridges_overrides_a_public_method():
    """A subclass implements the core's protected hooks only, so that every call passes the core's checks and
    autograd (a mixin once overrode NUFFT's forward, adjoint, H and gram; DirectNormal its forward)."""
    import importlib
    import pkgutil

    import bridges

    for module in pkgutil.walk_packages(bridges.__path__, "bridges."):
        try:
            importlib.import_module(module.name)
        except ModuleNotFoundError as e:
            if e.name != "deepinv":  # bridges.deepinv needs deepinv, which CI installs in a second environment only
                raise

    def subclasses(cls):
        for sub in cls.__subclasses__():
            yield sub
            yield from subclasses(sub)

    overrides = {
        f"{cls.__module__}.{cls.__name__}: {name} (in {base.__name__})"
        for cls in subclasses(LinearOperator)
        if cls.__module__.startswith("bridges.")
        for base in cls.__mro__[: cls.__mro__.index(LinearOperator)]
        for name in PUBLIC
        if name in vars(base)
    }
    assert not overrides, f"expected no override of the core's public methods, got {sorted(overrides)}"


def test_H_is_kept_its_adjoint_is_the_operator_and_nothing_leaks():
    import copy
    import gc
    import weakref

    A = MatrixOperator(matrix(3, 2, torch.complex64))
    B = A.H
    assert A.H is B and B.H is A and A.H.H is A
    assert set(A.state_dict()) == {"matrix"} and set(B.state_dict()) == {"op.matrix"}  # no recursion
    C = copy.deepcopy(A)
    assert C.H is not B and C.H.H is C
    gc.disable()
    try:  # the adjoint holds A; A holds it weakly: reference counting alone frees both, no cycle is left
        refs = weakref.ref(A), weakref.ref(B)
        del A, B, C
        assert all(ref() is None for ref in refs)
    finally:
        gc.enable()


def test_gram_refuses_weights_where_the_operator_takes_none():
    with pytest.raises(TypeError, match="MatrixOperator.gram takes no weights, got Tensor"):
        MatrixOperator(matrix(3, 2, torch.float32)).gram(torch.ones(3))
