"""MRI physics on SigPy: Cartesian, NUFFT and SENSE operators, masks, trajectories, coil maps, reconstructions."""

from .cartesian import CartesianSense, fft2c, ifft2c
from .coil_maps import CoilMaps
from .coils import birdcage_maps, espirit_maps
from .masks import mask_equispaced, mask_poisson, mask_random
from .nufft import NUFFT, ndft_matrix
from .presets import PRESETS, MRIProtocol, protocol
from .recon import cg_sense, density_compensation, l1_wavelet, zero_filled
from .sense import Sense
from .sigpy_adapter import SigpyOperator, from_sigpy
from .trajectories import radial, spiral

__all__ = [
    "from_sigpy",
    "SigpyOperator",
    "CartesianSense",
    "fft2c",
    "ifft2c",
    "mask_equispaced",
    "mask_random",
    "mask_poisson",
    "NUFFT",
    "ndft_matrix",
    "Sense",
    "CoilMaps",
    "radial",
    "spiral",
    "espirit_maps",
    "birdcage_maps",
    "zero_filled",
    "density_compensation",
    "cg_sense",
    "l1_wavelet",
    "MRIProtocol",
    "protocol",
    "PRESETS",
]
