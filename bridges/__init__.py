"""recon-bridges: scanner physics (CT, MRI, PET) as autograd-aware PyTorch operators."""
from .operator import (AdjointOperator, ComposedOperator, LinearOperator, MatrixOperator, ScaledOperator,
                       SumOperator)
from . import testing

__all__ = ["LinearOperator", "AdjointOperator", "ComposedOperator", "ScaledOperator", "SumOperator",
           "MatrixOperator", "testing"]
__version__ = "0.1.0"
