"""Checks every operator must pass, public so that a new modality can run them.

from bridges.testing import check_operator
check_operator(MyOperator(...))      # raises OperatorCheckError naming the failed check
"""

from __future__ import annotations

import json
import os
import tempfile

import torch
from torch.autograd.gradcheck import GradcheckError

from .operator import LinearOperator, inner, random_input  # noqa: F401 (public here too)

_WIDE = {torch.float32: torch.float64, torch.complex64: torch.complex128}


class OperatorCheckError(AssertionError):
    """A check failed: the message names the operator, the check, the measured figure and the tolerance."""

    # An explicit raise, not `assert`, which `python -O` strips; an AssertionError still,
    # so pytest reports it as a failed check and `pytest.raises(AssertionError)` keeps working.


def adjoint_error(op: LinearOperator, seed: int = 0, device="cpu") -> float:
    """|<Ax, y> - <x, A^H y>| / (||Ax|| ||y||), the dot-product adjoint test (`LinearOperator.adjoint_error`)."""
    return op.adjoint_error(seed=seed, device=device)


def check_operator(
    op: LinearOperator,
    *,
    adjoint_rtol: float = 1e-5,
    grad_tol: float = 1e-5,
    gradcheck: bool = True,
    transforms: bool = True,
    device="cpu",
    seed: int = 0,
) -> dict:
    """Run the checks every operator must pass; return the measured figures.

    - adjoint: dot-product test below `adjoint_rtol`;
    - shapes and dtypes of forward and adjoint, with and without batch dimensions;
    - batching: a batch equals the items applied one by one;
    - linearity: A(a x + b z) = a A x + b A z;
    - autograd: `gradcheck` and `gradgradcheck` on double-precision input, see `check_autograd`
      (`grad_tol` is its tolerance for operators computing in single precision, relative to ||A||);
    - transforms: forward-mode AD, vmap, jacrev and torch.compile, see `check_transforms`.

    Raises OperatorCheckError (an AssertionError) naming the check, the figure and the tolerance.
    """
    g = torch.Generator().manual_seed(seed)
    figures = {"adjoint_error": adjoint_error(op, seed, device)}
    _require(op, "adjoint test", "adjoint error", figures["adjoint_error"], adjoint_rtol)

    x = random_input(op.domain_shape, op.domain_dtype, g, device, batch=(2, 3))
    y = random_input(op.range_shape, op.range_dtype, g, device, batch=(2, 3))
    with torch.no_grad():
        ax, ahy = op(x), op.adjoint(y)
        for what, got, expected in (
            ("batched forward", ax, (2, 3, *op.range_shape)),
            ("batched adjoint", ahy, (2, 3, *op.domain_shape)),
            ("unbatched forward", op(x[0, 0]), op.range_shape),
            ("unbatched adjoint", op.adjoint(y[0, 0]), op.domain_shape),
        ):
            if tuple(got.shape) != tuple(expected):
                _fail(op, "shapes", f"{what} gave shape {tuple(got.shape)}, expected {tuple(expected)}")
        if ax.dtype != op.range_dtype or ahy.dtype != op.domain_dtype:
            _fail(
                op,
                "dtypes",
                f"forward gave {ax.dtype}, adjoint {ahy.dtype}; expected {op.range_dtype}, {op.domain_dtype}",
            )
        single = torch.stack([op(x[1, i]) for i in range(3)])
        _require(op, "batching", "batched forward vs item by item: relative error", _rel(ax[1], single), 1e-5)
        single = torch.stack([op.adjoint(y[1, i]) for i in range(3)])
        _require(op, "batching", "batched adjoint vs item by item: relative error", _rel(ahy[1], single), 1e-5)
        combo = _rel(op(2.0 * x[0] - 0.5 * x[1]), 2.0 * ax[0] - 0.5 * ax[1])
        _require(op, "linearity", "A(2x - z/2) vs 2Ax - Az/2: relative error", combo, 1e-5)

    if gradcheck:
        figures.update(check_autograd(op, grad_tol, device, seed))
    if transforms:
        figures.update(check_transforms(op, device, seed, jacobian_tol=max(adjoint_rtol, 1e-5)))
    return figures


def check_transforms(
    op: LinearOperator,
    device="cpu",
    seed: int = 0,
    tol: float = 1e-5,
    jacobian_tol: float = 1e-5,
    max_jacobian_entries: int = 2**22,
) -> dict:
    """The operator as a torch citizen: forward-mode AD, torch.func and torch.compile.

    - jvp: ``torch.func.jvp`` of forward and adjoint gives the map applied to the tangent;
    - vmap: ``torch.func.vmap`` over a batch equals the batch;
    - jacrev: the Jacobian (built from adjoint applications) equals the dense matrix of forward applications,
      within `jacobian_tol` (the adjoint's accuracy), on an operator of at most `max_jacobian_entries` entries
      (skipped above; complex operators as real maps of their real and imaginary parts);
    - compile: ``torch.compile(fullgraph=True)`` of forward, adjoint and the gradient of ||Ax||² equal eager
      (this resets torch.compile's caches first, so that the check never meets a recompile limit).

    Returns the figures (relative errors; "jacrev" None where skipped).
    """
    g = torch.Generator().manual_seed(seed)
    x = random_input(op.domain_shape, op.domain_dtype, g, device)
    y = random_input(op.range_shape, op.range_dtype, g, device)
    figures = {}
    with torch.no_grad():
        ax, ahy = op(x), op.adjoint(y)
    for name, fn, point, value in (("forward", op.forward, x, ax), ("adjoint", op.adjoint, y, ahy)):
        tangent = random_input(point.shape, point.dtype, g, device)
        # torch's annotation of jvp is one union over has_aux (2 or 3 outputs), not an overload per value
        primal_out, tangent_out = torch.func.jvp(fn, (point,), (tangent,))  # type: ignore[misc]
        figures[f"jvp {name}"] = max(_rel(primal_out, value), _rel(tangent_out, fn(tangent)))
        _require(
            op, "forward-mode AD", f"torch.func.jvp of {name} vs {name} of the tangent", figures[f"jvp {name}"], tol
        )
        batch = random_input(point.shape, point.dtype, g, device, batch=(3,))
        figures[f"vmap {name}"] = _rel(torch.func.vmap(fn)(batch), fn(batch))
        _require(op, "vmap", f"torch.func.vmap of {name} vs the batch", figures[f"vmap {name}"], tol)
    figures["jacrev"] = _jacobian_error(op, x, max_jacobian_entries)
    if figures["jacrev"] is not None:
        _require(op, "jacrev", "torch.func.jacrev vs the dense matrix", figures["jacrev"], jacobian_tol)
    figures.update(_compiled_errors(op, x, y))
    for name, figure in figures.items():
        if name.startswith("compiled"):
            _require(op, "torch.compile", f"{name} vs eager", figure, tol)
    return figures


def _jacobian_error(op, x, max_entries):
    """jacrev of the operator as a real map against its dense matrix; None if the matrix is too large."""
    n, m = _numel(op.domain_shape, op.domain_dtype), _numel(op.range_shape, op.range_dtype)
    if n * m > max_entries:
        return None
    as_real = (lambda t: torch.view_as_real(t)) if op.range_dtype.is_complex else (lambda t: t)
    if op.domain_dtype.is_complex:

        def real_map(v):
            return as_real(op(torch.view_as_complex(v)))

        point = torch.view_as_real(x)
    else:

        def real_map(v):
            return as_real(op(v))

        point = x
    jacobian = torch.func.jacrev(real_map)(point).reshape(m, n)
    basis = torch.eye(n, dtype=point.dtype, device=point.device).reshape(n, *point.shape)
    with torch.no_grad():
        dense = real_map(basis.contiguous() if not op.domain_dtype.is_complex else basis).reshape(n, m).T
    return _rel(jacobian, dense)


def _compiled_errors(op, x, y) -> dict:
    torch.compiler.reset()
    compiled_forward = torch.compile(lambda t: op(t), fullgraph=True)
    compiled_adjoint = torch.compile(lambda t: op.adjoint(t), fullgraph=True)
    compiled_loss = torch.compile(lambda t: op(t).abs().pow(2).sum(), fullgraph=True)
    eager_x, compiled_x = x.clone().requires_grad_(), x.clone().requires_grad_()
    op(eager_x).abs().pow(2).sum().backward()
    compiled_loss(compiled_x).backward()
    with torch.no_grad():
        return {
            "compiled forward": _rel(compiled_forward(x), op(x)),
            "compiled adjoint": _rel(compiled_adjoint(y), op.adjoint(y)),
            "compiled gradient": _rel(compiled_x.grad, eager_x.grad),
        }


def _numel(shape, dtype) -> int:
    """Real numbers in a tensor of this shape and dtype."""
    n = 1
    for s in shape:
        n *= s
    return 2 * n if dtype.is_complex else n


def check_autograd(op: LinearOperator, tol: float = 1e-5, device="cpu", seed: int = 0) -> dict:
    """gradcheck and gradgradcheck of forward and adjoint on small double-precision input.

    Tolerances: rtol = `tol`, atol = `tol` ||A||; `tol` is replaced by 1e-10 for double-precision kernels.
    Returns {"gradcheck": True, "grad_atol": the atol used}.
    """
    g = torch.Generator().manual_seed(seed)
    single = op.domain_dtype in _WIDE or op.range_dtype in _WIDE
    # Finite differences carry the kernel's rounding, about u |Ax| / eps per Jacobian entry
    # (u = 6e-8 in float32), and |Ax| grows with the operator: a fixed atol fails a correct
    # operator of large norm (CT at 5 mm pixels) and passes any backward of a small one. An
    # atol relative to ||A|| (also ||A^H||) makes the check invariant to scaling A; the
    # power-iteration norm ||Ax|| / ||x|| never exceeds ||A||, so a wrong adjoint cannot
    # loosen it. A linear map has no truncation error, so the step is the input's own scale
    # (eps = 1), where rounding is smallest: measured 0.3e-7 to 3.4e-7 ||A|| for the CT,
    # NUFFT, SENSE and Cartesian operators in float32, 30x below tol = 1e-5.
    # Double-precision kernels (dense matrices) are exact to ~1e-16, so their tol is fixed tight.
    tol = tol if single else 1e-10
    atol = tol * op.norm(device=device)
    for fn, shape, dtype in (
        (op.forward, op.domain_shape, op.domain_dtype),
        (op.adjoint, op.range_shape, op.range_dtype),
    ):
        v = random_input(shape, _WIDE.get(dtype, dtype), g, device).requires_grad_()
        for check in (torch.autograd.gradcheck, torch.autograd.gradgradcheck):
            try:
                check(fn, (v,), eps=1.0, atol=atol, rtol=tol)
            except GradcheckError as e:
                raise OperatorCheckError(
                    f"{_name(op)}: {check.__name__} of {fn.__name__} failed with atol "
                    f"{atol:.1e} ({tol:.0e} ||A||, ||A|| = {op.norm():.3g}), rtol {tol:.0e}, "
                    f"eps 1: {e}"
                ) from e
    return {"gradcheck": True, "grad_atol": atol}


def check_least_squares_gradient(op: LinearOperator, device="cpu", seed: int = 0, rtol: float = 1e-5) -> float:
    """The identity ∇_x ½||Ax - y||² = A^H(Ax - y), through autograd; returns the relative error."""
    g = torch.Generator().manual_seed(seed)
    x = random_input(op.domain_shape, op.domain_dtype, g, device).requires_grad_()
    y = random_input(op.range_shape, op.range_dtype, g, device)
    residual = op(x) - y
    (0.5 * residual.abs().pow(2).sum()).backward()
    err = _rel(x.grad, op.adjoint(residual.detach()))
    _require(op, "least-squares gradient", "relative error of autograd vs A^H(Ax - y)", err, rtol)
    return err


def host_device_bytes(fn, *args, **kwargs):
    """``(fn(*args, **kwargs), bytes copied between host and device while it ran)``.

    The bytes come from CUDA's own activity trace (CUPTI, through `torch.profiler`), so copies made
    inside ASTRA, CuPy or cuFINUFFT count as well as torch's. A GPU-resident path still copies its
    small constants (ASTRA uploads each view's geometry to constant memory): compare the figure with
    the size of the data, not with zero.
    """
    if not torch.cuda.is_available():
        raise RuntimeError("host_device_bytes traces CUDA memory copies: it needs a CUDA device")
    from torch.profiler import ProfilerActivity, profile

    torch.cuda.synchronize()
    with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
        result = fn(*args, **kwargs)
        torch.cuda.synchronize()
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "trace.json")
        prof.export_chrome_trace(path)
        with open(path) as f:
            events = json.load(f)["traceEvents"]
    copied = sum(
        int(e.get("args", {}).get("bytes", 0))
        for e in events
        if e.get("cat") == "gpu_memcpy" and ("HtoD" in e.get("name", "") or "DtoH" in e.get("name", ""))
    )
    return result, copied


def _name(op) -> str:
    return f"{type(op).__name__}({op.extra_repr()})"


def _fail(op, check: str, detail: str):
    raise OperatorCheckError(f"{_name(op)}: {check} failed: {detail}")


def _require(op, check: str, figure_name: str, figure: float, tol: float):
    """Raise OperatorCheckError unless figure < tol (NaN fails too)."""
    if not figure < tol:
        _fail(op, check, f"{figure_name} {figure:.2e}, tolerance {tol:.0e}")


def _rel(a, b) -> float:
    return float(torch.linalg.vector_norm(a - b) / torch.linalg.vector_norm(b).clamp_min(1e-30))
