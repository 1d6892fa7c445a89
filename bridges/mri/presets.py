"""MRI protocol presets from public descriptions, each field sourced: ``protocol(name)``, the names in ``PRESETS``.

``"fastmri-brain-2d"`` (4x) and ``"fastmri-brain-2d-8x"``: the fastMRI multi-coil brain track (Zbontar et al., "fastMRI: An Open
Dataset and Benchmarks for Accelerated MRI", arXiv:1811.08839; Muckley et al., "Results of
the 2020 fastMRI Challenge for Machine Learning MR Image Reconstruction", IEEE TMI 2021;
facebookresearch/fastMRI ``fastmri/data/README.md`` and ``fastmri/data/subsample.py``):
2D axial T1, T1-post, T2 and FLAIR, Cartesian, k-space undersampled along phase-encode
columns at 4x (8 % centre) and 8x (4 % centre), images evaluated on the central 320 x 320.

Example::

    >>> p = protocol("fastmri-brain-2d")
    >>> p.image_shape, p.n_coils, p.acceleration
    ((320, 320), 16, 4.0)
    >>> mask = p.mask(seed=1)         # p.operator(maps): CartesianSense with this mask
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch

from .cartesian import CartesianSense
from .masks import mask_equispaced, mask_random


@dataclass(frozen=True, kw_only=True)
class MRIProtocol:
    """A 2D Cartesian acquisition: image shape (y, x), FOV in mm, coils, acceleration and mask pattern."""

    name: str
    image_shape: tuple
    fov: tuple
    n_coils: int
    acceleration: float
    center_fraction: float
    trajectory: str  # "cartesian-equispaced" or "cartesian-random" (columns along x)
    source: str

    def mask(self, seed: int = 0) -> torch.Tensor:
        """The protocol's sampling mask, (y, x) float32."""
        fn = mask_equispaced if self.trajectory == "cartesian-equispaced" else mask_random
        return fn(self.image_shape, self.acceleration, self.center_fraction, seed=seed)

    def operator(self, maps: torch.Tensor, seed: int = 0) -> CartesianSense:
        """CartesianSense with the protocol's mask; maps must be (n_coils, *image_shape)."""
        if tuple(maps.shape) != (self.n_coils, *self.image_shape):
            raise ValueError(
                f"expected maps of shape {(self.n_coils, *self.image_shape)} for {self.name}, got {tuple(maps.shape)}"
            )
        return CartesianSense(maps, self.mask(seed))


_FASTMRI = "fastMRI brain (arXiv:1811.08839; Muckley et al. IEEE TMI 2021; github.com/facebookresearch/fastMRI)"

# 320 x 320: the evaluated (reconstruction_rss) crop. 16 coils: the most common array in the brain
# set, which ranges over several coil counts. FOV: fastMRI gives it per file (ISMRMRD header); 220 mm
# is a typical axial brain FOV and our assumption, not a fastMRI constant.
_FASTMRI_BRAIN_2D = MRIProtocol(
    name="fastMRI brain 2D, 4x",
    image_shape=(320, 320),
    fov=(220.0, 220.0),
    n_coils=16,
    acceleration=4.0,
    center_fraction=0.08,
    trajectory="cartesian-equispaced",
    source=_FASTMRI,
)
PRESETS = {
    "fastmri-brain-2d": _FASTMRI_BRAIN_2D,
    "fastmri-brain-2d-8x": dataclasses.replace(
        _FASTMRI_BRAIN_2D, name="fastMRI brain 2D, 8x", acceleration=8.0, center_fraction=0.04
    ),
}


def protocol(name: str) -> MRIProtocol:
    """A published MRI protocol by name (``PRESETS``' keys); its source in ``.source``.

    Example::

        >>> float(protocol("fastmri-brain-2d-8x").mask(seed=1).mean())
        0.125
    """
    if name not in PRESETS:
        raise ValueError(f"expected an MRI protocol preset, one of {sorted(PRESETS)}, got {name!r}")
    return PRESETS[name]
