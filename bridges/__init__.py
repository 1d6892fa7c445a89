"""recon-bridges: scanner physics (CT, MRI, PET, SPECT) as autograd-aware PyTorch operators."""

from importlib.metadata import version as _version

from . import testing
from .operator import AdjointOperator, ComposedOperator, LinearOperator, MatrixOperator, ScaledOperator, SumOperator

__all__ = [
    "LinearOperator",
    "AdjointOperator",
    "ComposedOperator",
    "ScaledOperator",
    "SumOperator",
    "MatrixOperator",
    "testing",
]
# Defined once, in pyproject.toml; read from the installed metadata.
__version__ = _version("recon-bridges")
