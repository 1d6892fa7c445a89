"""NIfTI volumes (nibabel) reoriented to this library's (z, y, x), and a Dataset of their axial slices.

A file's voxel axes are brought to the closest canonical orientation (``nibabel.as_closest_canonical``: RAS+,
axes increasing to the patient's Right, Anterior, Superior), then mapped to ours as

    z = S (increasing superior),  y = P (= -A, increasing posterior),  x = L (= -R, increasing to the left)

which is nibabel's axis codes ("S", "P", "L") and the layout the DICOM reader gives an axial series (DICOM's
LPS patient frame, rows to posterior, columns to the left): the same scan read from NIfTI or DICOM is the same
array. The returned affine maps voxel indices (z, y, x, 1) to RAS+ world coordinates in mm (NIfTI's world
frame); spacing is (z, y, x) in mm, converted from metres or microns where the header says so.

    volume, spacing, affine = read_nifti("ct.nii.gz")      # (z, y, x), (dz, dy, dx) mm, 4 x 4
"""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import torch
from nibabel.orientations import apply_orientation, axcodes2ornt, io_orientation, ornt_transform
from torch.utils.data import Dataset

from experiments.data.phantoms import MU_WATER

from .dicom import check_mu_water, hu_to_mu
from .files import require_file

ZYX_AXCODES = ("S", "P", "L")
RAS_TO_ZYX = ornt_transform(axcodes2ornt(("R", "A", "S")), axcodes2ornt(ZYX_AXCODES))
TO_MM = {"mm": 1.0, "unknown": 1.0, "meter": 1000.0, "micron": 1e-3}  # an unset unit is taken as NIfTI's usual mm
UNITS = ("stored", "mu")


def _load(path) -> nib.spatialimages.SpatialImage:
    """The image at `path` (data not read), checked to be one 3D volume."""
    image = nib.squeeze_image(nib.load(require_file(path)))  # trailing size-1 axes, e.g. one time point
    if image.ndim != 3:
        raise ValueError(f"expected a 3D NIfTI volume in {Path(path).name}, got shape {image.shape}")
    return image


def _mm(image) -> float:
    unit = image.header.get_xyzt_units()[0]
    if unit not in TO_MM:
        raise ValueError(f"expected spatial units in {sorted(TO_MM)}, got {unit!r}")
    return TO_MM[unit]


def _spacing(affine: np.ndarray) -> tuple:
    return tuple(float(s) for s in np.linalg.norm(affine[:3, :3], axis=0))


def read_nifti(path):
    """One NIfTI volume as (volume (z, y, x) float32, spacing (z, y, x) mm, affine (z, y, x, 1) -> RAS+ mm).

    Values as stored (nibabel applies scl_slope and scl_inter); axes as in the module docstring.

        volume, spacing, affine = read_nifti("t1.nii")
    """
    image = _load(path)
    ours = nib.as_closest_canonical(image).as_reoriented(RAS_TO_ZYX)
    affine = ours.affine.copy()
    affine[:3] *= _mm(image)
    volume = torch.from_numpy(np.ascontiguousarray(ours.get_fdata(dtype=np.float32)))
    return volume, _spacing(affine), affine


class NiftiSlices(Dataset):
    """The axial (z) slices of one or several NIfTI volumes, each read on access without loading its volume.

    Items: ``{"x": slice (y, x) float32, "spacing": (dy, dx) mm, "volume": int, "slice": int}``; ``units="stored"``
    keeps the file's values, ``"mu"`` reads them as HU and returns μ = μ_water (1 + HU/1000) in 1/mm (CT).

        data = NiftiSlices(sorted(Path("ct").glob("*.nii.gz")), units="mu")
    """

    def __init__(self, paths, *, units: str = "stored", mu_water: float = MU_WATER):
        if units not in UNITS:
            raise ValueError(f"expected units in {UNITS}, got {units!r}")
        check_mu_water(mu_water)
        self.units, self.mu_water = units, mu_water
        self.paths = [Path(paths)] if isinstance(paths, (str, Path)) else [Path(p) for p in paths]
        self.volumes = []  # (file-axis -> (z, y, x) orientation, shape (z, y, x), spacing (z, y, x))
        for path in self.paths:
            image = _load(path)
            ornt = ornt_transform(io_orientation(image.affine), axcodes2ornt(ZYX_AXCODES))
            shape = [0, 0, 0]
            for size, (axis, _) in zip(image.shape, ornt):
                shape[int(axis)] = size
            spacing = np.zeros(3)
            spacing[ornt[:, 0].astype(int)] = np.asarray(_spacing(image.affine)) * _mm(image)
            self.volumes.append((ornt, tuple(shape), tuple(spacing)))
        self.examples = [(v, k) for v, (_, shape, _) in enumerate(self.volumes) for k in range(shape[0])]

    def __len__(self) -> int:
        return len(self.examples)

    def __getitem__(self, index: int) -> dict:
        volume, k = self.examples[index]
        ornt, shape, spacing = self.volumes[volume]
        image = nib.squeeze_image(nib.load(self.paths[volume]))
        # pick the file axis that becomes z, index it there (flipped if need be), then orient the plane to (y, x)
        z_axis = int(np.flatnonzero(ornt[:, 0] == 0)[0])
        index_in_file = k if ornt[z_axis, 1] > 0 else shape[0] - 1 - k
        plane = np.asarray(image.dataobj[tuple(index_in_file if a == z_axis else slice(None) for a in range(3))])
        in_plane = np.delete(ornt, z_axis, axis=0) - [1, 0]  # target axes 1, 2 of (z, y, x) are 0, 1 of (y, x)
        x = torch.from_numpy(np.array(apply_orientation(plane, in_plane), dtype=np.float32, order="C"))
        if self.units == "mu":
            x = hu_to_mu(x, self.mu_water)
        return {"x": x, "spacing": torch.tensor(spacing[1:], dtype=torch.float32), "volume": volume, "slice": k}
