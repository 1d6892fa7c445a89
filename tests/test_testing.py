"""The public checker: passes correct operators at any scale, catches a wrong adjoint and a wrong backward,
and still raises under `python -O`."""

import ast
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

import bridges.testing
from bridges import MatrixOperator, ct
from bridges.testing import OperatorCheckError, adjoint_error, check_autograd, check_operator

ROOT = Path(__file__).resolve().parents[1]


def matrix(m, n, dtype, seed):
    return torch.randn(m, n, generator=torch.Generator().manual_seed(seed), dtype=dtype)


def fan_arc(pixel_size, n=24, views=7, n_detectors=341):
    """A fan beam whose gradcheck failed at 5 mm pixels under a fixed atol (its adjoint error is 1e-9)."""
    angles = np.linspace(0, 2 * np.pi, 24, endpoint=False)[:views]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # at 20 mm pixels the fan misses the image corners: irrelevant here
        return ct.FanBeam2D(
            angles=angles,
            n_detectors=n_detectors,
            detector_spacing=0.8,
            source_distance=400,
            detector_distance=400,
            detector_curve="arc",
            image_shape=(n, n),
            pixel_size=pixel_size,
        )


def small_fan(pixel_size=5.0):
    """A small fan beam at 5 mm pixels: ||A|| = 68 against Jacobian entries below 8."""
    return ct.FanBeam2D(
        angles=24,
        n_detectors=40,
        detector_spacing=1.5 * pixel_size,
        source_distance=80 * pixel_size,
        detector_distance=40 * pixel_size,
        image_shape=(8, 8),
        detector_curve="arc",
        pixel_size=pixel_size,
    )


@pytest.mark.parametrize(
    "pixel_size,n_detectors",
    [
        (5.0, 341),
        (1.0, 101),
        (20.0, 101),
        pytest.param(1.0, 341, marks=pytest.mark.slow),
        pytest.param(20.0, 341, marks=pytest.mark.slow),
    ],
)
def test_correct_projector_passes_whatever_the_pixel_size(pixel_size, n_detectors):
    """The rounding of float32 finite differences grows with ||A||; the tolerance grows with it.

    (5.0, 341) is the reported failure; a fixed atol of 1e-3 also failed (20.0, 101), in a fifth of the time.
    """
    op = ct.Projector(fan_arc(pixel_size, n_detectors=n_detectors))
    figures = check_operator(op)
    assert figures["adjoint_error"] < 1e-8
    assert figures["grad_atol"] == pytest.approx(1e-5 * op.norm())


@pytest.mark.parametrize("scale", [1e-6, 1.0, 1e6])
@pytest.mark.parametrize("dtype", [torch.float32, torch.complex64, torch.float64, torch.complex128])
def test_correct_matrix_passes_at_any_scale(scale, dtype):
    check_operator(scale * MatrixOperator(matrix(6, 5, dtype, 0)))


class _LeakyAdjoint(ct.Projector):
    """The adjoint leaks 3 % of each detector's neighbour: the bug of an off-by-one in the backprojector."""

    def _adjoint(self, y):
        return super()._adjoint(y) + 0.03 * super()._adjoint(y.roll(1, -1))


class _PerturbedAdjoint(MatrixOperator):
    """The adjoint of a matrix 1 % away from the forward's."""

    def __init__(self, m):
        super().__init__(m)
        self.register_buffer("wrong", m + 0.01 * m.abs().mean() * matrix(*m.shape, m.dtype, 99))

    def _adjoint(self, y):
        return y @ self.wrong.conj()


@pytest.mark.parametrize(
    "make",
    [
        lambda: _LeakyAdjoint(small_fan()),
        lambda: _PerturbedAdjoint(matrix(20, 30, torch.float32, 1)),
        lambda: _PerturbedAdjoint(matrix(20, 30, torch.complex128, 1)),
    ],
    ids=["projector", "float32-matrix", "complex128-matrix"],
)
def test_a_slightly_wrong_adjoint_fails_both_the_adjoint_test_and_gradcheck(make):
    op = make()
    with pytest.raises(
        OperatorCheckError,
        match=rf"^{type(op).__name__}\(.*\): adjoint test failed: "
        r"adjoint error \S+, tolerance 1e-05",
    ):
        check_operator(op)
    with pytest.raises(OperatorCheckError, match="gradcheck of forward failed with atol"):
        check_autograd(op)


class _ScaledBackward(torch.autograd.Function):
    """Forward A x, but a backward 0.1 % too large."""

    @staticmethod
    def forward(ctx, op, x):
        ctx.op = op
        return super(type(op), op).forward(x)  # the operator's own forward, past the override below

    @staticmethod
    def backward(ctx, grad):
        return None, 1.001 * ctx.op.adjoint(grad)


class _WrongBackwardProjector(ct.Projector):
    def forward(self, x):
        return _ScaledBackward.apply(self, x)


class _WrongBackwardMatrix(MatrixOperator):
    def forward(self, x):
        return _ScaledBackward.apply(self, x)


@pytest.mark.parametrize(
    "make",
    [
        lambda: _WrongBackwardProjector(small_fan()),
        lambda: _WrongBackwardMatrix(1e-6 * matrix(6, 5, torch.float32, 0)),
        lambda: _WrongBackwardMatrix(1e6 * matrix(6, 5, torch.float32, 0)),
    ],
    ids=["projector", "matrix-1e-6", "matrix-1e6"],
)
def test_a_wrong_backward_with_a_right_adjoint_fails_gradcheck(make):
    """A fixed atol of 1e-3 passed these: at 5 mm pixels 0.1 % of an entry is below it, at 1e-6 everything is."""
    op = make()
    assert adjoint_error(op) < 1e-6
    with pytest.raises(OperatorCheckError, match=r"gradcheck of forward failed .*Jacobian mismatch"):
        check_operator(op)


def test_figures_hold_the_measured_adjoint_error():
    op = ct.Projector(small_fan())
    figures = check_operator(op, seed=3)
    assert figures["adjoint_error"] == adjoint_error(op, seed=3)
    assert 0 < figures["adjoint_error"] < 1e-6


def test_still_raises_under_python_O():
    script = (
        "import sys, torch\n"
        "from bridges import MatrixOperator\n"
        "from bridges.testing import OperatorCheckError, check_autograd, check_operator\n"
        "if not sys.flags.optimize: sys.exit('not run with -O')\n"
        "class Broken(MatrixOperator):\n"
        "    def _adjoint(self, y): return 2 * super()._adjoint(y)\n"
        "op = Broken(torch.eye(3, dtype=torch.float64))\n"
        "for check in (check_operator, check_autograd):\n"
        "    try: check(op)\n"
        "    except OperatorCheckError as e: print(str(e).splitlines()[0])\n"
        "    else: sys.exit(check.__name__ + ' passed a broken operator')\n"
    )
    run = subprocess.run([sys.executable, "-O", "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert lines[0].startswith("Broken((3,) -> (3,), torch.float64): adjoint test failed: adjoint error")
    assert lines[1].startswith("Broken((3,) -> (3,), torch.float64): gradcheck of forward failed")


def test_no_assert_statement_left_in_the_checker():
    """`python -O` strips assert statements: the checker must raise explicitly."""
    tree = ast.parse(Path(bridges.testing.__file__).read_text())
    assert not [node.lineno for node in ast.walk(tree) if isinstance(node, ast.Assert)]


@pytest.mark.cuda
def test_host_device_bytes_sees_a_round_trip_and_not_device_work():
    from bridges.testing import host_device_bytes

    x = torch.rand(256, 256, device="cuda")
    _, on_device = host_device_bytes(lambda: (x * 2).sum())
    _, round_trip = host_device_bytes(lambda: x.cpu().cuda())
    assert on_device < x.nbytes // 100
    assert round_trip >= 2 * x.nbytes
