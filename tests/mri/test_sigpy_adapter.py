"""from_sigpy against SigPy's own linops: values, adjoint, autograd, zero-copy, bad input."""

import numpy as np
import pytest
import sigpy as sp
import torch

from bridges.mri import from_sigpy
from bridges.mri.sigpy_adapter import to_array
from bridges.testing import check_operator, host_device_bytes
from tests.conftest import assert_gpu_resident, crandn, rel


def test_values_equal_sigpy_both_ways():
    L = sp.linop.Multiply((6, 5), crandn(6, 5, seed=1).numpy()) * sp.linop.FFT((6, 5))
    A, x, y = from_sigpy(L), crandn(6, 5, seed=2), crandn(6, 5, seed=3)
    assert rel(A(x), L(x.numpy())) < 1e-6
    assert rel(A.H(y), L.H(y.numpy())) < 1e-6


@pytest.mark.parametrize(
    "linop",
    [sp.linop.FFT((6, 5)), sp.linop.Wavelet((8, 8), wave_name="haar"), sp.linop.Resize((7, 9), (6, 5))],
    ids=["fft", "wavelet", "resize"],
)
def test_passes_operator_checks(linop):
    check_operator(from_sigpy(linop), adjoint_rtol=1e-5)


def test_real_to_complex_linop_is_adjoint_for_real_inner_product():
    A = from_sigpy(sp.linop.FFT((6, 5)), domain_dtype=torch.float32)
    check_operator(A, adjoint_rtol=1e-5)
    assert A.H(crandn(6, 5)).dtype == torch.float32


def test_cpu_tensors_are_shared_not_copied():
    x = crandn(6, 5)
    assert np.shares_memory(to_array(x), x.numpy()) and to_array(x).ctypes.data == x.data_ptr()


def test_identity_linop_does_not_alias_its_input():
    x = crandn(4)
    y = from_sigpy(sp.linop.Identity((4,)))(x)
    y.add_(1)
    assert rel(x, crandn(4)) == 0


def test_bad_input():
    A = from_sigpy(sp.linop.FFT((6, 5)))
    with pytest.raises(TypeError, match="expected a sigpy.linop.Linop, got ndarray"):
        from_sigpy(np.eye(3))
    with pytest.raises(TypeError, match="complex64 or torch.complex128, got torch.float32"):
        A(torch.randn(6, 5))
    with pytest.raises(ValueError, match=r"expected input of shape \(\.\.\., 6, 5\), got \(5, 6\)"):
        A(crandn(5, 6))


@pytest.mark.cuda
def test_cuda_tensor_stays_on_gpu_or_names_cupy():
    A, x = from_sigpy(sp.linop.FFT((6, 5))), crandn(6, 5).cuda()
    try:
        import cupy  # noqa: F401
    except ImportError:
        with pytest.raises(TypeError, match="CuPy"):
            A(x)
        return
    y = A(x)
    assert y.is_cuda and rel(y.cpu(), sp.fft(x.cpu().numpy())) < 1e-6


@pytest.mark.cuda
def test_a_linop_of_cupy_arrays_copies_nothing_one_of_numpy_arrays_copies_its_arrays():
    """What the docstring warns of: SigPy copies a linop's NumPy arrays to the GPU at each call on CUDA data."""
    cupy = pytest.importorskip("cupy")
    w, x = crandn(128, 128), crandn(4, 128, 128, seed=1).cuda()
    on_gpu = from_sigpy(sp.linop.Multiply((4, 128, 128), cupy.asarray(w.numpy())))
    y = assert_gpu_resident(on_gpu, x, data_bytes=2 * x.nbytes)
    assert y.is_cuda and rel(y, x.cpu() * w) < 1e-6
    _, copied = host_device_bytes(from_sigpy(sp.linop.Multiply((4, 128, 128), w.numpy())), x)
    assert copied >= w.nbytes
