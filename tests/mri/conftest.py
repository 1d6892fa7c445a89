import numpy as np
import pytest
import torch


def crandn(*shape, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.complex(torch.randn(*shape, generator=g), torch.randn(*shape, generator=g))


def rel(a, b):
    a, b = torch.as_tensor(np.asarray(a) if not isinstance(a, torch.Tensor) else a), torch.as_tensor(
        np.asarray(b) if not isinstance(b, torch.Tensor) else b)
    return float(torch.linalg.vector_norm((a - b).to(torch.complex128)) / torch.linalg.vector_norm(b.to(torch.complex128)))


@pytest.fixture
def maps():
    """Smooth, normalised coil maps (4 coils, 12 x 10): Σ|S_c|² = 1 as ESPIRiT gives."""
    y, x = torch.meshgrid(torch.linspace(-1, 1, 12), torch.linspace(-1, 1, 10), indexing="ij")
    centres = [(-1, -1), (-1, 1), (1, -1), (1, 1)]
    s = torch.stack([torch.exp(-((y - cy) ** 2 + (x - cx) ** 2) / 2) * torch.exp(1j * (cx * x + cy * y))
                     for cy, cx in centres]).to(torch.complex64)
    return s / torch.linalg.vector_norm(s, dim=0)
