"""DICOM CT series loader on small series written with pydicom: ordering along the slice normal (not file names
or instance numbers), rescale to HU, HU to μ, spacing and patient-frame affine, and inconsistent series refused."""

import numpy as np
import pytest
import torch

from experiments.data.dicom import DicomSlices, hu_to_mu, read_dicom_series
from experiments.data.phantoms import MU_WATER
from tests.experiments.data.dicom_files import stored_values, write_series

SHAPE = (5, 32, 24)  # (z, y, x): not square, so that a transpose shows
SPACING = (2.5, 0.7, 0.8)


def hu(stored, slope=0.5, intercept=-1024.0):
    return torch.from_numpy(stored.astype(np.float64) * slope + intercept)


def test_series_read_back_in_hu(tmp_path):
    stored = stored_values(SHAPE)
    uid = write_series(tmp_path, stored, spacing=SPACING)
    volume, spacing, meta = read_dicom_series(tmp_path, units="HU")
    assert volume.shape == SHAPE and volume.dtype == torch.float32
    torch.testing.assert_close(volume, hu(stored).float(), rtol=0, atol=0)
    assert spacing == pytest.approx(SPACING) and meta["series_uid"] == uid and meta["patient_id"] == "P001"
    # the affine takes voxel (k, 0, 0) to slice k's ImagePositionPatient and (0, j, i) along the rows and columns
    for index, expected in [
        ((3, 0, 0), (-10.0, -20.0, 30.0 + 3 * 2.5)),
        ((0, 2, 5), (-10.0 + 5 * 0.8, -20.0 + 2 * 0.7, 30.0)),
    ]:
        np.testing.assert_allclose(meta["affine"] @ np.array([*index, 1.0]), [*expected, 1.0], atol=1e-9)


def test_series_in_mu(tmp_path):
    stored = stored_values(SHAPE, seed=1)
    write_series(tmp_path, stored, slope=2.0, intercept=-3000.0)
    expected_hu = hu(stored, 2.0, -3000.0)
    volume, _, _ = read_dicom_series(tmp_path)
    torch.testing.assert_close(volume, (MU_WATER * (1 + expected_hu / 1000)).clamp_min(0).float())
    assert float(volume.min()) == 0 and (expected_hu < -1000).any()  # below air is clamped, not negative
    volume, _, _ = read_dicom_series(tmp_path, mu_water=0.02)
    torch.testing.assert_close(volume, (0.02 * (1 + expected_hu / 1000)).clamp_min(0).float())
    torch.testing.assert_close(
        hu_to_mu(torch.tensor([-1000.0, 0.0, 1000.0])), torch.tensor([0.0, MU_WATER, 2 * MU_WATER])
    )


def test_coronal_series_is_ordered_along_its_normal(tmp_path):
    """Coronal slices: rows along -z, normal (0, 1, 0); the patient z of every position is the same."""
    stored = stored_values(SHAPE, seed=2)
    write_series(tmp_path, stored, orientation=(1.0, 0.0, 0.0, 0.0, 0.0, -1.0), seed=3)
    volume, spacing, meta = read_dicom_series(tmp_path, units="HU")
    torch.testing.assert_close(volume, hu(stored).float(), rtol=0, atol=0)
    np.testing.assert_allclose(meta["positions"], -20.0 + 2.5 * np.arange(5))
    np.testing.assert_allclose(meta["affine"][:3, :3], [[0, 0, 0.8], [2.5, 0, 0], [0, -0.7, 0]], atol=1e-12)


def test_slices_dataset_over_two_series(tmp_path):
    first, second = stored_values(SHAPE, seed=4), stored_values((3, 16, 16), seed=5)
    write_series(tmp_path / "a", first, spacing=SPACING)
    write_series(tmp_path / "b", second, spacing=(1.0, 0.5, 0.5))
    data = DicomSlices([tmp_path / "a", tmp_path / "b"])
    assert len(data) == 8
    item = data[6]
    assert (item["series"], item["slice"]) == (1, 1)
    torch.testing.assert_close(item["x"], hu_to_mu(hu(second[1])).float())
    torch.testing.assert_close(item["spacing"], torch.tensor([0.5, 0.5]))
    torch.testing.assert_close(DicomSlices(tmp_path / "a", units="HU")[4]["x"], hu(first[4]).float())


def edit_slice(k_edit, **values):
    def edit(k, ds):
        if k == k_edit:
            for name, value in values.items():
                if value is None:
                    delattr(ds, name)
                else:
                    setattr(ds, name, value)

    return edit


@pytest.mark.parametrize(
    "edit,message",
    [
        (edit_slice(2, PixelSpacing=[0.7, 0.9]), r"expected one PixelSpacing across the series, got \[0.7, 0.8\]"),
        (
            edit_slice(2, Rows=16, PixelData=np.zeros((16, 24), "<i2").tobytes()),
            "expected one Rows across the series, got 32.0 in IM.* and 16.0 in IM",
        ),
        (edit_slice(1, ImageOrientationPatient=[1, 0, 0, 0, 0.8, 0.6]), "expected one ImageOrientationPatient"),
        (edit_slice(3, RescaleSlope=None), r"lacks \['RescaleSlope'\]"),
        (edit_slice(0, ImagePositionPatient=None), r"lacks \['ImagePositionPatient'\]"),
        (
            edit_slice(4, ImagePositionPatient=[-10.0, -20.0, 30.0 + 5 * 2.5]),
            "expected evenly spaced slices, got gaps from 2.5 to 5 mm",
        ),
        (edit_slice(1, ImagePositionPatient=[-10.0, -20.0, 30.0]), "expected evenly spaced slices, got gaps from 0"),
        (edit_slice(0, Modality="MR"), "expected a CT series .Modality CT., got 'MR'"),
    ],
)
def test_inconsistent_series_are_refused(tmp_path, edit, message):
    write_series(tmp_path, stored_values(SHAPE), spacing=SPACING, edit=edit)
    with pytest.raises(ValueError, match=message):
        read_dicom_series(tmp_path)


def every_slice(**values):
    return lambda k, ds: [setattr(ds, name, value) for name, value in values.items()]


@pytest.mark.parametrize(
    "edit,message",
    [
        (every_slice(PixelSpacing=[0.0, 0.8]), r"expected PixelSpacing as two positive mm, got \[0.0, 0.8\] in IM"),
        (every_slice(PixelSpacing=[0.7, -0.8]), r"expected PixelSpacing as two positive mm, got \[0.7, -0.8\]"),
        (
            edit_slice(2, RescaleSlope=float("nan")),
            "expected a finite non-zero RescaleSlope .*, got nan and -1024.0 in IM",
        ),
        (edit_slice(2, RescaleSlope=0.0), "expected a finite non-zero RescaleSlope"),
        (edit_slice(0, RescaleIntercept=float("inf")), "a finite RescaleIntercept, got 0.5 and inf"),
        (edit_slice(1, ImagePositionPatient=[0.0, float("nan"), 0.0]), "expected a finite ImagePositionPatient"),
    ],
)
def test_meaningless_values_are_refused(tmp_path, edit, message):
    # each was read into a volume before: NaN voxels, or a spacing of 0 mm
    write_series(tmp_path, stored_values(SHAPE), spacing=SPACING, edit=edit)
    with pytest.raises(ValueError, match=message):
        read_dicom_series(tmp_path)


def test_other_bad_inputs(tmp_path):
    with pytest.raises(FileNotFoundError, match="expected a directory of DICOM files"):
        read_dicom_series(tmp_path / "none")
    (tmp_path / "README.txt").write_text("not DICOM")
    with pytest.raises(FileNotFoundError, match="expected DICOM image files in"):
        read_dicom_series(tmp_path)
    a = write_series(tmp_path, stored_values(SHAPE), prefix="A")
    b = write_series(tmp_path, stored_values((5, 32, 32)), prefix="B")
    with pytest.raises(ValueError, match="expected one series in .*, got 2: pass series_uid="):
        read_dicom_series(tmp_path)
    assert read_dicom_series(tmp_path, series_uid=b)[0].shape[1:] == (32, 32)
    with pytest.raises(ValueError, match=f"expected series_uid among .*{a}.*, got 'x'"):
        read_dicom_series(tmp_path, series_uid="x")
    with pytest.raises(ValueError, match=r"expected units in \('mu', 'HU'\), got 'hu'"):
        read_dicom_series(tmp_path, units="hu")
    with pytest.raises(ValueError, match="expected mu_water > 0 in 1/mm, got -1"):
        DicomSlices(tmp_path, mu_water=-1)
