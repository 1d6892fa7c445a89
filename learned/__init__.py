"""Learned reconstruction models that take any bridge operator (CT, MRI, PET) as an argument.

Every model maps measurements ``(*batch, *op.range_shape)`` to images ``(*batch, *op.domain_shape)``
and uses the operator only through the `bridges.LinearOperator` interface; complex spaces
travel as two real channels inside the networks (`learned.complex_channels`).

Example::

    >>> import torch
    >>> from bridges import ct
    >>> A = ct.Projector(ct.ParallelBeam2D(angles=6, n_detectors=12, detector_spacing=1.0, image_shape=(8, 8)))
    >>> LearnedPrimalDual(A, n_iter=2, width=8)(A(torch.rand(2, 8, 8))).shape
    torch.Size([2, 8, 8])
"""

from .automap import AUTOMAP
from .base import OperatorModel
from .cascade import DataConsistency, DeepCascade, is_partial_isometry
from .complex_channels import SpaceLayout
from .fbpconvnet import FBPConvNet
from .gan import DAGANLoss, PatchDiscriminator, WGANGPLoss, measurement_consistency
from .learned_gradient import FieldsOfExperts, LearnedGradient
from .primal_dual import LearnedPrimalDual
from .unet import UNet
from .varnet import NormUNet, VarNet, VarNetBlock

__all__ = [
    "LearnedPrimalDual",
    "LearnedGradient",
    "FieldsOfExperts",
    "DeepCascade",
    "DataConsistency",
    "is_partial_isometry",
    "VarNet",
    "VarNetBlock",
    "NormUNet",
    "FBPConvNet",
    "UNet",
    "PatchDiscriminator",
    "DAGANLoss",
    "WGANGPLoss",
    "measurement_consistency",
    "AUTOMAP",
    "OperatorModel",
    "SpaceLayout",
]
