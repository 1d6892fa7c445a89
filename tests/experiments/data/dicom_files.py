"""Write small CT series as scanners do (CT Image Storage, explicit VR little endian), for the loader tests."""

import numpy as np
from pydicom.dataset import FileDataset, FileMetaDataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid

AXIAL = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)


def write_series(
    directory,
    stored,
    *,
    spacing=(2.5, 0.7, 0.8),
    origin=(-10.0, -20.0, 30.0),
    orientation=AXIAL,
    slope=0.5,
    intercept=-1024.0,
    modality="CT",
    edit=None,
    seed=0,
    prefix="IM",
):
    """Slice k of `stored` (z, y, x int16) at origin + k·spacing[0]·n, n = row × column cosines, under a shuffled
    file name and a reversed InstanceNumber, so that only the positions tell the order. `edit(k, ds)` alters a slice.
    Returns the SeriesInstanceUID."""
    directory.mkdir(parents=True, exist_ok=True)
    series_uid = generate_uid()
    cosines = np.asarray(orientation, dtype=float)
    normal = np.cross(cosines[:3], cosines[3:])
    names = np.random.default_rng(seed).permutation(len(stored))
    for k, image in enumerate(stored):
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID = CTImageStorage, generate_uid()
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds = FileDataset(str(directory / f"{prefix}{names[k]:04d}"), {}, file_meta=meta, preamble=b"\0" * 128)
        ds.SOPClassUID, ds.SOPInstanceUID = CTImageStorage, meta.MediaStorageSOPInstanceUID
        ds.Modality, ds.PatientID, ds.SeriesInstanceUID = modality, "P001", series_uid
        ds.InstanceNumber = len(stored) - k
        ds.ImagePositionPatient = [float(v) for v in np.asarray(origin) + k * spacing[0] * normal]
        ds.ImageOrientationPatient = [float(v) for v in cosines]
        ds.PixelSpacing = [spacing[1], spacing[2]]
        ds.SliceThickness = spacing[0]
        ds.RescaleSlope, ds.RescaleIntercept = slope, intercept
        ds.Rows, ds.Columns = image.shape
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 1
        ds.PixelData = np.ascontiguousarray(image, dtype="<i2").tobytes()
        if edit is not None:
            edit(k, ds)
        ds.save_as(directory / f"{prefix}{names[k]:04d}", enforce_file_format=True)
    return series_uid


def stored_values(shape, seed=0):
    """Random stored integers; HU = 0.5 · stored - 1024 spans air to bone."""
    return np.random.default_rng(seed).integers(0, 4000, size=shape).astype(np.int16)
