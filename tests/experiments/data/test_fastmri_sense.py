"""fastMRI slices as items with their own operator: on small files in fastMRI's layout, the item's CartesianSense
explains its data, the target's magnitude is the file's reconstruction_rss, and bad settings are named."""

import zlib
from functools import partial

import h5py
import numpy as np
import pytest
import torch

from bridges.mri import CartesianSense, mask_equispaced
from experiments.data.fastmri_sense import FastMRISense, compress_coils, crop_or_pad
from experiments.data.files import open_hdf5
from tests.conftest import crandn, rel
from tests.experiments.data.fastmri_files import RECON, write_volume

MASK = partial(mask_equispaced, acceleration=2, center_fraction=0.375)  # 12 of 32 central columns


@pytest.fixture(scope="module")
def volume(tmp_path_factory):
    path = tmp_path_factory.mktemp("fastmri") / "file1000.h5"
    write_volume(path)
    return path


def test_item_operator_explains_its_data_and_target_is_the_files_rss(volume):
    data = FastMRISense(volume, image_size=RECON, n_coils=4, mask=MASK, calib_width=12)
    assert len(data) == 2
    item = data[1]
    assert item["y"].shape == (4, RECON, RECON) and item["maps"].shape == (4, RECON, RECON)
    assert item["x"].shape == (RECON, RECON) and item["x"].dtype == torch.complex64
    torch.testing.assert_close(item["mask"], MASK((RECON, RECON), seed=item_seed(volume)))
    A = CartesianSense(item["maps"], item["mask"])
    assert rel(A(item["x"]), item["y"]) < 0.05  # noiseless data: the ESPIRiT operator fits them
    assert abs(float(A.H(item["y"]).abs().max()) - 1) < 1e-5  # scaled by the zero-filled image's peak
    with open_hdf5(volume) as f:
        reference = torch.from_numpy(f["reconstruction_rss"][1])
    support = item["maps"].abs().sum(0) > 0
    magnitude = item["x"].abs()[support]
    scale = float((magnitude * reference[support]).sum() / (magnitude**2).sum())
    assert rel(scale * magnitude, reference[support]) < 0.05


def item_seed(path):
    return zlib.crc32(path.name.encode())  # the mask is drawn per volume, as FastMRISlices draws it


def test_crop_or_pad_and_coil_compression():
    x = torch.arange(20.0).reshape(4, 5)
    torch.testing.assert_close(
        crop_or_pad(x, (2, 7)), torch.tensor([[0, 5, 6, 7, 8, 9, 0], [0, 10, 11, 12, 13, 14, 0.0]])
    )
    k = crandn(5, 8, 8)
    kept = compress_coils(k, k[:, 2:6, 2:6], 5)  # all coils: a unitary change of basis keeps the energy
    assert abs(float(torch.linalg.vector_norm(kept) / torch.linalg.vector_norm(k)) - 1) < 1e-5
    low_rank = torch.einsum("c,yx->cyx", crandn(5, seed=1), crandn(8, 8, seed=2))
    one = compress_coils(low_rank, low_rank, 1)  # rank one: one virtual coil holds it all
    assert abs(float(torch.linalg.vector_norm(one) / torch.linalg.vector_norm(low_rank)) - 1) < 1e-5


def test_bad_settings_are_named(volume):
    with pytest.raises(ValueError, match=r"expected at least n_coils = 8 coils in file1000.h5, got 6"):
        FastMRISense(volume, image_size=RECON, n_coils=8, mask=MASK, calib_width=12)  # named before any item
    with pytest.raises(
        ValueError, match=r"expected the mask to sample the calib_width = 16 central lines .*got 13 of them"
    ):
        FastMRISense(volume, image_size=RECON, n_coils=4, mask=MASK, calib_width=16)[0]
    with pytest.raises(ValueError, match=r"expected calib_width <= image_size \(32\), got 40"):
        FastMRISense(volume, image_size=RECON, n_coils=4, mask=MASK, calib_width=40)
    with pytest.raises(ValueError, match=r"expected the mask function to return shape \(32, 32\), got \(32,\)"):
        FastMRISense(volume, image_size=RECON, n_coils=4, mask=lambda shape, seed: torch.ones(32), calib_width=12)[0]
    with pytest.raises(TypeError, match="expected mask as a callable"):
        FastMRISense(volume, image_size=RECON, n_coils=4, mask=None)


@pytest.mark.parametrize(
    "value, message",
    [
        (np.nan, r"expected finite k-space in bad.h5 slice 1, got 64 non-finite values \(NaN or Inf\)"),
        (np.inf, r"expected finite k-space in bad.h5 slice 1, got 64 non-finite values \(NaN or Inf\)"),
        (0.0, r"expected k-space with a nonzero value in bad.h5 slice 1, got an all-zero slice"),
        # 3e37 (< float32's 3.4e38) is finite, yet the item's FFT sums overflow to Inf (an error naming no file)
        (
            3e37,
            r"expected \|k\| <= 1.57e\+17 in bad.h5 slice 1 \(so that sums of \|k\|² over its 13824 samples "
            r"stay finite in float32\), got a maximum of 3e\+37",
        ),
    ],
    ids=["NaN", "Inf", "all-zero slice", "huge"],
)
def test_bad_kspace_values_are_named_with_file_and_slice(tmp_path, value, message):
    """Non-finite k-space once reached the coil compression's SVD (torch's LinAlgError, no file named), an all-zero
    slice ESPIRiT ("maps must be finite"), huge values the FFT ("k-space must be finite")."""
    path = tmp_path / "bad.h5"
    write_volume(path)
    with h5py.File(path, "r+") as f:
        kspace = f["kspace"][1]
        if value == 0:
            kspace[...] = 0
        else:
            kspace[2, :, 5] = value  # one column of one coil: a corrupt stretch of the slice
        f["kspace"][1] = kspace
    data = FastMRISense(path, image_size=RECON, n_coils=4, mask=MASK, calib_width=12)
    assert torch.isfinite(data[0]["y"]).all()  # the good slice
    with pytest.raises(ValueError, match=message):
        data[1]
    with pytest.raises(ValueError, match=message):
        data.check()  # the streamed pass a job runs before training: the same error


def test_file_with_a_stored_mask_is_refused(tmp_path):
    """fastMRI's test split stores under-sampled k-space and its mask; items need fully sampled k-space."""
    path = tmp_path / "file2000.h5"
    write_volume(path)
    with h5py.File(path, "r+") as f:
        f.create_dataset("mask", data=np.ones(36, bool))
    with pytest.raises(
        ValueError,
        match=r"expected fully sampled k-space in file2000.h5 .*got a file with a stored "
        r"mask \(fastMRI's test split\)",
    ):
        FastMRISense(path, image_size=RECON, n_coils=4, mask=MASK, calib_width=12)
