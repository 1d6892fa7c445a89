"""recon-bridges: scanner physics (CT, MRI, PET) as autograd-aware PyTorch operators."""

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
__version__ = "0.1.0"
