"""Reconstructed images to files: ``.npy`` (the array), ``.nii``/``.nii.gz`` (with the voxel size), ``.png`` (8-bit).

Images are this library's (y, x), or a stack (z, y, x) of slices. NIfTI files are written so that
`experiments.data.nifti.read_nifti` returns the same array and spacing: file axes (x, y, z) with the affine
diag(-dx, -dy, dz) (our x runs to the patient's left, y to posterior, as the DICOM and NIfTI readers put them),
units mm, so the header's pixdim[1:4] is (dx, dy, dz).

    write_image("recon.nii.gz", image, voxel_size=(0.5, 0.5))       # (y, x), mm per axis
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch

SUFFIXES = (".npy", ".nii", ".nii.gz", ".png")


def image_format(path) -> str:
    """The output suffix of ``path`` (one of `SUFFIXES`), or a ValueError naming the accepted ones."""
    name = Path(path).name.lower()
    for suffix in (".nii.gz", ".nii", ".npy", ".png"):
        if name.endswith(suffix):
            return suffix
    raise ValueError(f"expected an output file ending in one of {SUFFIXES}, got {Path(path).name!r}")


def write_image(path, image, voxel_size, *, origin: str = "upper") -> Path:
    """``image`` (y, x) or (z, y, x), real, to ``path`` in the format its suffix names; ``voxel_size`` mm per axis
    in the image's order (a 2D voxel size for a stack takes 1 mm between slices). ``origin``: where row 0 is
    drawn in a PNG ("upper", MRI's convention, or "lower", CT's: images grow in y with the row).

    Returns the path written. NIfTI: pixdim (dx, dy, dz), mm. PNG: 8-bit greyscale from the image's minimum to
    its maximum; a stack as a grid of its slices, row by row.
    """
    path = Path(path)
    suffix = image_format(path)
    array = _array(image)
    voxel = tuple(float(v) for v in voxel_size)
    if (
        len(voxel) not in (array.ndim, array.ndim - 1)
        or len(voxel) < 2
        or not all(math.isfinite(v) and v > 0 for v in voxel)
    ):
        raise ValueError(
            f"expected a positive voxel size for each of the last axes of an image of shape "
            f"{array.shape}, got {voxel_size}"
        )
    if origin not in ("upper", "lower"):
        raise ValueError(f"expected origin 'upper' or 'lower', got {origin!r}")
    path.parent.mkdir(parents=True, exist_ok=True)
    if suffix == ".npy":
        np.save(path, array)
    elif suffix == ".png":
        _write_png(path, array, origin)
    else:
        _write_nifti(path, array, voxel)
    return path


def _array(image) -> np.ndarray:
    array = image.detach().cpu().numpy() if isinstance(image, torch.Tensor) else np.asarray(image)
    if np.iscomplexobj(array):
        raise TypeError(f"expected a real image (take its magnitude first), got {array.dtype}")
    if array.ndim not in (2, 3) or 0 in array.shape:
        raise ValueError(f"expected an image (y, x) or a stack (z, y, x), got shape {array.shape}")
    return np.ascontiguousarray(array, dtype=np.float32)


def _write_nifti(path: Path, array: np.ndarray, voxel: tuple):
    import nibabel as nib

    if array.ndim == 2:
        array = array[None]
    (dz, dy, dx) = voxel if len(voxel) == 3 else (1.0, *voxel)
    affine = np.diag([-dx, -dy, dz, 1.0])
    image = nib.Nifti1Image(np.ascontiguousarray(array.transpose(2, 1, 0)), affine)  # (z, y, x) -> file (x, y, z)
    image.header.set_xyzt_units("mm")
    image.header.set_zooms((dx, dy, dz))
    nib.save(image, path)


def _write_png(path: Path, array: np.ndarray, origin: str):
    from PIL import Image

    slices = array[None] if array.ndim == 2 else array
    if origin == "lower":
        slices = slices[:, ::-1]
    n, h, w = slices.shape
    columns = math.ceil(math.sqrt(n))
    rows = math.ceil(n / columns)
    grid = np.full((rows * h, columns * w), np.nan, dtype=np.float32)
    for k, plane in enumerate(slices):
        grid[(k // columns) * h : (k // columns + 1) * h, (k % columns) * w : (k % columns + 1) * w] = plane
    finite = np.isfinite(grid)
    low, high = (float(grid[finite].min()), float(grid[finite].max())) if finite.any() else (0.0, 0.0)
    scaled = np.where(finite, (grid - low) / (high - low) if high > low else 0.0, 0.0)
    Image.fromarray(np.round(np.clip(scaled, 0, 1) * 255).astype(np.uint8)).save(path)
