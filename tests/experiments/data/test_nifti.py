"""NIfTI loader on files written with nibabel: permuted, flipped, slightly oblique axes and anisotropic voxels.
Each value read back must sit at the world point nibabel's own affine gives it, along axes (S, P, L); the same
scan written as DICOM and as NIfTI reads back as the same array."""

import math

import nibabel as nib
import numpy as np
import pytest
import torch

from experiments.data.dicom import hu_to_mu, read_dicom_series
from experiments.data.nifti import NiftiSlices, read_nifti
from tests.experiments.data.dicom_files import stored_values, write_series

FILE_SHAPE = (7, 5, 6)  # file axes: 0 runs to the patient's left, 1 superior, 2 anterior


def oblique_file_affine(degrees=10.0):
    """Voxel (i, j, k) of the file -> RAS mm: i along -R (0.6 mm), j along S (3 mm), k along A (0.8 mm),
    turned by `degrees` about S so that the closest canonical orientation has to be chosen."""
    c, s = math.cos(math.radians(degrees)), math.sin(math.radians(degrees))
    turn = np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])
    affine = np.eye(4)
    affine[:3, :3] = turn @ np.array([[-0.6, 0, 0], [0, 0, 0.8], [0, 3.0, 0]])
    affine[:3, 3] = (10.0, -20.0, 5.0)
    return affine


@pytest.fixture
def nifti_file(tmp_path):
    data = np.random.default_rng(0).permutation(np.prod(FILE_SHAPE)).reshape(FILE_SHAPE).astype(np.float32)
    path = tmp_path / "volume.nii.gz"
    nib.save(nib.Nifti1Image(data, oblique_file_affine()), path)
    return path, data


def test_values_sit_where_nibabel_puts_them(nifti_file):
    path, data = nifti_file
    volume, spacing, affine = read_nifti(path)
    assert volume.shape == (5, 6, 7) and volume.dtype == torch.float32
    assert spacing == pytest.approx((3.0, 0.8, 0.6))
    # every voxel (z, y, x) read back: its world point, mapped by the file's affine, lands on the same value
    zyx = np.stack(np.meshgrid(*[np.arange(n) for n in volume.shape], indexing="ij"), -1).reshape(-1, 3)
    world = affine @ np.c_[zyx, np.ones(len(zyx))].T
    ijk = np.rint(np.linalg.inv(oblique_file_affine()) @ world)[:3].astype(int)
    np.testing.assert_array_equal(volume.numpy()[tuple(zyx.T)], data[tuple(ijk)])
    # axis directions: z superior, y posterior, x to the left (the 10-degree turn aside)
    directions = affine[:3, :3] / np.asarray(spacing)
    assert directions[2, 0] > 0.9 and directions[1, 1] < -0.9 and directions[0, 2] < -0.9


def test_same_scan_from_dicom_and_nifti(tmp_path):
    """An axial DICOM series (LPS) and a NIfTI of it (RAS = LPS with x and y negated) read back identically."""
    stored = stored_values((4, 10, 12))
    write_series(tmp_path / "dicom", stored, spacing=(2.0, 0.5, 0.75), slope=1.0, intercept=-1024.0)
    hu, _, meta = read_dicom_series(tmp_path / "dicom", units="HU")
    dicom_affine = meta["affine"]
    lps_to_ras = np.diag([-1.0, -1.0, 1.0, 1.0])
    # NIfTI stores its array (i, j, k) = (column, row, slice) as converters such as dcm2niix do
    file_affine = lps_to_ras @ dicom_affine[:, [2, 1, 0, 3]]
    nib.save(nib.Nifti1Image(hu.numpy().transpose(2, 1, 0), file_affine), tmp_path / "ct.nii")
    volume, spacing, affine = read_nifti(tmp_path / "ct.nii")
    torch.testing.assert_close(volume, hu)
    assert spacing == pytest.approx((2.0, 0.5, 0.75))
    np.testing.assert_allclose(affine, lps_to_ras @ dicom_affine, atol=1e-9)


def test_slices_dataset(nifti_file, tmp_path):
    path, _ = nifti_file
    volume, spacing, _ = read_nifti(path)
    hu = np.random.default_rng(1).uniform(-1100, 2000, (6, 8, 3)).astype(np.float32)
    # slices stored superior to inferior: the dataset must flip its slice index
    nib.save(nib.Nifti1Image(hu, np.diag([-0.5, -0.5, -2.0, 1.0])), tmp_path / "second.nii")
    data = NiftiSlices([path, tmp_path / "second.nii"])
    assert len(data) == 5 + 3
    for k in range(5):
        torch.testing.assert_close(data[k]["x"], volume[k])
    torch.testing.assert_close(data[2]["spacing"], torch.tensor(spacing[1:], dtype=torch.float32))
    second, _, _ = read_nifti(tmp_path / "second.nii")
    for k in range(3):
        torch.testing.assert_close(data[5 + k]["x"], second[k])
    item = NiftiSlices(tmp_path / "second.nii", units="mu", mu_water=0.02)[1]
    torch.testing.assert_close(item["x"], hu_to_mu(second[1], 0.02))
    assert (item["volume"], item["slice"]) == (0, 1)
    batch = next(iter(torch.utils.data.DataLoader(data, batch_size=5)))
    assert batch["x"].shape == (5, 6, 7)


def test_units_and_bad_inputs(tmp_path):
    image = nib.Nifti1Image(np.zeros((4, 4, 3), np.float32), np.diag([0.001, 0.001, 0.002, 1.0]))
    image.header.set_xyzt_units("meter")
    nib.save(image, tmp_path / "metres.nii")
    assert read_nifti(tmp_path / "metres.nii")[1] == pytest.approx((2.0, 1.0, 1.0))
    assert NiftiSlices(tmp_path / "metres.nii")[0]["spacing"].tolist() == pytest.approx([1.0, 1.0])
    nib.save(nib.Nifti1Image(np.zeros((4, 4, 3, 2), np.float32), np.eye(4)), tmp_path / "series.nii")
    with pytest.raises(ValueError, match=r"expected a 3D NIfTI volume in series.nii, got shape \(4, 4, 3, 2\)"):
        read_nifti(tmp_path / "series.nii")
    with pytest.raises(FileNotFoundError, match="missing.nii"):
        NiftiSlices(tmp_path / "missing.nii")
    with pytest.raises(ValueError, match=r"expected units in \('stored', 'mu'\), got 'HU'"):
        NiftiSlices(tmp_path / "metres.nii", units="HU")
    with pytest.raises(ValueError, match="expected mu_water > 0"):
        NiftiSlices(tmp_path / "metres.nii", units="mu", mu_water=0)
