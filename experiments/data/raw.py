"""Raw scanner files to `Acquisition`s: the format found from the file's contents, then its reader.

Formats (`FORMATS`), detected by `detect_format` from what the file holds, never from its name alone:

- ``"fastmri"``: HDF5 with ``kspace`` and ``ismrmrd_header`` (Zbontar et al. 2018), read here (`read_fastmri`):
  one Acquisition a slice, a `bridges.mri.CartesianSense` with ESPIRiT maps (`bridges.mri.espirit_maps`) from the
  slice's own k-space, or single-coil;
- ``"lodopab"``: HDF5 with ``data`` of shape (n, 1000, 513), a LoDoPaB-CT observation file, read here
  (`read_lodopab`): one Acquisition a sinogram, `lodopab_geometry()`, physical units;
- ``"ismrmrd"``: HDF5 with a ``dataset`` group holding ``xml`` or ``data``: `experiments.data.ismrmrd_raw`;
- ``"dicom-ct-pd"``: a folder of (or one) DICOM files with DICOM-CT-PD's private group 0x7031:
  `experiments.data.dicom_ct_pd`.

The last two readers are imported when a file needs them. Example::

    acquisitions = read_raw("file1000.h5", slices=range(10, 12))   # fastMRI: two slices
    x = bridges.mri.zero_filled(acquisitions[0].operator, acquisitions[0].data)
"""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import torch

from bridges import ct, mri

from .acquisition import Acquisition
from .fastmri import FastMRISlices, check_kspace_slice
from .files import open_hdf5, require_dataset
from .lodopab import IMAGE_SHAPE, MU_MAX, SINOGRAM_SHAPE, lodopab_geometry

FORMATS = ("fastmri", "lodopab", "ismrmrd", "dicom-ct-pd")
MODALITY = {"fastmri": "mri", "lodopab": "ct", "ismrmrd": "mri", "dicom-ct-pd": "ct"}  # what each format holds
ACCEPTED = (
    "fastMRI .h5 (datasets 'kspace' and 'ismrmrd_header'), ISMRMRD .h5 (group 'dataset' with 'xml' and "
    "'data'), a LoDoPaB-CT observation .hdf5 (dataset 'data' of shape (n, 1000, 513)), or a DICOM-CT-PD "
    "folder of .dcm files (private tags in group 0x7031)"
)
DICOM_CT_PD_GROUP = 0x7031
ESPIRIT_KERNEL = 6  # bridges.mri.espirit_maps' kernel width: the calibration region must hold one kernel


def detect_format(path) -> str:
    """The format of the file or folder at ``path`` (one of `FORMATS`), from its contents; a FileNotFoundError if
    there is nothing there, a ValueError naming it and the accepted formats if it is none of them."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"expected a raw data file or a DICOM-CT-PD folder at {path}, found none")
    if path.is_dir():
        files = _dicom_files(path)
        if not files:
            raise ValueError(f"expected {ACCEPTED}; got a folder without .dcm files: {path}")
        if _is_dicom_ct_pd(files[0]):
            return "dicom-ct-pd"
        raise ValueError(
            f"expected {ACCEPTED}; got a folder of DICOM files without DICOM-CT-PD's private group "
            f"0x7031 (first: {files[0].name}); an image series is read by experiments.data.dicom"
        )
    if h5py.is_hdf5(path):
        return _hdf5_format(path)
    if _is_dicom_ct_pd(path):
        return "dicom-ct-pd"
    raise ValueError(f"expected {ACCEPTED}; got a file that is neither HDF5 nor DICOM-CT-PD: {path}")


def read_raw(path, *, format: str | None = None, slices=None, progress: bool = False, **options) -> list:
    """The `Acquisition`s of a raw file: its format detected (`detect_format`) or forced by ``format``, then read
    by that format's reader with ``options``. ``slices``: None (all), an index, or a range/slice of them
    (fastMRI slices, LoDoPaB samples, ISMRMRD slices; DICOM-CT-PD is one scan). ``progress``: a bar over slices
    where reading them is long (ESPIRiT)."""
    path = Path(path)
    if format is None:
        format = detect_format(path)
    elif format not in FORMATS:
        raise ValueError(f"expected --format one of {FORMATS}, got {format!r}")
    elif not path.exists():
        raise FileNotFoundError(f"expected a raw data file or a DICOM-CT-PD folder at {path}, found none")
    if format == "fastmri":
        return read_fastmri(path, slices=slices, progress=progress, **options)
    if format == "lodopab":
        return read_lodopab(path, slices=slices, **options)
    if format == "ismrmrd":
        read_ismrmrd = _reader("ismrmrd_raw", "read_ismrmrd")
        return _select(read_ismrmrd(path, **options), slices, path)
    read_dicom_ct_pd = _reader("dicom_ct_pd", "read_dicom_ct_pd")
    if slices is not None:
        raise ValueError(f"expected no --slice for DICOM-CT-PD data (one scan), got {slices!r}")
    return [_on_this_machine(read_dicom_ct_pd(path, **options))]


def _on_this_machine(acquisition):
    """A DICOM-CT-PD scan without its 3D operator (no CUDA) as its 2D fan-beam slice where that is exact (one
    detector row, axial, no flying focal spot: `dicom_ct_pd.fan_beam_slice`), which ASTRA projects on the CPU;
    otherwise the scan as read, its `why_no_operator` saying also why it has no 2D form."""
    if acquisition.operator is not None:
        return acquisition
    fan_beam_slice = _reader("dicom_ct_pd", "fan_beam_slice")
    try:
        return fan_beam_slice(acquisition)
    except ValueError as err:
        acquisition.why_no_operator += f"; and no exact 2D fan-beam form on the CPU: {err}"
        return acquisition


def read_fastmri(path, *, slices=None, calib_width: int = 24, progress: bool = False) -> list:
    """The slices of a fastMRI file as MRI `Acquisition`s on the stored k-space grid (ky, kx).

    Each: ``data`` the slice's k-space (coils, ky, kx) complex64 ((ky, kx) single-coil) times its sampling;
    ``operator`` ``CartesianSense(maps, mask)``, maps by ESPIRiT from the slice's own k-space centre
    (``calib_width``², which the mask must sample) or None single-coil; mask the file's stored one (test
    split) or all ones, zero on the phase-encode columns the header says were zero-filled. ``voxel_size`` the
    encoded field of view over the encoded matrix (readout, phase); ``info["crop"]`` the header's reconstruction
    matrix (fastMRI's targets are that centre), ``info["maps"]``, ``info["mask"]``, ``info["slice_thickness"]``.
    """
    path = Path(path)
    dataset = FastMRISlices(path)
    chosen = _indices(slices, len(dataset), path, "slices")
    metadata = dataset.examples[0][2]
    (fov_x, fov_y, fov_z), (nx, ny, _) = metadata["encoding_fov"], metadata["encoding_size"]
    recon = metadata["recon_size"]
    items = chosen
    if progress:
        from tqdm import tqdm

        items = tqdm(chosen, desc="ESPIRiT maps", unit="slice", disable=len(chosen) < 2)
    acquisitions = []
    for index in items:
        item = dataset[index]
        where = f"{path.name} slice {item['slice']}"
        kspace, mask = item["kspace"], item["mask"]
        check_kspace_slice(kspace, where)
        columns = torch.zeros(mask.shape[-1])
        columns[max(metadata["padding_left"], 0) : max(metadata["padding_right"], 0)] = 1
        mask = mask * columns if columns.any() else mask
        shape = tuple(kspace.shape[-2:])
        if metadata["multicoil"]:
            width = _calibration_width(mask, calib_width)
            maps = mri.espirit_maps(kspace * mask, calib_width=width)
            if not bool((maps != 0).any()):
                raise ValueError(
                    f"expected ESPIRiT to find coil sensitivities in {where}, got none above its "
                    f"threshold from the {width}² calibration region: too few central columns "
                    f"sampled, or no signal"
                )
            operator, data = mri.CartesianSense(maps, mask), kspace * mask
        else:
            maps = None
            operator, data = mri.CartesianSense(None, mask, image_shape=shape), (kspace * mask)[0]
        voxel = (fov_x / nx, fov_y / ny) if (nx, ny) == shape else (1.0, 1.0)
        acquisitions.append(
            Acquisition(
                "mri",
                data,
                operator,
                shape,
                voxel,
                path,
                info={
                    "format": "fastMRI",
                    "slice": item["slice"],
                    "coils": metadata["coils"],
                    "maps": maps,
                    "mask": mask,
                    "crop": (min(recon[0], shape[0]), min(recon[1], shape[1])),
                    "slice_thickness": float(fov_z),
                    "acquisition": item["acquisition"],
                    "sampled_fraction": float((mask > 0).float().mean()),
                },
            )
        )
    return acquisitions


def read_lodopab(path, *, slices=None) -> list:
    """The sinograms of a LoDoPaB-CT observation file as CT `Acquisition`s in physical units (`LoDoPaB`'s
    ``units="physical"``: y = ∫ μ dl, dimensionless, so that images come in 1/mm): one operator,
    ``ct.Projector(lodopab_geometry())``, shared by all of them."""
    path = Path(path)
    with open_hdf5(path) as f:
        stored = require_dataset(f, "data")
        if stored.ndim != 3 or tuple(stored.shape[1:]) != SINOGRAM_SHAPE:
            raise ValueError(
                f"expected LoDoPaB-CT sinograms (n, {SINOGRAM_SHAPE[0]}, {SINOGRAM_SHAPE[1]}) in "
                f"{path}, got {stored.shape}"
            )
        chosen = _indices(slices, stored.shape[0], path, "samples")
        rows = np.stack([np.asarray(stored[i], dtype=np.float32) for i in chosen])
    if not np.isfinite(rows).all():
        raise ValueError(
            f"expected finite sinograms in {path}, got {int((~np.isfinite(rows)).sum())} non-finite values"
        )
    geometry = lodopab_geometry()
    operator = ct.Projector(geometry)
    return [
        Acquisition(
            "ct",
            torch.from_numpy(row) * MU_MAX,
            operator,
            tuple(geometry.image_shape),
            tuple(float(p) for p in geometry.pixel_size),
            path,
            geometry=geometry,
            info={"format": "LoDoPaB-CT", "slice": index, "units": "μ in 1/mm"},
        )
        for index, row in zip(chosen, rows)
    ]


def _reader(module: str, name: str):
    """``experiments.data.<module>.<name>``, imported when a file needs it (each reader imports its own stack)."""
    import importlib

    try:
        return getattr(importlib.import_module(f"{__package__}.{module}"), name)
    except ModuleNotFoundError as err:
        if err.name != f"{__package__}.{module}":
            raise RuntimeError(
                f"the reader experiments.data.{module} needs {err.name}, which is not installed"
            ) from None
        raise RuntimeError(f"this installation has no reader for this format (experiments.data.{module})") from None


def _calibration_width(mask: torch.Tensor, wanted: int) -> int:
    """The side of ESPIRiT's calibration square: ``wanted``, at most the k-space size and the run of sampled
    columns around the centre (autocalibration lines), which it reads as fully sampled."""
    columns = (mask > 0).any(0) if mask.dim() == 2 else mask > 0
    centre = columns.numel() // 2
    left = right = centre
    while left > 0 and columns[left - 1]:
        left -= 1
    while right < columns.numel() and columns[right]:
        right += 1
    width = min(wanted, *mask.shape[-2:], 2 * min(centre - left, right - centre))
    if width < ESPIRIT_KERNEL:
        raise ValueError(
            f"expected at least {ESPIRIT_KERNEL} fully sampled central k-space columns for ESPIRiT's "
            f"calibration, got {right - left}"
        )
    return width


def _hdf5_format(path: Path) -> str:
    with open_hdf5(path) as f:
        keys = sorted(f.keys())
        group = f.get("dataset")
        if isinstance(group, h5py.Group) and ("xml" in group or "data" in group):
            return "ismrmrd"
        if "kspace" in f and "ismrmrd_header" in f:
            return "fastmri"
        data = f.get("data")
        if isinstance(data, h5py.Dataset) and data.ndim == 3:
            if tuple(data.shape[1:]) == SINOGRAM_SHAPE:
                return "lodopab"
            if tuple(data.shape[1:]) == IMAGE_SHAPE:
                raise ValueError(
                    f"expected measurements; got a LoDoPaB-CT ground-truth file (images {data.shape}) "
                    f"at {path}: reconstruct its observation_*.hdf5 twin"
                )
        described = ", ".join(f"{k} {f[k].shape}" if isinstance(f[k], h5py.Dataset) else f"{k}/" for k in keys)
    raise ValueError(f"expected {ACCEPTED}; got an HDF5 file holding [{described or 'nothing'}]: {path}")


def _dicom_files(folder: Path) -> list:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in (".dcm", ".ima", ""))


def _is_dicom_ct_pd(path: Path) -> bool:
    """True if the DICOM file at ``path`` carries DICOM-CT-PD's private group 0x7031 (pixels not read)."""
    import pydicom

    try:
        header = pydicom.dcmread(path, stop_before_pixels=True)
    except Exception:  # noqa: BLE001 - not DICOM, or broken: either way not DICOM-CT-PD
        return False
    return any(element.tag.group == DICOM_CT_PD_GROUP for element in header)


def _indices(slices, n: int, path: Path, noun: str) -> list:
    """``slices`` (None, an int, a range or a slice) as a list of indices into ``n``, or a ValueError."""
    if slices is None:
        return list(range(n))
    if isinstance(slices, int):
        if not -n <= slices < n:
            raise ValueError(f"expected a slice index in [0, {n}) for the {n} {noun} of {path}, got {slices}")
        return [slices % n]
    chosen = list(range(n)[slices] if isinstance(slices, slice) else slices)
    if not chosen or any(not 0 <= i < n for i in chosen):
        raise ValueError(f"expected slice indices in [0, {n}) for the {n} {noun} of {path}, got {slices!r}")
    return chosen


def _select(acquisitions: list, slices, path: Path) -> list:
    return [acquisitions[i] for i in _indices(slices, len(acquisitions), path, "slices")]
