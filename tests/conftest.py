"""Shared test set-up: the cuda marker's skip, the device parameter, and the helpers every test file uses."""

import numpy as np
import pytest
import torch

from bridges.operator import random_input


def rel(a, b) -> float:
    """‖a − b‖ / ‖b‖ in double precision, for tensors or arrays (complex ones too) of the same shape."""
    a, b = (torch.as_tensor(np.asarray(t)) if not isinstance(t, torch.Tensor) else t.detach().cpu() for t in (a, b))
    a, b = a.to(torch.complex128), b.to(torch.complex128)
    return float(torch.linalg.vector_norm(a - b) / torch.linalg.vector_norm(b))


def crandn(*shape, seed=0) -> torch.Tensor:
    """Complex standard normal data (independent real and imaginary parts), complex64, from a seed: the
    library's `random_input`, so that tests and the operator's own checks draw alike."""
    return random_input(shape, torch.complex64, torch.Generator().manual_seed(seed))


HOST_COPY_LIMIT = 0.05  # of the data's bytes: a copy of any tensor of the problem is far above it


def assert_gpu_resident(fn, *args, data_bytes: int, astra=None):
    """``fn(*args)`` on CUDA tensors copies less than 5 % of ``data_bytes`` between host and device; returns its result.

    ``fn`` runs once first, so that what is made once and kept (ASTRA projectors, FFT plans, FBP's constants,
    cached sensitivities) is not counted. ``astra``: the same ASTRA projections called alone; what they
    copy (ASTRA uploads each view's geometry to constant memory at every call, some 50-100 bytes a view) is
    ASTRA's, outside our reach, and allowed on top.
    """
    from bridges.testing import host_device_bytes

    fn(*args)
    allowed = 0
    if astra is not None:
        astra()
        allowed = host_device_bytes(astra)[1]
    out, copied = host_device_bytes(fn, *args)
    assert copied - allowed < HOST_COPY_LIMIT * data_bytes, (
        f"{copied} bytes copied between host and device (the same ASTRA calls alone: {allowed}), "
        f"against {data_bytes} bytes of data"
    )
    return out


def assert_operator_on_gpu(cpu, gpu, x, y, tol, astra=None):
    """Operator ``gpu`` (on CUDA) applied forward to ``x`` and adjoint to ``y`` (CPU tensors, copied to the GPU
    first): results on the GPU, no host copies (`assert_gpu_resident`; ``astra(xg, yg)`` makes the same ASTRA calls),
    each within ``tol`` of CPU operator ``cpu``'s."""
    xg, yg = x.cuda(), y.cuda()
    forward, back = assert_gpu_resident(
        lambda a, b: (gpu(a), gpu.adjoint(b)),
        xg,
        yg,
        data_bytes=2 * (x.nbytes + y.nbytes),
        astra=None if astra is None else lambda: astra(xg, yg),
    )
    assert forward.is_cuda and back.is_cuda
    assert rel(forward, cpu(x)) < tol and rel(back, cpu.adjoint(y)) < tol


def pytest_collection_modifyitems(config, items):
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs CUDA")
    for item in items:
        if "cuda" in item.keywords:
            item.add_marker(skip)


def pytest_generate_tests(metafunc):
    if "device" in metafunc.fixturenames:
        metafunc.parametrize("device", ["cpu", pytest.param("cuda", marks=pytest.mark.cuda)])
