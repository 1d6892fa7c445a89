"""MRI protocol presets from public descriptions, each field sourced.

``FASTMRI_BRAIN_2D``: the fastMRI multi-coil brain track (Zbontar et al., "fastMRI: An Open
Dataset and Benchmarks for Accelerated MRI", arXiv:1811.08839; Muckley et al., "Results of
the 2020 fastMRI Challenge for Machine Learning MR Image Reconstruction", IEEE TMI 2021;
facebookresearch/fastMRI ``fastmri/data/README.md`` and ``fastmri/data/subsample.py``):
2D axial T1, T1-post, T2 and FLAIR, Cartesian, k-space undersampled along phase-encode
columns at 4x (8 % centre) and 8x (4 % centre), images evaluated on the central 320 x 320.

Example::

    p = FASTMRI_BRAIN_2D
    A = p.operator(maps)              # maps (p.coils, 320, 320): CartesianSense with p's mask
    mask = p.mask(seed=1)
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from .cartesian import CartesianSense
from .masks import mask_equispaced, mask_random


@dataclass(frozen=True)
class MRIProtocol:
    """A 2D Cartesian acquisition: matrix (y, x), FOV in mm, coils, acceleration and mask pattern."""

    name: str
    matrix: tuple
    fov_mm: tuple
    coils: int
    acceleration: float
    center_fraction: float
    trajectory: str          # "cartesian-equispaced" or "cartesian-random" (columns along x)
    source: str

    def mask(self, seed: int = 0) -> torch.Tensor:
        """The protocol's sampling mask, (y, x) float32."""
        fn = mask_equispaced if self.trajectory == "cartesian-equispaced" else mask_random
        return fn(self.matrix, self.acceleration, self.center_fraction, seed=seed)

    def operator(self, maps: torch.Tensor, seed: int = 0) -> CartesianSense:
        """CartesianSense with the protocol's mask; maps must be (coils, *matrix)."""
        if tuple(maps.shape) != (self.coils, *self.matrix):
            raise ValueError(f"expected maps of shape {(self.coils, *self.matrix)} for {self.name}, "
                             f"got {tuple(maps.shape)}")
        return CartesianSense(maps, self.mask(seed))


_FASTMRI = "fastMRI brain (arXiv:1811.08839; Muckley et al. IEEE TMI 2021; github.com/facebookresearch/fastMRI)"

# 320 x 320: the evaluated (reconstruction_rss) crop. 16 coils: the most common array in the brain
# set, which ranges over several coil counts. FOV: fastMRI gives it per file (ISMRMRD header); 220 mm
# is a typical axial brain FOV and our assumption, not a fastMRI constant.
FASTMRI_BRAIN_2D = MRIProtocol("fastMRI brain 2D, 4x", (320, 320), (220.0, 220.0), 16, 4.0, 0.08,
                               "cartesian-equispaced", _FASTMRI)
FASTMRI_BRAIN_2D_8X = MRIProtocol("fastMRI brain 2D, 8x", (320, 320), (220.0, 220.0), 16, 8.0, 0.04,
                                  "cartesian-equispaced", _FASTMRI)
