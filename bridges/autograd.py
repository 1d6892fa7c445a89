"""How an operator meets autograd, torch.func and torch.compile.

Every application of an operator goes through one of two doors, both with the same rules: the
derivative of a linear map A (backward: A^H of the cotangent; forward mode: A of the tangent) is the
map itself, and vmap becomes the kernels' own batch dimension, one call and never a loop.
- Eager, `_Apply`, an autograd.Function in the setup_context form: autograd, double backward,
  torch.autograd.forward_ad and every torch.func transform (vmap, grad, jvp, jacrev, jacfwd, hessian).
- Under torch.compile, the custom op ``bridges::apply``: Dynamo cannot trace into ASTRA, SigPy or
  FINUFFT, so the kernels are one opaque op whose fake implementation gives the output's shape from
  the operator, and whose registered backward is the op in the other direction: no graph break.
  (A custom op's registered autograd does not serve torch.func, hence the two doors.)
- Traceable operators (the algebra's ``A.H``, ``A @ B``, ``c * A``, ``A + B``, and operators of plain torch
  code) are traced through. ``A.H``, ``c * A``, ``A + B`` and ``A.gram()`` may be made inside compiled code;
  ``A @ B`` must be made outside it (Dynamo refuses the ``@`` of two modules under ``fullgraph=True``).
- An operator whose kernels depend on tensors that require grad (its ``_tensor_inputs``: a k-space
  trajectory being learned) goes, while grad mode is on, through `_ApplyWithInputs`, which adds their
  gradients from the operator's ``_tensor_inputs_vjp``; eagerly, and for first derivatives only.
The custom op takes tensors and numbers only, so it finds its operator through a registry of weak
references keyed by an integer each operator holds (`register`).
"""

from __future__ import annotations

import itertools
import weakref

import torch
from torch.autograd.function import once_differentiable

_OPERATORS: dict = {}
_KEYS = itertools.count()


def register(op) -> int:
    """A new key for ``op``, valid while it lives."""
    key = next(_KEYS)
    _OPERATORS[key] = weakref.ref(op)
    weakref.finalize(op, _OPERATORS.pop, key, None)
    return key


def _registered(key: int):
    op = _OPERATORS[key]()
    if op is None:
        raise RuntimeError(f"the operator of key {key} no longer exists")
    return op


# The dispatch keys eager code runs with (autocast's, excluded until enabled).
_EAGER_EXCLUDED = torch._C._dispatch_tls_local_exclude_set()


@torch.library.custom_op("bridges::apply", mutates_args=())
def _apply_op(x: torch.Tensor, key: int, adjoint: bool) -> torch.Tensor:
    # A compiled graph calls this below the Conjugate and Negative fallbacks, whose keys it excludes:
    # there a kernel's lazy `maps.conj()` would silently act as `maps` (measured on Sense's adjoint).
    # The kernels are eager code on plain tensors, so they run with eager dispatch.
    with torch._C._ForceDispatchKeyGuard(torch._C._dispatch_tls_local_include_set(), _EAGER_EXCLUDED):
        out = _registered(key)._kernel(x, adjoint)
    # a custom op's output must not share its input's memory (an identity kernel may return its input)
    return out.clone() if out.untyped_storage().data_ptr() == x.untyped_storage().data_ptr() else out


@_apply_op.register_fake
def _(x, key, adjoint):
    op = _registered(key)
    shape, dtype = (op.domain_shape, op.domain_dtype) if adjoint else (op.range_shape, op.range_dtype)
    return x.new_empty((x.shape[0], *shape), dtype=dtype)


def _apply_op_setup(ctx, inputs, output):
    ctx.key, ctx.adjoint = inputs[1], inputs[2]


def _apply_op_backward(ctx, grad):
    return torch.ops.bridges.apply(grad.contiguous(), ctx.key, not ctx.adjoint), None, None


_apply_op.register_autograd(_apply_op_backward, setup_context=_apply_op_setup)


class _Apply(torch.autograd.Function):
    """y = A x (``adjoint`` False) or A^H x, on a flat batch (N, *shape); see the note above."""

    @staticmethod
    def forward(op, x, adjoint):
        return op._kernel(x, adjoint)

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.op, _, ctx.adjoint = inputs

    @staticmethod
    def backward(ctx, grad):
        return None, _Apply.apply(ctx.op, grad.contiguous(), not ctx.adjoint), None

    @staticmethod
    def jvp(ctx, _op, tangent, _adjoint):
        return _Apply.apply(ctx.op, tangent.contiguous(), ctx.adjoint)

    @staticmethod
    def vmap(info, in_dims, op, x, adjoint):
        # (vmapped, N, *shape) is a batch of vmapped·N items: one call of the batched kernels
        x = x.movedim(in_dims[1], 0)
        out = _Apply.apply(op, x.reshape(-1, *x.shape[2:]).contiguous(), adjoint)
        return out.reshape(*x.shape[:2], *out.shape[1:]), 0


class _ApplyWithInputs(torch.autograd.Function):
    """`_Apply` for an operator with tensor inputs that require grad: y = A(t) x as a function of x and t."""

    @staticmethod
    def forward(op, x, adjoint, *tensors):
        return op._kernel(x, adjoint)

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.op, x, ctx.adjoint = inputs[:3]
        ctx.save_for_backward(x)

    @staticmethod
    @once_differentiable  # the tensor inputs' gradient is not itself differentiable: a second derivative raises
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        grad = grad.contiguous()
        grad_x = ctx.op._kernel(grad, not ctx.adjoint) if ctx.needs_input_grad[1] else None
        grads = (None,) * (len(ctx.needs_input_grad) - 3)
        if any(ctx.needs_input_grad[3:]):
            grads = ctx.op._tensor_inputs_vjp(x, grad, ctx.adjoint)
        return (None, grad_x, None, *grads)


def _tracked_inputs(op) -> tuple:
    """The tensor inputs of `op` when one requires grad and grad mode is on, else ()."""
    if not torch.is_grad_enabled():
        return ()
    inputs = op._tensor_inputs()
    if not any(t.requires_grad for _, t in inputs):
        return ()
    if torch.compiler.is_compiling():  # the custom op would hold them constant, silently
        names = ", ".join(dict.fromkeys(name for name, t in inputs if t.requires_grad))
        raise RuntimeError(
            f"{type(op).__name__}: gradients with respect to the {names} run eagerly; got {names} "
            "that require grad under torch.compile"
        )
    return tuple(t for _, t in inputs)


def apply_operator(op, x: torch.Tensor, adjoint: bool) -> torch.Tensor:
    """``op`` (or its adjoint) on a flat, contiguous batch (N, *shape), through the door that fits."""
    tensors = _tracked_inputs(op)
    if tensors:
        return _ApplyWithInputs.apply(op, x, adjoint, *tensors)
    if not torch.compiler.is_compiling():
        return _Apply.apply(op, x, adjoint)
    if op.traceable:  # traced through: its parts or torch ops are the graph's, and it needs no key
        return (op._adjoint if adjoint else op._forward)(x)
    return torch.ops.bridges.apply(x, op._key, adjoint)
