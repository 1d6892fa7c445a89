"""MRI physics on SigPy: Cartesian, NUFFT and SENSE operators, masks, trajectories, ESPIRiT, reconstructions."""
from .cartesian import CartesianSense, fft2c, ifft2c
from .masks import mask_equispaced, mask_poisson, mask_random
from .sigpy_adapter import SigpyOperator, from_sigpy

__all__ = ["from_sigpy", "SigpyOperator", "CartesianSense", "fft2c", "ifft2c",
           "mask_equispaced", "mask_random", "mask_poisson"]
