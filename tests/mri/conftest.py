import pytest
import torch


@pytest.fixture
def maps():
    """Smooth, normalised coil maps (4 coils, 12 x 10): Σ|S_c|² = 1 as ESPIRiT gives."""
    y, x = torch.meshgrid(torch.linspace(-1, 1, 12), torch.linspace(-1, 1, 10), indexing="ij")
    centres = [(-1, -1), (-1, 1), (1, -1), (1, 1)]
    s = torch.stack(
        [torch.exp(-((y - cy) ** 2 + (x - cx) ** 2) / 2) * torch.exp(1j * (cx * x + cy * y)) for cy, cx in centres]
    ).to(torch.complex64)
    return s / torch.linalg.vector_norm(s, dim=0)
