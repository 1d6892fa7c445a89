"""What every learned model shares: the operator it reconstructs for, input checks, seeded set-up.

The operator is a submodule, so ``model.to(device)`` moves its buffers (masks, maps,
PET factors), but it is physics, not weights: it is left out of ``state_dict()``
and not expected by ``load_state_dict()``, so trained weights load into a model
built on another instance of the operator (another mask, another patient's maps).
"""

from __future__ import annotations

import contextlib

import torch
from torch import nn

from bridges.operator import LinearOperator

from .complex_channels import SpaceLayout


@contextlib.contextmanager
def seeded(seed: int | None):
    """Run the block with torch's CPU generator seeded, restoring the caller's state after."""
    if seed is None:
        yield
        return
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


class OperatorModel(nn.Module):
    """Base of the models in `learned`: holds ``op`` and the channel layouts of its two spaces.

    A model is called ``model(y)`` with its own operator, or ``model(y, op=batch_op)`` with the operator of this
    call: one shared by the batch (on ``op.domain_shape``, as the model's), or a per-item operator of the batch's
    N items (``item_axes = 1``, domain ``(N, *op.domain_shape)``), e.g. each fastMRI slice's coil maps and mask.
    The step sizes and scales a model takes from ``‖A‖`` at construction stay: a call's operator is assumed
    to have a comparable norm (normalised coil maps and a 0/1 mask give ``‖A‖ ≤ 1`` for every item).

    Shapes: measurements (*batch, *op.range_shape) -> images (*batch, *op.domain_shape).
    """

    def __init__(self, op: LinearOperator):
        super().__init__()
        if not isinstance(op, LinearOperator):
            raise TypeError(f"{type(self).__name__}: expected a bridges.LinearOperator, got {type(op).__name__}")
        if len(op.domain_shape) < 2:
            raise ValueError(
                f"{type(self).__name__}: expected an operator on 2D images (..., y, x), "
                f"got domain shape {op.domain_shape}"
            )
        self.op = op
        # ||A|| once, here: models scale by it in forward, where a first power iteration would stall
        # torch.compile (it cannot trace the iteration's generator); later calls return the cached value.
        op.norm()
        self.image = SpaceLayout(op.domain_shape, op.domain_dtype)
        self.data = SpaceLayout(op.range_shape, op.range_dtype)
        self.register_state_dict_post_hook(_drop_operator)
        self.register_load_state_dict_post_hook(_operator_not_expected)

    def _flat(self, t: torch.Tensor, layout: SpaceLayout, what: str):
        """Check ``t`` against ``layout`` and flatten its batch: (*batch, *shape) -> ((N, *shape), batch)."""
        n = len(layout.shape)
        if not isinstance(t, torch.Tensor):
            raise TypeError(f"{type(self).__name__}: expected {what} as a torch.Tensor, got {type(t).__name__}")
        if t.dim() < n or tuple(t.shape[t.dim() - n :]) != layout.shape or t.is_complex() != layout.is_complex:
            raise ValueError(
                f"{type(self).__name__}: expected {what} of shape {layout.describe()} for "
                f"{type(self.op).__name__} {self.op.extra_repr()}, got {tuple(t.shape)} {t.dtype}"
            )
        batch = t.shape[: t.dim() - n]
        return t.reshape(-1, *layout.shape).to(layout.dtype), batch

    def call_operator(self, op: LinearOperator | None, n: int) -> LinearOperator:
        """The operator of a call on ``n`` items: ``self.op`` if ``op`` is None, else ``op`` once checked to be on
        this model's spaces, shared (``op.domain_shape``) or per item (``(n, *op.domain_shape)``)."""
        if op is None:
            return self.op
        if not isinstance(op, LinearOperator):
            raise TypeError(
                f"{type(self).__name__}: expected op as a bridges.LinearOperator or None, got {type(op).__name__}"
            )
        spaces = (op.domain_shape, op.range_shape, op.domain_dtype, op.range_dtype)
        shared = (self.op.domain_shape, self.op.range_shape, self.op.domain_dtype, self.op.range_dtype)
        per_item = ((n, *self.op.domain_shape), (n, *self.op.range_shape), *shared[2:])
        if spaces != shared and not (spaces == per_item and op.item_axes == 1):
            raise ValueError(
                f"{type(self).__name__}: expected op on this model's spaces, {self.op.extra_repr()}, "
                f"or per item on the batch's {n} items, {per_item[0]} -> {per_item[1]}; "
                f"got {type(op).__name__} {op.extra_repr()}"
            )
        return op

    def flat_measurements(self, y: torch.Tensor):
        return self._flat(y, self.data, "measurements")

    def flat_images(self, x: torch.Tensor):
        return self._flat(x, self.image, "images")

    def scaled_adjoint(self, y: torch.Tensor, op: LinearOperator | None = None) -> torch.Tensor:
        """A^H y / ||A||²: a start image on the scale of the data (zero filling for MRI, where ||A|| = 1); A is
        ``op`` (a call's, see `call_operator`) or ``self.op``, ||A|| always the model's own."""
        return (self.op if op is None else op).adjoint(y) / self.op.norm() ** 2

    def gradient(self, x: torch.Tensor, y: torch.Tensor, op: LinearOperator | None = None) -> torch.Tensor:
        """∇ ½||A x - y||² = A^H (A x - y), A ``op`` or ``self.op``."""
        op = self.op if op is None else op
        return op.adjoint(op(x) - y)


def _drop_operator(module, state_dict, prefix, local_metadata):
    for key in [k for k in state_dict if k.startswith(prefix + "op.")]:
        del state_dict[key]


def _operator_not_expected(module, incompatible_keys):
    missing = incompatible_keys.missing_keys
    missing[:] = [k for k in missing if not (k.startswith("op.") or ".op." in k)]
