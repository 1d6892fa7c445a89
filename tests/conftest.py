"""Shared test set-up: the cuda marker's skip, the device parameter, and the helpers every test file uses."""
import numpy as np
import pytest
import torch


def rel(a, b) -> float:
    """‖a − b‖ / ‖b‖ in double precision, for tensors or arrays (complex ones too) of the same shape."""
    a, b = (torch.as_tensor(np.asarray(t)) if not isinstance(t, torch.Tensor) else t.detach().cpu() for t in (a, b))
    a, b = a.to(torch.complex128), b.to(torch.complex128)
    return float(torch.linalg.vector_norm(a - b) / torch.linalg.vector_norm(b))


def crandn(*shape, seed=0) -> torch.Tensor:
    """Complex standard normal data (independent real and imaginary parts), complex64, from a seed."""
    g = torch.Generator().manual_seed(seed)
    return torch.complex(torch.randn(*shape, generator=g), torch.randn(*shape, generator=g))



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
