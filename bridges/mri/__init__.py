"""MRI physics on SigPy: Cartesian, NUFFT and SENSE operators, masks, trajectories, ESPIRiT, reconstructions."""
from .cartesian import CartesianSense, fft2c, ifft2c
from .masks import mask_equispaced, mask_poisson, mask_random
from .nufft import NUFFT, ndft_matrix
from .sense import Sense
from .sigpy_adapter import SigpyOperator, from_sigpy
from .trajectories import radial, spiral

__all__ = ["from_sigpy", "SigpyOperator", "CartesianSense", "fft2c", "ifft2c",
           "mask_equispaced", "mask_random", "mask_poisson",
           "NUFFT", "ndft_matrix", "Sense", "radial", "spiral"]
