"""DICOM CT series (pydicom): a volume (z, y, x) in HU or μ (1/mm) with its spacing in mm, and a Dataset of slices.

Slices are ordered by their position along the slice normal n = row cosines × column cosines (the dot product
of ImagePositionPatient with n), never by file name or InstanceNumber. Axes follow the files' patient frame
(DICOM's LPS): x along the row direction (columns of the image), y along the column direction (rows), z along n;
for an axial series (ImageOrientationPatient 1,0,0,0,1,0) x runs to the patient's left, y to posterior,
z to superior. Stored values become HU by HU = RescaleSlope · stored + RescaleIntercept, and μ by

    μ = μ_water (1 + HU / 1000),   clamped at 0 (air, and the -1024/-3024 padding outside the scan circle)

with μ_water = 0.0192 /mm (water at about 70 keV, the effective energy of a 120 kVp beam) unless given.

    volume, spacing, meta = read_dicom_series("/data/patient1/ct")   # (z, y, x) in 1/mm; spacing (z, y, x) mm
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import numpy as np
import pydicom
import torch
from torch.utils.data import Dataset

from experiments.data.phantoms import MU_WATER

UNITS = ("mu", "HU")
REQUIRED = (
    "ImagePositionPatient",
    "ImageOrientationPatient",
    "PixelSpacing",
    "Rows",
    "Columns",
    "RescaleSlope",
    "RescaleIntercept",
)
MEDIA_STORAGE_DIRECTORY = "1.2.840.10008.1.3.10"  # a DICOMDIR index, not an image


def check_mu_water(mu_water: float) -> None:
    """A ValueError unless μ_water (1/mm) is positive."""
    if not mu_water > 0:
        raise ValueError(f"expected mu_water > 0 in 1/mm, got {mu_water}")


def hu_to_mu(hu: torch.Tensor, mu_water: float = MU_WATER) -> torch.Tensor:
    """Linear attenuation from Hounsfield units: μ = μ_water (1 + HU/1000), clamped at 0; in 1/mm.

    hu_to_mu(torch.tensor([-1000.0, 0.0, 1000.0]))   # [0, 0.0192, 0.0384]
    """
    check_mu_water(mu_water)
    return (mu_water * (1 + hu / 1000)).clamp_min(0)


def _read_headers(directory: Path) -> dict:
    """{SeriesInstanceUID: [(path, header)]} of the DICOM image files directly in `directory` (no pixels read)."""
    if not directory.is_dir():
        raise FileNotFoundError(f"expected a directory of DICOM files at {directory}, found none")
    series = defaultdict(list)
    for path in sorted(p for p in directory.iterdir() if p.is_file()):
        try:
            header = pydicom.dcmread(path, stop_before_pixels=True)
        except pydicom.errors.InvalidDicomError:
            continue  # README files, thumbnails and the like sit beside series
        if header.get("SOPClassUID") != MEDIA_STORAGE_DIRECTORY:
            series[str(header.get("SeriesInstanceUID", ""))].append((path, header))
    if not series:
        raise FileNotFoundError(f"expected DICOM image files in {directory}, found none")
    return series


def _check_headers(files: list) -> None:
    for path, header in files:
        missing = [tag for tag in REQUIRED if tag not in header]
        if missing:
            raise ValueError(f"expected DICOM tags {list(REQUIRED)} in every slice, {path.name} lacks {missing}")
        if header.get("Modality") != "CT":
            raise ValueError(f"expected a CT series (Modality CT), got {header.get('Modality')!r} in {path.name}")
        if int(header.get("NumberOfFrames", 1)) != 1:
            raise ValueError(f"expected one frame per file, got {header.NumberOfFrames} in {path.name}")
        spacing = np.asarray(header.PixelSpacing, dtype=float)
        if spacing.shape != (2,) or not np.all(np.isfinite(spacing) & (spacing > 0)):
            raise ValueError(f"expected PixelSpacing as two positive mm, got {spacing.tolist()} in {path.name}")
        slope, intercept = float(header.RescaleSlope), float(header.RescaleIntercept)
        if not (np.isfinite(slope) and slope != 0 and np.isfinite(intercept)):  # HU = slope · stored + intercept
            raise ValueError(
                f"expected a finite non-zero RescaleSlope and a finite RescaleIntercept, got "
                f"{slope} and {intercept} in {path.name}"
            )
        if not np.all(np.isfinite(np.asarray(header.ImagePositionPatient, dtype=float))):
            raise ValueError(
                f"expected a finite ImagePositionPatient, got {list(header.ImagePositionPatient)} in {path.name}"
            )
    first_path, first = files[0]
    for name in ("Rows", "Columns", "PixelSpacing", "ImageOrientationPatient"):
        reference = np.asarray(first.get(name), dtype=float)
        for path, header in files[1:]:
            value = np.asarray(header.get(name), dtype=float)
            if not np.allclose(value, reference, atol=1e-4):
                raise ValueError(
                    f"expected one {name} across the series, got {reference.round(6).tolist()} in "
                    f"{first_path.name} and {value.round(6).tolist()} in {path.name}"
                )


def _slice_spacing(positions: np.ndarray, files: list) -> float:
    """The common gap between sorted slice positions (mm); uneven gaps (missing slices, tilt) are refused."""
    if len(positions) == 1:
        if "SliceThickness" not in files[0][1]:
            raise ValueError(f"expected SliceThickness for the spacing of a one-slice series ({files[0][0].name})")
        return float(files[0][1].SliceThickness)
    gaps = np.diff(positions)
    spacing = float(np.median(gaps))
    if spacing <= 0 or np.max(np.abs(gaps - spacing)) > 1e-3 * spacing + 1e-4:
        raise ValueError(
            f"expected evenly spaced slices, got gaps from {gaps.min():.4g} to {gaps.max():.4g} mm "
            f"along the slice normal"
        )
    return spacing


def scan_series(directory, series_uid: str | None = None):
    """The files of one CT series in slice order, with spacing (z, y, x) in mm and metadata; no pixels read.

    Returns (files, spacing, meta): files sorted along the slice normal; meta holds ``series_uid``,
    ``patient_id``, ``orientation`` (the six direction cosines), ``positions`` (mm along the normal) and
    ``affine``, the 4 x 4 map from voxel indices (z, y, x, 1) to patient coordinates (LPS, mm).
    """
    series = _read_headers(Path(directory))
    if series_uid is None and len(series) > 1:
        raise ValueError(
            f"expected one series in {directory}, got {len(series)}: pass series_uid= one of {sorted(series)}"
        )
    uid = series_uid if series_uid is not None else next(iter(series))
    if uid not in series:
        raise ValueError(f"expected series_uid among {sorted(series)}, got {uid!r}")
    files = series[uid]
    _check_headers(files)
    cosines = np.asarray(files[0][1].ImageOrientationPatient, dtype=float)
    normal = np.cross(cosines[:3], cosines[3:])
    positions = np.array([np.dot(np.asarray(h.ImagePositionPatient, dtype=float), normal) for _, h in files])
    order = np.argsort(positions, kind="stable")
    files, positions = [files[i] for i in order], positions[order]
    dy, dx = (float(s) for s in files[0][1].PixelSpacing)  # PixelSpacing is (between rows, between columns)
    spacing = (_slice_spacing(positions, files), dy, dx)
    affine = np.eye(4)
    affine[:3, :3] = np.stack([normal * spacing[0], cosines[3:] * dy, cosines[:3] * dx], axis=1)
    affine[:3, 3] = np.asarray(files[0][1].ImagePositionPatient, dtype=float)
    meta = {
        "series_uid": uid,
        "patient_id": str(files[0][1].get("PatientID", "")),
        "orientation": tuple(cosines),
        "positions": tuple(positions),
        "affine": affine,
        "files": [p for p, _ in files],
    }
    return files, spacing, meta


def _slice(path: Path, units: str, mu_water: float) -> torch.Tensor:
    """One file's image (y, x), float32, in HU or 1/mm."""
    ds = pydicom.dcmread(path)
    hu = torch.from_numpy(ds.pixel_array.astype(np.float64) * float(ds.RescaleSlope) + float(ds.RescaleIntercept))
    return (hu if units == "HU" else hu_to_mu(hu, mu_water)).to(torch.float32)


def _check_units(units: str, mu_water: float) -> None:
    if units not in UNITS:
        raise ValueError(f"expected units in {UNITS}, got {units!r}")
    check_mu_water(mu_water)


def read_dicom_series(directory, *, units: str = "mu", mu_water: float = MU_WATER, series_uid: str | None = None):
    """A CT series as one volume: (volume (z, y, x) float32 in 1/mm or HU, spacing (z, y, x) in mm, meta).

    μ = μ_water (1 + HU/1000) clamped at 0 for ``units="mu"``; HU = slope · stored + intercept for ``"HU"``.
    Refuses series whose slices differ in shape, pixel spacing or orientation, lack a required tag, or are
    unevenly spaced along the normal; a directory with several series needs ``series_uid``.

        volume, spacing, meta = read_dicom_series("ct/", units="HU")
    """
    _check_units(units, mu_water)
    files, spacing, meta = scan_series(directory, series_uid)
    return torch.stack([_slice(path, units, mu_water) for path, _ in files]), spacing, meta


class DicomSlices(Dataset):
    """The axial slices of one or several CT series, each read from its file on access.

    Items: ``{"x": image (y, x) float32 in 1/mm (or HU), "spacing": (dy, dx) mm, "series": int, "slice": int}``,
    slices in order along each series' normal.

        data = DicomSlices(["patient1/ct", "patient2/ct"])
        data[0]["x"].shape          # (512, 512)
    """

    def __init__(self, directories, *, units: str = "mu", mu_water: float = MU_WATER):
        _check_units(units, mu_water)
        self.units, self.mu_water = units, mu_water
        directories = [directories] if isinstance(directories, (str, Path)) else list(directories)
        self.series = [scan_series(d) for d in directories]
        self.examples = [(s, k) for s, (files, _, _) in enumerate(self.series) for k in range(len(files))]

    def __len__(self) -> int:
        return len(self.examples)

    def __getitem__(self, index: int) -> dict:
        series, k = self.examples[index]
        files, spacing, _ = self.series[series]
        return {
            "x": _slice(files[k][0], self.units, self.mu_water),
            "spacing": torch.tensor(spacing[1:], dtype=torch.float32),
            "series": series,
            "slice": k,
        }
