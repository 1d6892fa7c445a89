"""Checks every operator must pass, public so that a new modality can run them.

    from bridges.testing import check_operator
    check_operator(MyOperator(...))      # raises AssertionError naming the failed check
"""
from __future__ import annotations

import torch

from .operator import LinearOperator


def random_input(shape, dtype, generator: torch.Generator, device="cpu", batch=()):
    """Standard normal data of `dtype` (complex: independent real and imaginary parts)."""
    real = {torch.complex64: torch.float32, torch.complex128: torch.float64}.get(dtype, dtype)
    x = torch.randn(*batch, *shape, generator=generator, dtype=real)
    if dtype.is_complex:
        x = torch.complex(x, torch.randn(*batch, *shape, generator=generator, dtype=real))
    return x.to(device)


def inner(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """<a, b> = sum(conj(a) * b) in double precision (the real part for a real-domain operator)."""
    return torch.vdot(a.reshape(-1).to(torch.complex128), b.reshape(-1).to(torch.complex128))


def adjoint_error(op: LinearOperator, seed: int = 0, device="cpu") -> float:
    """|<Ax, y> - <x, A^H y>| / (||Ax|| ||y||), the dot-product adjoint test.

    The denominator is the scale of both sides (Cauchy-Schwarz), so the error is
    the operator's mismatch relative to its size, not to a near-zero product.
    """
    g = torch.Generator().manual_seed(seed)
    x = random_input(op.domain_shape, op.domain_dtype, g, device)
    y = random_input(op.range_shape, op.range_dtype, g, device)
    with torch.no_grad():
        ax, ahy = op(x), op.adjoint(y)
    lhs, rhs = inner(ax, y), inner(x, ahy)
    if not op.domain_dtype.is_complex and op.range_dtype.is_complex:
        lhs = lhs.real  # a real-to-complex operator is adjoint for Re<., .>
    scale = torch.linalg.vector_norm(ax.to(torch.complex128)) * torch.linalg.vector_norm(y.to(torch.complex128))
    return float(abs(lhs - rhs) / scale)


def check_operator(op: LinearOperator, *, adjoint_rtol: float = 1e-5, grad_tol: float = 1e-3,
                   gradcheck: bool = True, device="cpu", seed: int = 0) -> dict:
    """Run the checks every operator must pass; return the measured figures.

    - adjoint: dot-product test below `adjoint_rtol`;
    - shapes and dtypes of forward and adjoint, with and without batch dimensions;
    - batching: a batch equals the items applied one by one;
    - linearity: A(a x + b z) = a A x + b A z;
    - autograd: `gradcheck` and `gradgradcheck` on double-precision input (operators
      computing in single precision are checked with a step and tolerance `grad_tol`
      that single precision can meet; exact for a linear map up to rounding).
    """
    g = torch.Generator().manual_seed(seed)
    name = type(op).__name__
    figures = {"adjoint_error": adjoint_error(op, seed, device)}
    assert figures["adjoint_error"] < adjoint_rtol, f"{name}: adjoint error {figures['adjoint_error']:.2e} >= {adjoint_rtol:.0e}"

    x = random_input(op.domain_shape, op.domain_dtype, g, device, batch=(2, 3))
    y = random_input(op.range_shape, op.range_dtype, g, device, batch=(2, 3))
    with torch.no_grad():
        ax, ahy = op(x), op.adjoint(y)
        assert ax.shape == (2, 3, *op.range_shape), f"{name}: forward gave {tuple(ax.shape)}"
        assert ahy.shape == (2, 3, *op.domain_shape), f"{name}: adjoint gave {tuple(ahy.shape)}"
        assert ax.dtype == op.range_dtype and ahy.dtype == op.domain_dtype, f"{name}: dtypes {ax.dtype}, {ahy.dtype}"
        assert op(x[0, 0]).shape == op.range_shape, f"{name}: unbatched forward gave {tuple(op(x[0, 0]).shape)}"
        single = torch.stack([op(x[1, i]) for i in range(3)])
        _assert_close(ax[1], single, 1e-5, f"{name}: batched forward differs from item by item")
        single = torch.stack([op.adjoint(y[1, i]) for i in range(3)])
        _assert_close(ahy[1], single, 1e-5, f"{name}: batched adjoint differs from item by item")
        combo = op(2.0 * x[0] - 0.5 * x[1])
        _assert_close(combo, 2.0 * ax[0] - 0.5 * ax[1], 1e-5, f"{name}: forward is not linear")

    if gradcheck:
        figures.update(check_autograd(op, grad_tol, device, seed))
    return figures


def check_autograd(op: LinearOperator, tol: float = 1e-3, device="cpu", seed: int = 0) -> dict:
    """gradcheck and gradgradcheck of forward and adjoint on small double-precision input."""
    g = torch.Generator().manual_seed(seed)
    wide = {torch.float32: torch.float64, torch.complex64: torch.complex128}
    single = op.domain_dtype in wide or op.range_dtype in wide
    # A finite difference of a linear map is exact up to rounding, so a large step is
    # harmless and keeps single-precision rounding (~1e-7 |Ax| / eps) below tolerance.
    kw = dict(eps=1e-2, atol=tol, rtol=tol) if single else dict(eps=1e-6, atol=1e-7, rtol=1e-5)
    for fn, shape, dtype in ((op.forward, op.domain_shape, op.domain_dtype),
                             (op.adjoint, op.range_shape, op.range_dtype)):
        v = random_input(shape, wide.get(dtype, dtype), g, device).requires_grad_()
        assert torch.autograd.gradcheck(fn, (v,), **kw), f"{type(op).__name__}: gradcheck of {fn.__name__}"
        assert torch.autograd.gradgradcheck(fn, (v,), **kw), f"{type(op).__name__}: gradgradcheck of {fn.__name__}"
    return {"gradcheck": True}


def check_least_squares_gradient(op: LinearOperator, device="cpu", seed: int = 0, rtol: float = 1e-5) -> float:
    """The identity ∇_x ½||Ax - y||² = A^H(Ax - y), through autograd; returns the relative error."""
    g = torch.Generator().manual_seed(seed)
    x = random_input(op.domain_shape, op.domain_dtype, g, device).requires_grad_()
    y = random_input(op.range_shape, op.range_dtype, g, device)
    residual = op(x) - y
    (0.5 * residual.abs().pow(2).sum()).backward()
    expected = op.adjoint(residual.detach())
    err = float(torch.linalg.vector_norm(x.grad - expected) / torch.linalg.vector_norm(expected))
    assert err < rtol, f"{type(op).__name__}: least-squares gradient error {err:.2e}"
    return err


def _assert_close(a, b, rtol, message):
    err = float(torch.linalg.vector_norm(a - b) / torch.linalg.vector_norm(b).clamp_min(1e-30))
    assert err < rtol, f"{message} (relative error {err:.2e})"
