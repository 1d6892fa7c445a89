"""The one abstraction: a linear operator between tensor spaces, autograd-aware both ways.

A subclass supplies the raw kernels ``_forward`` and ``_adjoint`` on tensors of
exact shape; this class adds shape and dtype checks, any number of leading
batch dimensions, autograd (the backward of the forward is the adjoint and the
reverse, each itself differentiable, so double backward works; forward mode, torch.func
and torch.compile too: `bridges.autograd`), and the algebra ``A.T``, ``A.H``, ``A @ B``,
``c * A``, ``A + B``, ``A.norm()``, ``A.gram()``.

What a learned model or a solver may rely on is declared here and nowhere else:
``forward``/``adjoint``, the shapes and dtypes, ``item_axes``, ``norm``, ``gram``, ``device``, and the
measurement model ``expected(x) = A x + background`` (``background`` is None unless a
modality has one, as PET's randoms and scatter). Tomographic operators (CT, PET) also
give ``subset(views)`` for ordered-subsets solvers, whose data keep views on axis -2.

Example::

    >>> A = MatrixOperator(torch.randn(5, 3))
    >>> y = A(torch.randn(8, 3))
    >>> y.shape, A.T(y).shape
    (torch.Size([8, 5]), torch.Size([8, 3]))
"""

from __future__ import annotations

import weakref

import torch
from torch import nn

from .autograd import apply_operator, register

# An operator whose kernels run in single precision accepts double precision
# input, computes in single and returns double (DESIGN.md, dtypes).
_WIDER = {torch.float32: torch.float64, torch.complex64: torch.complex128}


def _shape_str(shape) -> str:
    return "(..., " + ", ".join(str(s) for s in shape) + ")"


class LinearOperator(nn.Module):
    """A linear map A from ``domain_shape`` to ``range_shape``.

    For complex operators ``adjoint`` is the conjugate transpose; for an operator
    from a real to a complex space it is the adjoint for the real inner product
    Re<Ax, y>, i.e. Re(A^H y). Gradients follow PyTorch's convention, under
    which the backward of a linear map is its adjoint in exactly this sense.

    Shapes:
        forward: (*batch, *domain_shape) -> (*batch, *range_shape)
        adjoint: (*batch, *range_shape) -> (*batch, *domain_shape)

    A subclass implements the protected hooks below and never a public method, so that every call passes
    the same checks and the same autograd:

    - ``_forward``/``_adjoint`` (required): the raw kernels. With ``batched_kernels = True`` they take a
      leading batch dimension ``(B, *shape)``; otherwise one item of exact shape, the batch looped here.
    - ``_adjoint_operator()``: the operator ``H`` returns (default `AdjointOperator`; a self-adjoint
      operator returns itself).
    - ``_normal(weights)``: the operator ``gram`` returns (default ``A.H @ A``), where a cheaper form exists.
    - ``_tensor_inputs()`` and ``_tensor_inputs_vjp``: tensors other than the input that the kernels depend
      on and that autograd differentiates (a k-space trajectory being learned), see `bridges.autograd`.
    - ``_subset(views)``: the operator on some of its views, for ordered subsets (CT and PET).
    - ``_default_device()``: where ``device`` says it runs, where that is not where its buffers live.

    A per-item operator (``item_axes = 1``: `bridges.mri.CartesianSense` with maps ``(B, C, y, x)`` or masks
    ``(B, y, x)``, `bridges.pet.SystemModel` with μ-maps ``(B, y, x)``) holds a batch of B operators, one per
    item, as one: the item axis is the first of its domain and range, ``(B, *item shape)``, and it runs as one
    batched kernel call. Solvers and metrics reduce over the item's own axes, so each item keeps its own step
    sizes and scores.
    """

    batched_kernels = False
    # 1 for a per-item operator: the first axis of domain and range indexes items, each with its own parameters
    # (coil maps, masks, μ-maps), and the operator is block-diagonal over it; solvers and metrics then work per item.
    item_axes = 0
    # True where the kernels are plain torch code that torch.compile traces (the algebra's A.H, A @ B, c A, A + B,
    # FFT-only operators); the others' kernels (ASTRA, SigPy, FINUFFT) are one opaque custom op to it.
    traceable = False
    background: torch.Tensor | None  # a buffer (registered in __init__), declared for the type checker

    def __init__(self, domain_shape, range_shape, domain_dtype=torch.float32, range_dtype=None):
        super().__init__()
        self.domain_shape = _checked_shape(domain_shape, "domain_shape")
        self.range_shape = _checked_shape(range_shape, "range_shape")
        self.domain_dtype = domain_dtype
        self.range_dtype = domain_dtype if range_dtype is None else range_dtype
        # The additive term of the measurement model, in range units; a subclass assigns a tensor.
        self.register_buffer("background", None)
        self._norm = None
        self._adjoint_ref = None  # the operator H returned, held weakly (it holds this one strongly)
        self._sensitivity = {}  # A^H 1 per device
        self._subsets, self._subsets_device = {}, None  # n_subsets -> [subset operators], and where they were cut
        # The custom op's key; a traceable operator needs none (and is often made in compiled code, as A.H in a
        # model's forward, where registering would be a side effect for Dynamo to guard on).
        self._key = None if self.traceable else register(self)

    def __getstate__(self):
        state = self.__dict__.copy()
        state["_adjoint_ref"] = None  # a weak reference neither pickles nor may a copy share its original's H
        return state

    def __setstate__(self, state):
        # a copy (copy.deepcopy, pickle) is an operator of its own: it needs its own key
        super().__setstate__(state)
        self._key = None if self.traceable else register(self)

    # --- kernels a subclass implements -------------------------------------
    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def _adjoint(self, y: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    # --- hooks a subclass may implement --------------------------------------
    def _adjoint_operator(self) -> LinearOperator:
        """The operator A^H that ``H`` returns and keeps."""
        return AdjointOperator(self)

    def _normal(self, weights) -> LinearOperator:
        """The operator A^H W A that ``gram`` returns; weights None (W = I) unless a subclass takes them."""
        if weights is not None:
            raise TypeError(f"{type(self).__name__}.gram takes no weights, got {type(weights).__name__}")
        return ComposedOperator(self.H, self)

    def _tensor_inputs(self) -> tuple:
        """Tensors besides the input that the kernels depend on, as (name, tensor) pairs
        (``(("coordinates", k),)``), where autograd should differentiate them; none by default. An operator
        giving any implements `_tensor_inputs_vjp`, and runs eagerly while they require grad."""
        return ()

    def _tensor_inputs_vjp(self, x: torch.Tensor, grad: torch.Tensor, adjoint: bool) -> tuple:
        """The gradients of Re<grad, A x> (A^H x if ``adjoint``) with respect to `_tensor_inputs`, in its order
        (None for one that needs none), for a flat batch x (N, *shape) and its output's cotangent ``grad``."""
        raise NotImplementedError(f"{type(self).__name__} has tensor inputs but no vector-Jacobian product")

    # --- public application --------------------------------------------------
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """A x for x of shape (*batch, *domain_shape)."""
        return self._checked_apply(
            False, x, self.domain_shape, self.domain_dtype, self.range_shape, self.range_dtype, "input"
        )

    def adjoint(self, y: torch.Tensor) -> torch.Tensor:
        """A^H y for y of shape (*batch, *range_shape)."""
        return self._checked_apply(
            True, y, self.range_shape, self.range_dtype, self.domain_shape, self.domain_dtype, "adjoint input"
        )

    def _checked_apply(self, adjoint, x, in_shape, in_dtype, out_shape, out_dtype, what):
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"{type(self).__name__}: expected {what} as a torch.Tensor, got {type(x).__name__}")
        n = len(in_shape)
        if x.dim() < n or tuple(x.shape[x.dim() - n :]) != in_shape:
            raise ValueError(
                f"{type(self).__name__}: expected {what} of shape {_shape_str(in_shape)}, got {tuple(x.shape)}"
            )
        wide = x.dtype == _WIDER.get(in_dtype)
        if x.dtype != in_dtype and not wide:
            raise TypeError(
                f"{type(self).__name__}: expected {what} of dtype {in_dtype}"
                f"{' or ' + str(_WIDER[in_dtype]) if in_dtype in _WIDER else ''}, got {x.dtype}"
            )
        batch = x.shape[: x.dim() - n]
        # reshape copies only a non-contiguous input; kernels always see contiguous memory
        flat = x.to(in_dtype).reshape(-1, *in_shape).contiguous()
        out = apply_operator(self, flat, adjoint).reshape(*batch, *out_shape)
        return out.to(_WIDER.get(out_dtype, out_dtype)) if wide else out

    def _kernel(self, x, adjoint: bool):
        """The raw kernels on a flat batch (N, *shape), outside autograd."""
        if adjoint:
            return self._apply_kernel(self._adjoint, x, self.domain_shape, self.domain_dtype)
        return self._apply_kernel(self._forward, x, self.range_shape, self.range_dtype)

    def _apply_kernel(self, kernel, x, out_shape, out_dtype):
        if x.shape[0] == 0:  # an empty batch has an empty result; FINUFFT, MKL's FFT and torch.stack refuse one
            return torch.empty(0, *out_shape, dtype=out_dtype, device=x.device)
        # Kernels see plain memory: DLPack refuses tensors that require grad, and NumPy ones with a lazy
        # conjugate or negative bit (autograd hands such views to the backward of a complex operator).
        x = x.detach().resolve_conj().resolve_neg()
        if self.batched_kernels:
            return kernel(x)
        if x.shape[0] == 1:
            return kernel(x[0]).reshape(1, *out_shape)
        return torch.stack([kernel(item) for item in x])

    # --- algebra -------------------------------------------------------------
    @property
    def H(self) -> LinearOperator:
        """The adjoint as an operator: ``A.H(y) == A.adjoint(y)``; the same object while it lives, and
        ``A.H.H is A``.

        Kept by a weak reference: the adjoint holds A (a registered submodule), so a strong one back would
        make a cycle, left to the garbage collector, and would recurse in ``state_dict``.
        """
        adjoint = None if self._adjoint_ref is None else self._adjoint_ref()
        if adjoint is None:
            adjoint = self._adjoint_operator()
            self._adjoint_ref = weakref.ref(adjoint)
        return adjoint

    @property
    def T(self) -> LinearOperator:
        """The transpose of a real operator (CT, PET); complex operators use ``H``."""
        if self.domain_dtype.is_complex or self.range_dtype.is_complex:
            raise TypeError(f"{type(self).__name__} is complex: use .H for its adjoint, not .T")
        return self.H

    def __matmul__(self, other):
        if isinstance(other, LinearOperator):
            return ComposedOperator(self, other)
        if isinstance(other, torch.Tensor):
            return self.forward(other)
        return NotImplemented

    def __mul__(self, scalar):
        if isinstance(scalar, (int, float, complex)):
            return ScaledOperator(self, scalar)
        return NotImplemented

    __rmul__ = __mul__

    def __truediv__(self, scalar):
        return self * (1.0 / scalar)

    def __neg__(self):
        return ScaledOperator(self, -1.0)

    def __add__(self, other):
        if isinstance(other, LinearOperator):
            return SumOperator(self, other)
        return NotImplemented

    def __sub__(self, other):
        return self + (-other)

    def gram(self, weights=None) -> LinearOperator:
        """The normal operator A^H W A, W = diag(weights) on the range where the operator takes weights (a
        density compensation; the identity by default); ``A.H @ A`` unless a subclass has a cheaper form."""
        return self._normal(weights)

    def norm(self, n_iter: int = 50, rtol: float = 1e-4, seed: int = 0, recompute: bool = False, device=None) -> float:
        """Spectral norm ||A||_2 by power iteration on A^H A, cached after the first call.

        Runs on ``device`` (default `device`): an operator that only runs on a GPU needs it.
        """
        if self._norm is not None and not recompute:
            return self._norm
        g = torch.Generator(device="cpu").manual_seed(seed)
        x = random_input(self.domain_shape, self.domain_dtype, g, self.device if device is None else device)
        estimate = 0.0
        with torch.no_grad():
            for _ in range(n_iter):
                x = x / torch.linalg.vector_norm(x)
                ax = self.forward(x)
                new = float(torch.linalg.vector_norm(ax))
                x = self.adjoint(ax)
                if abs(new - estimate) <= rtol * new:
                    estimate = new
                    break
                estimate = new
        self._norm = estimate
        return estimate

    @property
    def device(self) -> torch.device:
        """Where the operator runs by default (`_default_device`)."""
        return self._default_device()

    def _default_device(self) -> torch.device:
        """Where its constant tensors (masks, maps, factors) live, else where an operator it is built from runs
        (a CT projector whose geometry needs CUDA), else the CPU."""
        buffer = next(self.buffers(), None)
        if buffer is not None:
            return buffer.device
        for part in self.children():
            if isinstance(part, LinearOperator) and part.device.type != "cpu":
                return part.device
        return torch.device("cpu")

    # --- the measurement model -----------------------------------------------
    def expected(self, x: torch.Tensor, background=None) -> torch.Tensor:
        """The expected measurements ``A x + s`` (autograd-aware in x), ``s`` = ``background`` if given (a number
        or a tensor broadcasting to the range), else the operator's own; ``A x`` without either."""
        y = self(x)
        s = self.background if background is None else background
        return y if s is None else y + torch.as_tensor(s, dtype=y.dtype, device=y.device)

    def sensitivity(self, device=None) -> torch.Tensor:
        """``A^H 1``, EM's normalisation image, computed once per device and kept.

        Shapes: -> domain_shape.
        """
        device = self.device if device is None else torch.device(device)
        if str(device) not in self._sensitivity:
            with torch.no_grad():
                ones = torch.ones(self.range_shape, dtype=self.range_dtype, device=device)
                self._sensitivity[str(device)] = self.adjoint(ones)
        return self._sensitivity[str(device)]

    def subset(self, views) -> LinearOperator:
        """The operator on some of its views (a slice or index array of axis -2 of the data): CT and PET only."""
        return self._subset(views)

    def _subset(self, views) -> LinearOperator:
        raise TypeError(
            f"{type(self).__name__} has no views to split into ordered subsets: expected a CT Projector "
            "or a PET SystemModel"
        )

    def subsets(self, n_subsets: int) -> list:
        """The ``n_subsets`` interleaved view subsets of ordered-subsets solvers (subset k: views k, k + n, ...),
        made once and kept with their cached sensitivities."""
        if isinstance(n_subsets, bool) or not isinstance(n_subsets, int) or n_subsets < 1:
            raise ValueError(f"n_subsets must be a positive integer, got {n_subsets!r}")
        if n_subsets == 1:
            return [self]
        if type(self)._subset is LinearOperator._subset:
            self.subset(None)  # raises the TypeError that names what has views
        if n_subsets > self.range_shape[-2]:
            raise ValueError(f"n_subsets must be at most the number of views ({self.range_shape[-2]}), got {n_subsets}")
        # Kept subsets hold tensors of their own (a PET model's factors), not buffers (as submodules they would enter
        # state_dict()), so .to() does not reach them: after a move they are cut again where the operator now is.
        if self._subsets_device != self.device:
            self._subsets.clear()
            self._subsets_device = self.device
        if n_subsets not in self._subsets:
            self._subsets[n_subsets] = [self.subset(slice(k, None, n_subsets)) for k in range(n_subsets)]
        return self._subsets[n_subsets]

    def adjoint_error(self, seed: int = 0, device=None) -> float:
        """|<Ax, y> - <x, A^H y>| / (||Ax|| ||y||) on random data on ``device`` (default `device`): the
        dot-product adjoint test of `bridges.testing`.

        The denominator is the scale of both sides (Cauchy-Schwarz), so the error is the operator's mismatch
        relative to its size, not to a near-zero product.
        """
        g = torch.Generator().manual_seed(seed)
        device = self.device if device is None else device
        x = random_input(self.domain_shape, self.domain_dtype, g, device)
        y = random_input(self.range_shape, self.range_dtype, g, device)
        with torch.no_grad():
            ax, ahy = self(x), self.adjoint(y)
        lhs, rhs = inner(ax, y), inner(x, ahy)
        if not self.domain_dtype.is_complex and self.range_dtype.is_complex:
            lhs = lhs.real  # a real-to-complex operator is adjoint for Re<., .>
        scale = torch.linalg.vector_norm(ax.to(torch.complex128)) * torch.linalg.vector_norm(y.to(torch.complex128))
        return float(abs(lhs - rhs) / scale)

    def extra_repr(self) -> str:
        dt = (
            str(self.domain_dtype)
            if self.domain_dtype == self.range_dtype
            else f"{self.domain_dtype}->{self.range_dtype}"
        )
        return f"{self.domain_shape} -> {self.range_shape}, {dt}"


def _real(dtype):
    return {torch.complex64: torch.float32, torch.complex128: torch.float64}.get(dtype, dtype)


def random_input(shape, dtype, generator: torch.Generator, device="cpu", batch=()) -> torch.Tensor:
    """Standard normal data of `dtype` (complex: independent real and imaginary parts)."""
    x = torch.randn(*batch, *shape, generator=generator, dtype=_real(dtype))
    if dtype.is_complex:
        x = torch.complex(x, torch.randn(*batch, *shape, generator=generator, dtype=x.dtype))
    return x.to(device)


def inner(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """<a, b> = sum(conj(a) * b) in double precision."""
    return torch.vdot(a.reshape(-1).to(torch.complex128), b.reshape(-1).to(torch.complex128))


def _checked_shape(shape, name):
    shape = tuple(int(s) for s in shape)
    if any(s <= 0 for s in shape):
        raise ValueError(f"{name} must have positive sizes, got {shape}")
    return shape


class AdjointOperator(LinearOperator):
    """A^H as an operator of its own."""

    batched_kernels = True
    traceable = True

    def __init__(self, op: LinearOperator):
        super().__init__(op.range_shape, op.domain_shape, op.range_dtype, op.domain_dtype)
        self.op, self.item_axes = op, op.item_axes

    def _forward(self, y):
        return self.op.adjoint(y)

    def _adjoint(self, x):
        return self.op.forward(x)

    def _adjoint_operator(self):
        return self.op

    def _tensor_inputs(self):
        return self.op._tensor_inputs()

    def _tensor_inputs_vjp(self, x, grad, adjoint):
        return self.op._tensor_inputs_vjp(x, grad, not adjoint)


class ComposedOperator(LinearOperator):
    """A @ B: x -> A(B(x))."""

    batched_kernels = True
    traceable = True

    def __init__(self, outer: LinearOperator, inner: LinearOperator):
        if inner.range_shape != outer.domain_shape or inner.range_dtype != outer.domain_dtype:
            raise ValueError(
                f"cannot compose: expected the inner range {inner.range_shape} {inner.range_dtype} to "
                f"match the outer domain, got {outer.domain_shape} {outer.domain_dtype}"
            )
        super().__init__(inner.domain_shape, outer.range_shape, inner.domain_dtype, outer.range_dtype)
        self.outer, self.inner = outer, inner
        self.item_axes = min(outer.item_axes, inner.item_axes)  # block-diagonal over items only if both are

    def _forward(self, x):
        return self.outer.forward(self.inner.forward(x))

    def _adjoint(self, y):
        return self.inner.adjoint(self.outer.adjoint(y))

    def _tensor_inputs(self):
        return self.outer._tensor_inputs() + self.inner._tensor_inputs()

    def _tensor_inputs_vjp(self, x, grad, adjoint):
        # the chain rule on x -> A(B x) (adjoint: y -> B^H(A^H y)); a part without tensor inputs costs nothing
        first, second = (self.outer, self.inner) if adjoint else (self.inner, self.outer)
        apply_first = first.adjoint if adjoint else first.forward
        apply_second = second.forward if adjoint else second.adjoint
        with torch.no_grad():
            to_second = second._tensor_inputs_vjp(apply_first(x), grad, adjoint) if second._tensor_inputs() else ()
            to_first = first._tensor_inputs_vjp(x, apply_second(grad), adjoint) if first._tensor_inputs() else ()
        # in `_tensor_inputs`' order: the outer's, then the inner's
        return to_first + to_second if adjoint else to_second + to_first


class ScaledOperator(LinearOperator):
    """c * A."""

    batched_kernels = True
    traceable = True

    def __init__(self, op: LinearOperator, scalar):
        if isinstance(scalar, complex) and not op.range_dtype.is_complex:
            raise TypeError(f"a complex scalar {scalar} cannot scale the real operator {type(op).__name__}")
        super().__init__(op.domain_shape, op.range_shape, op.domain_dtype, op.range_dtype)
        self.op, self.scalar, self.item_axes = op, scalar, op.item_axes

    def _conj(self):
        return self.scalar.conjugate() if isinstance(self.scalar, complex) else self.scalar

    def _forward(self, x):
        return self.scalar * self.op.forward(x)

    def _adjoint(self, y):
        return self._conj() * self.op.adjoint(y)

    def _tensor_inputs(self):
        return self.op._tensor_inputs()

    def _tensor_inputs_vjp(self, x, grad, adjoint):
        # Re<g, c A x> = Re<conj(c) g, A x>, and Re<g, conj(c) A^H x> = Re<c g, A^H x>
        return self.op._tensor_inputs_vjp(x, (self.scalar if adjoint else self._conj()) * grad, adjoint)


class SumOperator(LinearOperator):
    """A + B on the same spaces."""

    batched_kernels = True
    traceable = True

    def __init__(self, a: LinearOperator, b: LinearOperator):
        if (a.domain_shape, a.range_shape, a.domain_dtype, a.range_dtype) != (
            b.domain_shape,
            b.range_shape,
            b.domain_dtype,
            b.range_dtype,
        ):
            raise ValueError(f"cannot add operators on different spaces: {a.extra_repr()} and {b.extra_repr()}")
        super().__init__(a.domain_shape, a.range_shape, a.domain_dtype, a.range_dtype)
        self.a, self.b, self.item_axes = a, b, min(a.item_axes, b.item_axes)

    def _forward(self, x):
        return self.a.forward(x) + self.b.forward(x)

    def _adjoint(self, y):
        return self.a.adjoint(y) + self.b.adjoint(y)

    def _tensor_inputs(self):
        return self.a._tensor_inputs() + self.b._tensor_inputs()

    def _tensor_inputs_vjp(self, x, grad, adjoint):
        return tuple(
            grads for op in (self.a, self.b) if op._tensor_inputs() for grads in op._tensor_inputs_vjp(x, grad, adjoint)
        )


class Stacked(LinearOperator):
    """I_n ⊗ A: A on each of n stacked inputs, as one call of A on a batch of n (coil images to a NUFFT).

    Shapes: forward (*batch, n, *A.domain_shape) -> (*batch, n, *A.range_shape).
    """

    batched_kernels = True
    traceable = True

    def __init__(self, op: LinearOperator, n: int):
        super().__init__((n, *op.domain_shape), (n, *op.range_shape), op.domain_dtype, op.range_dtype)
        self.op = op

    def _forward(self, x):
        return self.op.forward(x)  # the leading (batch, n) axes are A's batch: one call, no copy

    def _adjoint(self, y):
        return self.op.adjoint(y)

    def _normal(self, weights):
        # (I ⊗ A)^H (I ⊗ W) (I ⊗ A) = I ⊗ A^H W A, for weights of A's range (shared by the n blocks)
        return Stacked(self.op.gram(weights), self.domain_shape[0])

    def _tensor_inputs(self):
        return self.op._tensor_inputs()

    def _tensor_inputs_vjp(self, x, grad, adjoint):
        shape, other = (
            (self.op.range_shape, self.op.domain_shape) if adjoint else (self.op.domain_shape, self.op.range_shape)
        )
        return self.op._tensor_inputs_vjp(x.reshape(-1, *shape), grad.reshape(-1, *other), adjoint)


class Identity(LinearOperator):
    """x -> x on ``shape``: the unit of composition (a single-coil `bridges.mri.CartesianSense`'s coil factor)."""

    batched_kernels = True
    traceable = True

    def __init__(self, shape, dtype=torch.float32, item_axes: int = 0):
        super().__init__(shape, shape, dtype)
        self.item_axes = item_axes

    def _forward(self, x):
        return x

    _adjoint = _forward

    def _adjoint_operator(self) -> Identity:
        return self


class MatrixOperator(LinearOperator):
    """A dense matrix as an operator: y = M x, on flat vectors (a reference and a test tool).

    Shapes: M (m, n); forward (*batch, n) -> (*batch, m).
    """

    batched_kernels = True
    matrix: torch.Tensor  # a buffer

    def __init__(self, matrix: torch.Tensor):
        if matrix.dim() != 2:
            raise ValueError(f"expected a matrix of shape (m, n), got {tuple(matrix.shape)}")
        super().__init__((matrix.shape[1],), (matrix.shape[0],), matrix.dtype)
        self.register_buffer("matrix", matrix)

    def _forward(self, x):
        return x @ self.matrix.T

    def _adjoint(self, y):
        return y @ self.matrix.conj()
