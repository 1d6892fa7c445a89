"""The custom op ``bridges::apply`` (`bridges.autograd`) under `torch.library.opcheck`, on the CPU: its schema,
its fake implementation against the real kernels (shapes, dtypes, strides), its registered autograd, and AOT
dispatch with dynamic shapes, for each kind of kernel behind it (a dense matrix, real and complex; ASTRA's)."""

import pytest
import torch
from torch.testing._internal.optests import OpCheckError  # what opcheck raises, not exported elsewhere

from bridges import MatrixOperator, ct
from bridges.operator import LinearOperator
from tests.conftest import crandn


def operators():
    g = torch.Generator().manual_seed(0)
    geometry = ct.ParallelBeam2D(angles=6, n_detectors=12, detector_spacing=1.0, image_shape=(8, 8))
    return {
        "matrix": MatrixOperator(torch.randn(5, 3, generator=g)),
        "complex matrix": MatrixOperator(crandn(5, 3, seed=1)),
        "ct projector": ct.Projector(geometry, n_threads=1),
    }


def opcheck(op: LinearOperator, adjoint: bool, seed: int = 0):
    shape, dtype = (op.range_shape, op.range_dtype) if adjoint else (op.domain_shape, op.domain_dtype)
    g = torch.Generator().manual_seed(seed)
    x = (crandn(2, *shape, seed=seed) if dtype.is_complex else torch.randn(2, *shape, generator=g)).to(dtype)
    # the op is compiled code's door to an operator: a flat, contiguous batch (N, *shape) and the operator's key
    torch.library.opcheck(torch.ops.bridges.apply.default, (x.requires_grad_(), op._key, adjoint))


@pytest.mark.parametrize("name", ["matrix", "complex matrix", "ct projector"])
@pytest.mark.parametrize("adjoint", [False, True], ids=["forward", "adjoint"])
def test_apply_passes_opcheck(name, adjoint):
    op = operators()[name]
    assert not op.traceable and op._key is not None  # else compiled code traces it and never calls the op
    opcheck(op, adjoint)


class WrongDtype(LinearOperator):
    """Declares float32 data but its kernel returns float64: the fake implementation, built from the declared
    spaces, then disagrees with the real kernel."""

    batched_kernels = True

    def __init__(self):
        super().__init__((3,), (3,))

    def _forward(self, x):
        return x.double()

    def _adjoint(self, y):
        return y.double()


def test_opcheck_catches_a_kernel_that_breaks_its_declared_spaces():
    """The check above can fail: a kernel whose output is not what the fake implementation promises is refused."""
    with pytest.raises(OpCheckError, match="test_faketensor"):
        opcheck(WrongDtype(), adjoint=False)
