import pytest

from bridges import pet
from tests.pet.phantoms import tiny_scanner


@pytest.fixture
def tiny():
    return tiny_scanner()


@pytest.fixture(params=["mmr", "d690"])
def preset(request):
    """Downsampled clinical presets, small enough for CPU tests."""
    if request.param == "mmr":
        return pet.scanner("biograph-mmr", downsample=6)
    return pet.scanner("discovery-690", downsample=8)
