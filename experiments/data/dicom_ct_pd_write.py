"""Write projections and their geometry as DICOM-CT-PD files, one per view, that `read_dicom_ct_pd` reads back:
for exporting simulations to tools that read the TCIA projection format, and for tests of the readers.

The inverse of `experiments.data.dicom_ct_pd` (its docstring fixes the conventions): per view the cylinder's
axis gives the detector's focal centre F = (ρ0, φ0, z0), the source minus ``source_shifts`` must be F, and the
detector's centre relative to F gives the central element (X, Y), which must be the same in every view.
Values are quantised to uint16 with a per-file RescaleSlope/RescaleIntercept spanning the file's range
(error at most half a slope); geometry is stored as FL (float32), as the format does.

    write_dicom_ct_pd("out/", ct.scanner("siemens-definition-as-helical", view_step=64, detector_binning=8),
                      projections)                       # (rows, views, cols) line integrals in mm
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pydicom
import torch
from pydicom.dataset import FileMetaDataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, ImplicitVRLittleEndian, generate_uid

from bridges import ct
from experiments.data.dicom_ct_pd_tags import PRIVATE_CREATOR, TAGS

__all__ = ["write_dicom_ct_pd"]


def _format_parameters(g: ct.CylConeVec3D, shifts: np.ndarray, tol: float):
    """Per view (φ0, z0, ρ0) and the central element (X, Y), from the geometry's vectors; ValueError where the
    geometry is not a DICOM-CT-PD one (rows not along +z, columns against u, source off F + shifts, ...)."""
    s, d, u, v, radius = g.sources, g.detector_centers, g.column_axes, g.row_axes, float(g.detector_radius)
    n_rows, n_cols = g.detector_shape
    d_col, d_row = np.linalg.norm(u, axis=1), np.linalg.norm(v, axis=1)
    if np.ptp(d_col) > tol * d_col.max() or np.ptp(d_row) > tol * d_row.max():
        raise ValueError(
            "expected one column pitch and one row pitch in every view, got varying column_axes or row_axes lengths"
        )
    if np.abs(v[:, :2]).max() > tol * d_row.max() or np.any(v[:, 2] <= 0):
        raise ValueError(
            "expected row_axes along +z in every view (rows along the rotation axis), got "
            f"{v[np.argmax(np.abs(v[:, :2]).sum(1))].tolist()}"
        )
    a = -np.cross(u, v) * radius / (d_col * d_row)[:, None]  # from the cylinder's axis to the detector centre
    nearer = np.linalg.norm(d - a - s, axis=1) > np.linalg.norm(d + a - s, axis=1)
    a[nearer] *= -1  # ASTRA's rule: the axis is the one nearer the source
    axis = d - a
    rho = np.linalg.norm(axis[:, :2], axis=1)
    phi = np.arctan2(-axis[:, 0], axis[:, 1])
    d_phi, d_z, d_rho = shifts.T
    z = s[:, 2] - d_z
    expected = np.stack([-(rho + d_rho) * np.sin(phi + d_phi), (rho + d_rho) * np.cos(phi + d_phi), z + d_z], 1)
    scale = radius
    if np.abs(expected - s).max() > tol * scale:
        worst = int(np.abs(expected - s).max(1).argmax())
        raise ValueError(
            f"expected every source at the detector's focal centre moved by source_shifts, view {worst} "
            f"is {np.abs(expected - s)[worst].max():.3g} mm off (pass its flying focal spot shifts)"
        )
    w0 = np.stack([np.sin(phi), -np.cos(phi), np.zeros_like(phi)], 1)
    u0 = np.stack([-np.cos(phi), -np.sin(phi), np.zeros_like(phi)], 1)
    n = a / radius
    gamma = np.arctan2((n * u0).sum(1), (n * w0).sum(1))
    tangent = np.cos(gamma)[:, None] * u0 - np.sin(gamma)[:, None] * w0
    if np.any((tangent * u).sum(1) <= 0):
        raise ValueError(
            "expected column_axes along u = (cos θ, sin θ, 0) at θ = φ0 + π, as ConeBeam3D's "
            "(columns reversed against the format's), got the opposite direction"
        )
    x = (n_cols + 1) / 2 + gamma * radius / d_col
    y = (n_rows + 1) / 2 + (d[:, 2] - z) / d_row
    for name, value, pitch in (("column", x, d_col), ("row", y, d_row)):
        if np.ptp(value) * pitch.max() > tol * scale:
            raise ValueError(
                f"expected the detector fixed about its focal centre (one DetectorCentralElement), "
                f"got its {name} varying over {np.ptp(value):.3g} elements"
            )
    return phi, z, rho, (float(x.mean()), float(y.mean())), float(d_col.mean()), float(d_row.mean())


def _ds_number(value: float) -> str:
    text = f"{value:.10g}"
    return text if len(text) <= 16 else f"{value:.8g}"


def write_dicom_ct_pd(
    directory,
    geometry,
    projections,
    *,
    source_shifts=None,
    photon_statistics=None,
    z_center: float = 0.0,
    scan_type: str | None = None,
    views_per_turn: int | None = None,
    explicit_vr: bool = True,
    tol: float = 1e-6,
) -> list:
    """Write ``projections`` (rows, views, cols) of ``geometry`` (a `CylConeVec3D`, or a geometry whose
    ``to_vec()`` is one, as ``ConeBeam3D(detector_curve="arc")`` and its ``helical`` form) as one DICOM-CT-PD
    file per view, ``directory/000001.dcm`` ...; returns the paths.

    ``source_shifts`` (views, 3): the flying focal spot's (Δφ rad, Δz mm, Δρ mm) of each view, by which the
    geometry's sources sit off the detector's focal centres (default 0). ``photon_statistics`` (views, cols):
    PhotonStatistics in our column order. ``z_center`` (mm) is added to every z (the reader's info
    ["z_center"] undoes it). ``scan_type`` AXIAL/HELICAL and ``views_per_turn`` default to what the focal
    centres show. ``explicit_vr=False`` writes implicit VR, as files whose private tags a reader without the
    dictionary sees as bytes. ``tol``: relative tolerance of the geometry checks (ValueError beyond it).
    """
    g = geometry if isinstance(geometry, ct.CylConeVec3D) else getattr(geometry, "to_vec", lambda: geometry)()
    if not isinstance(g, ct.CylConeVec3D):
        raise ValueError(
            f"expected a CylConeVec3D (or a geometry whose to_vec() is one), got {type(geometry).__name__}"
        )
    p = (
        projections.detach().cpu().double().numpy()
        if isinstance(projections, torch.Tensor)
        else np.asarray(projections, dtype=float)
    )
    if p.shape != tuple(g.sinogram_shape):
        raise ValueError(f"expected projections of shape {tuple(g.sinogram_shape)} (rows, views, cols), got {p.shape}")
    if not np.all(np.isfinite(p)):
        raise ValueError("expected finite projections, got NaN or inf")
    n_rows, n_views, n_cols = p.shape
    shifts = np.zeros((n_views, 3)) if source_shifts is None else np.asarray(source_shifts, dtype=float)
    if shifts.shape != (n_views, 3) or not np.all(np.isfinite(shifts)):
        raise ValueError(f"expected source_shifts of shape ({n_views}, 3) finite, got {shifts.shape}")
    photons = None if photon_statistics is None else np.asarray(photon_statistics, dtype=float)
    if photons is not None and photons.shape != (n_views, n_cols):
        raise ValueError(f"expected photon_statistics of shape ({n_views}, {n_cols}), got {photons.shape}")
    phi, z, rho, (x, y), d_col, d_row = _format_parameters(g, shifts, tol)
    z = z + z_center
    if scan_type is None:
        scan_type = "HELICAL" if np.ptp(z) > tol * max(1.0, np.abs(z).max()) else "AXIAL"
    if views_per_turn is None and n_views > 1:
        step = np.median(np.abs(np.diff(np.unwrap(phi))))
        views_per_turn = int(round(2 * math.pi / step)) if step > 0 else None
    moving = ["XY" if np.any(shifts[:, [0, 2]] != 0) else "", "Z" if np.any(shifts[:, 1] != 0) else ""]
    ffs = "FFS" + ("".join(moving) or "NONE")
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    series, study = generate_uid(), generate_uid()
    paths = []
    for view in range(n_views):
        image = p[::-1, view, ::-1]  # the format's rows and columns: both reversed against ours
        lo, hi = float(image.min()), float(image.max())
        intercept = _ds_number(lo)
        slope = _ds_number((hi - float(intercept)) / 65535 if hi > float(intercept) else 1.0)
        stored = np.clip(np.round((image - float(intercept)) / float(slope)), 0, 65535).astype("<u2")

        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = CTImageStorage
        meta.MediaStorageSOPInstanceUID = generate_uid()
        meta.TransferSyntaxUID = ExplicitVRLittleEndian if explicit_vr else ImplicitVRLittleEndian
        ds = pydicom.Dataset()
        ds.file_meta = meta
        ds.SOPClassUID, ds.SOPInstanceUID = CTImageStorage, meta.MediaStorageSOPInstanceUID
        ds.StudyInstanceUID, ds.SeriesInstanceUID = study, series
        ds.Modality, ds.Manufacturer = "CT", "recon-bridges"
        ds.InstanceNumber = view + 1
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.Rows, ds.Columns = n_cols, n_rows  # stored transposed, as TCIA's files are
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
        ds.RescaleIntercept, ds.RescaleSlope = intercept, slope
        ds.PixelData = np.ascontiguousarray(stored.T).tobytes()
        values = dict(
            NumberofDetectorRows=n_rows,
            NumberofDetectorColumns=n_cols,
            DetectorElementTransverseSpacing=d_col,
            DetectorElementAxialSpacing=d_row,
            DetectorShape="CYLINDRICAL",
            DetectorFocalCenterAngularPosition=float(phi[view] % (2 * math.pi)),
            DetectorFocalCenterAxialPosition=float(z[view]),
            DetectorFocalCenterRadialDistance=float(rho[view]),
            ConstantRadialDistance=float(g.detector_radius),
            DetectorCentralElement=[x, y],
            SourceAngularPositionShift=float(shifts[view, 0]),
            SourceAxialPositionShift=float(shifts[view, 1]),
            SourceRadialDistanceShift=float(shifts[view, 2]),
            FlyingFocalSpotMode=ffs,
            TypeofProjectionData=scan_type,
            TypeofProjectionGeometry="FANBEAM",
            LogFlag="YES",
        )
        if views_per_turn is not None:
            values["NumberofSourceAngularSteps"] = int(views_per_turn)
        if photons is not None:
            values["PhotonStatistics"] = photons[view, ::-1].tolist()
        for name, value in values.items():
            tag = TAGS[name]
            ds.private_block(tag.group, PRIVATE_CREATOR, create=True).add_new(tag.offset, tag.vr, value)
        path = directory / f"{view + 1:06d}.dcm"
        ds.save_as(path, enforce_file_format=True)
        paths.append(path)
    return paths
