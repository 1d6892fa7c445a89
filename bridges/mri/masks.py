"""Cartesian sampling masks: fastMRI's equispaced and random column masks, SigPy's Poisson disc.

All masks are float32 tensors of the image shape (y, x), 1 where k-space is sampled;
the fastMRI masks sample whole columns (phase encodes along x) with a fully sampled
centre, as in Zbontar et al., "fastMRI" (arXiv:1811.08839) and ``fastmri.data.subsample``.

Example::

    >>> mask = mask_equispaced((320, 320), acceleration=4, center_fraction=0.08, seed=0)
    >>> mask.shape, round(float(mask.mean()), 3)
    (torch.Size([320, 320]), 0.25)
"""

from __future__ import annotations

import numpy as np
import torch


def _check(shape, acceleration, center_fraction):
    if len(shape) != 2 or any(int(s) <= 0 for s in shape):
        raise ValueError(f"expected image_shape (y, x) of positive sizes, got {tuple(shape)}")
    if not acceleration > 1:
        raise ValueError(f"expected acceleration > 1, got {acceleration}")
    if not 0 <= center_fraction < 1 / acceleration:
        raise ValueError(
            f"expected 0 <= center_fraction < 1/acceleration = {1 / acceleration:.3g}, got {center_fraction}"
        )


def _columns(shape, sampled: np.ndarray, num_low: int) -> torch.Tensor:
    nx = shape[1]
    pad = (nx - num_low + 1) // 2
    sampled[pad : pad + num_low] = True  # the fully sampled centre, placed as fastMRI places it
    return torch.from_numpy(np.broadcast_to(sampled, shape).astype(np.float32))


def mask_equispaced(image_shape, acceleration: float, center_fraction: float, seed: int = 0) -> torch.Tensor:
    """Equispaced columns plus a fully sampled centre (fastMRI ``EquispacedMaskFunc``).

    The spacing is adjusted so that centre plus equispaced lines give ``1/acceleration``
    of all columns; the offset of the first line is drawn from ``seed``.

    Shapes: image_shape (y, x) -> mask (y, x) float32.
    """
    shape = tuple(image_shape)
    _check(shape, acceleration, center_fraction)
    nx = int(shape[1])
    num_low = round(nx * center_fraction)
    if num_low * acceleration >= nx:
        raise ValueError(
            f"a centre of {num_low} of {nx} columns already holds 1/{acceleration:g} of k-space; "
            f"expected a smaller center_fraction than {center_fraction!r}"
        )
    spacing = acceleration * (num_low - nx) / (num_low * acceleration - nx)
    offset = np.random.default_rng(seed).integers(0, max(round(spacing), 1))
    sampled = np.zeros(nx, dtype=bool)
    sampled[np.around(np.arange(offset, nx - 1, spacing)).astype(np.int64)] = True
    return _columns(tuple(shape), sampled, num_low)


def mask_random(image_shape, acceleration: float, center_fraction: float, seed: int = 0) -> torch.Tensor:
    """Random columns plus a fully sampled centre (fastMRI ``RandomMaskFunc``).

    Each outer column is kept with probability (nx/acceleration - n_centre)/(nx - n_centre),
    so the expected sampled fraction is ``1/acceleration``.

    Shapes: image_shape (y, x) -> mask (y, x) float32.
    """
    shape = tuple(image_shape)
    _check(shape, acceleration, center_fraction)
    nx = int(shape[1])
    num_low = round(nx * center_fraction)
    prob = (nx / acceleration - num_low) / (nx - num_low)
    sampled = np.random.default_rng(seed).uniform(size=nx) < prob
    return _columns(tuple(shape), sampled, num_low)


def mask_poisson(image_shape, acceleration: float, calib=(24, 24), seed: int = 0) -> torch.Tensor:
    """Variable-density Poisson-disc mask over both phase encodes (``sigpy.mri.poisson``).

    Shapes: image_shape (y, x) -> mask (y, x) float32.
    """
    import sigpy.mri

    shape = tuple(image_shape)
    _check(shape, acceleration, 0)
    mask = sigpy.mri.poisson(
        tuple(int(s) for s in shape), acceleration, calib=tuple(calib), dtype=np.float32, seed=seed
    )
    return torch.from_numpy(np.ascontiguousarray(mask.real.astype(np.float32)))
