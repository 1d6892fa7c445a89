"""DICOM-CT-PD projection data (TCIA LDCT-and-Projection-data): one file per projection, read into an
`Acquisition` whose geometry is a `bridges.ct.CylConeVec3D` with one exact row of vectors per file.

The private dictionary, where its numbers come from and what could not be verified: `dicom_ct_pd_tags`.

Geometry. Per file, the detector's focal centre F sits at (ρ0, φ0, z0) and the focal spot (the source) at
(ρ0 + Δρ, φ0 + Δφ, z0 + Δz) (the flying focal spot shifts; 0 where absent), both in the format's cylindrical
coordinates, whose Cartesian form we keep as our world frame:

    x = -ρ sin φ,   y = ρ cos φ,   z = z - z_center      (z_center: the middle of the focal centres' z range)

so the image (z, y, x) has y towards 12 o'clock of the gantry and z towards the gantry (away from the table);
lengths in mm. Our circular geometries put the source at R (sin θ, -cos θ), so θ = φ0 + π. The detector is the
cylinder of radius d0 (ConstantRadialDistance) about F (not about the shifted focal spot), its axis along z;
the central element (X, Y) (1-based) lies on the ray from F through the isocentre, at z0.

Layout. ``data`` is (rows, views, columns), float32 line integrals (stored · RescaleSlope + RescaleIntercept),
with our rows running along +z and our columns along u = (cos θ, sin θ, 0), as in `ConeBeam3D`: the format
numbers its rows towards -z and its columns along -u, so both are reversed on reading (data[r, :, c] is the
format's row n_rows - r, column n_cols - c, 1-based). The detector's geometric centre then sits
(X - (n_cols + 1)/2) columns along u and (Y - (n_rows + 1)/2) rows along +z from the central element's ray;
a file without flying focal spot and with a centred central element is exactly
``ConeBeam3D(..., detector_curve="arc")`` at angles φ0 + π. PixelData is read transposed (DICOM Rows = detector
columns) as TCIA stores it, or row by row when the standard Rows/Columns say so.

    acq = read_dicom_ct_pd("/data/L067/full_dose")       # acq.data (rows, views, cols); acq.geometry CylConeVec3D
    acq.info["photon_statistics"]                        # (views, cols) incident photons, or None
    fan = fan_beam_slice(read_dicom_ct_pd(axial_dir))    # single-row axial data: 2D fan beam on the CPU
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pydicom
import torch

from bridges import ct
from experiments.data.acquisition import Acquisition
from experiments.data.dicom_ct_pd_tags import CONSTANT, REQUIRED, TAGS

FOV = 500.0  # mm, the default reconstruction field of view (the scanners' 50 cm scan field)
IMAGE_SIDE = 512  # pixels across FOV by default
_NUMERIC = {"FL": "<f4", "FD": "<f8", "US": "<u2"}

__all__ = ["read_dicom_ct_pd", "fan_beam_slice", "focal_spot_geometry", "default_grid"]


# ---------------------------------------------------------------- one file
def _decode(ds, name: str, path: Path, count: int | None = None):
    """The value of private tag ``name`` in ``ds``: a str (CS) or a float64 array; None when absent.
    A file read without the dictionary holds the raw little-endian bytes (VR UN): they are decoded by the
    dictionary's VR, floats as 4- or 8-byte by their length (``count`` values expected for VM n), since the
    VRs could not be verified; FL and FD are taken for each other, any other VR is an error."""
    tag = TAGS[name]
    if tag.tag not in ds:
        return None
    elem = ds[tag.tag]
    value = elem.value
    if elem.VR in ("UN", "OB", "OW") or isinstance(value, (bytes, bytearray)):
        raw = bytes(value or b"")
        if tag.vr == "CS":
            try:
                return raw.decode("ascii").strip(" \x00")
            except UnicodeDecodeError:
                raise ValueError(f"{path.name}: expected {tag} as text (CS), got bytes {raw[:16]!r}") from None
        dtype = _NUMERIC[tag.vr]
        if tag.vr in ("FL", "FD"):
            n = {"1": 1, "2": 2}.get(tag.vm, count)
            dtype = (
                "<f8"
                if n is not None and len(raw) == 8 * n
                else "<f4"
                if n is not None and len(raw) == 4 * n
                else dtype
            )
        size = np.dtype(dtype).itemsize
        if len(raw) == 0 or len(raw) % size:
            raise ValueError(f"{path.name}: expected {tag} as {tag.vr} ({size}-byte values), got {len(raw)} bytes")
        values = np.frombuffer(raw, dtype).astype(float)
        single = dtype == "<f4"
    elif elem.VR != tag.vr and {elem.VR, tag.vr} != {"FL", "FD"}:
        raise ValueError(f"{path.name}: expected {tag} with VR {tag.vr}, got VR {elem.VR}")
    elif tag.vr == "CS":
        return str(value).strip()
    else:
        values = np.atleast_1d(np.asarray(list(value) if elem.VM > 1 else value, dtype=float))
        single = elem.VR == "FL"
    if single:  # the shortest decimal that is this float32: 1085.6 reads back as 1085.6, not 1085.5999755
        # (format_float_positional, not str: ODL sets numpy's legacy='1.13' printing, whose str keeps 6 digits)
        values = np.array([float(np.format_float_positional(np.float32(v), unique=True)) for v in values])
    want = {"1": 1, "2": 2}.get(tag.vm)
    if want is not None and values.size != want:
        raise ValueError(f"{path.name}: expected {tag} with {want} value(s), got {values.size}")
    if not np.all(np.isfinite(values)):
        raise ValueError(f"{path.name}: expected finite values of {tag}, got {values.tolist()}")
    return values


def _read_file(path: Path) -> dict:
    """One projection: its private fields (float arrays / str), rescale and the detector image in the
    format's order (format rows, format columns), float64."""
    try:
        ds = pydicom.dcmread(path)
    except (pydicom.errors.InvalidDicomError, OSError, ValueError, EOFError) as e:
        raise ValueError(f"{path.name}: expected a DICOM-CT-PD projection file, got no DICOM ({e})") from None
    fields = {name: _decode(ds, name, path) for name in TAGS if name != "PhotonStatistics"}
    for name in REQUIRED:
        if fields[name] is None:
            raise ValueError(f"{path.name}: expected the DICOM-CT-PD tag {TAGS[name]}, it is missing")
    n_rows, n_cols = int(fields["NumberofDetectorRows"][0]), int(fields["NumberofDetectorColumns"][0])
    fields["PhotonStatistics"] = _decode(ds, "PhotonStatistics", path, count=n_cols)
    for name in (
        "NumberofDetectorRows",
        "NumberofDetectorColumns",
        "DetectorElementTransverseSpacing",
        "DetectorElementAxialSpacing",
        "DetectorFocalCenterRadialDistance",
        "ConstantRadialDistance",
    ):
        if not fields[name][0] > 0:
            raise ValueError(f"{path.name}: expected {TAGS[name]} > 0, got {fields[name][0]}")
    if fields["DetectorShape"].upper() != "CYLINDRICAL":
        raise ValueError(
            f"{path.name}: expected {TAGS['DetectorShape']} CYLINDRICAL (the only shape read here), "
            f"got {fields['DetectorShape']!r}"
        )
    rho0 = fields["DetectorFocalCenterRadialDistance"][0]
    if not fields["ConstantRadialDistance"][0] > rho0:
        raise ValueError(
            f"{path.name}: expected {TAGS['ConstantRadialDistance']} beyond the isocentre, > "
            f"{TAGS['DetectorFocalCenterRadialDistance']} = {rho0}, "
            f"got {fields['ConstantRadialDistance'][0]}"
        )
    photons = fields["PhotonStatistics"]
    if photons is not None and photons.size != n_cols:
        raise ValueError(
            f"{path.name}: expected {TAGS['PhotonStatistics']} with one value per detector column "
            f"({n_cols}), got {photons.size}"
        )
    for name, keyword in (
        ((0x0028, 0x1053), "RescaleSlope"),
        ((0x0028, 0x1052), "RescaleIntercept"),
        ((0x0028, 0x0010), "Rows"),
        ((0x0028, 0x0011), "Columns"),
        ((0x7FE0, 0x0010), "PixelData"),
    ):
        if name not in ds:
            raise ValueError(
                f"{path.name}: expected the DICOM tag ({name[0]:04X},{name[1]:04X}) {keyword}, it is missing"
            )
    slope, intercept = float(ds.RescaleSlope), float(ds.RescaleIntercept)
    if not (math.isfinite(slope) and slope != 0 and math.isfinite(intercept)):
        raise ValueError(
            f"{path.name}: expected a finite non-zero (0028,1053) RescaleSlope and a finite "
            f"(0028,1052) RescaleIntercept, got {slope} and {intercept}"
        )
    rows, cols = int(ds.Rows), int(ds.Columns)
    if (rows, cols) == (n_cols, n_rows):
        transposed = True  # TCIA's files: DICOM Rows = detector columns
    elif (rows, cols) == (n_rows, n_cols):
        transposed = False  # the manual's row-major layout
    else:
        raise ValueError(
            f"{path.name}: expected (0028,0010) Rows x (0028,0011) Columns to be {n_cols} x {n_rows} "
            f"({TAGS['NumberofDetectorColumns']} x {TAGS['NumberofDetectorRows']}), got {rows} x {cols}"
        )
    try:
        pixels = ds.pixel_array
    except Exception as e:  # pydicom raises several types for truncated or unsupported pixel data
        raise ValueError(f"{path.name}: expected readable (7FE0,0010) PixelData, got {type(e).__name__}: {e}") from None
    if pixels.shape != (rows, cols):
        raise ValueError(f"{path.name}: expected (7FE0,0010) PixelData of {rows} x {cols}, got {pixels.shape}")
    image = pixels.T if transposed else pixels
    fields["image"] = image.astype(np.float64) * slope + intercept
    fields["rescale"] = (slope, intercept)
    fields["instance"] = int(ds.InstanceNumber) if "InstanceNumber" in ds and ds.InstanceNumber != "" else None
    fields["header"] = {
        k: str(ds.get(k))
        for k in (
            "Manufacturer",
            "ManufacturerModelName",
            "KVP",
            "XRayTubeCurrent",
            "ExposureTime",
            "SpiralPitchFactor",
            "SeriesInstanceUID",
        )
        if k in ds
    }
    return fields


def _paths(directory_or_files) -> list:
    if isinstance(directory_or_files, (str, Path)):
        root = Path(directory_or_files)
        if not root.exists():
            raise FileNotFoundError(f"expected a directory or file of DICOM-CT-PD projections at {root}, found none")
        paths = (
            sorted(p for p in root.iterdir() if p.is_file() and not p.name.startswith(".")) if root.is_dir() else [root]
        )
        where = str(root)
    else:
        paths = [Path(p) for p in directory_or_files]
        where = "the files given"
    if not paths:
        raise ValueError(f"expected DICOM-CT-PD projection files in {where}, found none")
    return paths


# ---------------------------------------------------------------- geometry
def focal_spot_geometry(phi, z, rho, shifts, central_element, n_rows, n_cols, d_col, d_row, d0):
    """The `CylConeVec3D` vectors (sources, detector centres, column axes, row axes), each (views, 3), of
    per-view focal centres (φ0, z0, ρ0), shifts (views, 3) = (Δφ, Δz, Δρ) and the 1-based central element
    (X, Y), in the conventions of the module docstring (z as given: subtract z_center before)."""
    phi, z, rho = (np.asarray(a, dtype=float) for a in (phi, z, rho))
    d_phi, d_z, d_rho = np.asarray(shifts, dtype=float).T
    zeros, ones = np.zeros_like(phi), np.ones_like(phi)
    focal = np.stack([-rho * np.sin(phi), rho * np.cos(phi), z], 1)
    rs, ps = rho + d_rho, phi + d_phi
    sources = np.stack([-rs * np.sin(ps), rs * np.cos(ps), z + d_z], 1)
    w = np.stack([np.sin(phi), -np.cos(phi), zeros], 1)  # from F through the isocentre
    u = np.stack([-np.cos(phi), -np.sin(phi), zeros], 1)  # our column direction: the format's columns reversed
    ez = np.stack([zeros, zeros, ones], 1)
    x, y = central_element
    gamma = (x - (n_cols + 1) / 2) * d_col / d0  # fan angle of the detector's geometric centre
    centers = focal + d0 * (math.cos(gamma) * w + math.sin(gamma) * u) + (y - (n_rows + 1) / 2) * d_row * ez
    tangents = d_col * (math.cos(gamma) * u - math.sin(gamma) * w)
    return sources, centers, tangents, d_row * ez


def default_grid(z_extent: float, collimation: float, n_rows: int, image_shape=None, voxel_size=None):
    """(image_shape, voxel_size) (z, y, x): FOV mm in-plane on IMAGE_SIDE pixels, cubic voxels over the z range
    of the focal centres (or the collimation at the isocentre, if larger, as an axial scan has); one slice of
    the collimation's thickness for a single-row detector. Either argument overrides."""
    extent = max(z_extent, collimation)
    if voxel_size is None:
        pixel = FOV / (image_shape[-1] if image_shape else IMAGE_SIDE)
        dz = collimation if n_rows == 1 and not image_shape else (extent / image_shape[0] if image_shape else pixel)
        voxel_size = (dz, FOV / (image_shape[-2] if image_shape else IMAGE_SIDE), pixel)
    voxel_size = tuple(float(v) for v in voxel_size)
    if image_shape is None:
        nz = 1 if n_rows == 1 else max(1, int(round(extent / voxel_size[0])))
        image_shape = (nz, int(round(FOV / voxel_size[1])), int(round(FOV / voxel_size[2])))
    return tuple(int(n) for n in image_shape), voxel_size


# ---------------------------------------------------------------- the reader
def read_dicom_ct_pd(directory_or_files, *, image_shape=None, voxel_size=None) -> Acquisition:
    """A DICOM-CT-PD scan (a directory of projection files, or a list of them) as an `Acquisition`.

    Files are ordered by InstanceNumber (by file name where a file lacks it or two share one) and must agree on
    the detector (`dicom_ct_pd_tags.CONSTANT`). Each becomes one view: data (rows, views, cols) float32 line
    integrals, geometry a `CylConeVec3D` (module docstring), operator ``bridges.ct.Projector(geometry)`` where
    CUDA is available (ASTRA's 3D projectors need it), else None. ``image_shape``/``voxel_size`` (z, y, x) set
    the reconstruction grid; the default is `default_grid`. ``info``: photon_statistics (views, cols) or None,
    z_center (mm, the format's z of our z = 0), central_element (X, Y), source_shifts (views, 3) (Δφ, Δz, Δρ),
    angles (θ = φ0 + π, unwrapped), scan_type, flying_focal_spot_mode, views_per_turn, files, header fields.
    A file that is not DICOM, lacks a required tag, holds a wrong VR, shape or value, or disagrees with the
    first file raises ValueError naming the file and the tag.

        acq = read_dicom_ct_pd("L067/full_dose/", image_shape=(96, 512, 512))
    """
    paths = _paths(directory_or_files)
    files = [(p, _read_file(p)) for p in paths]
    first_path, first = files[0]
    for path, f in files[1:]:
        for name in CONSTANT:
            a, b = first[name], f[name]
            same = a == b if isinstance(a, str) else np.allclose(a, b, rtol=1e-6, atol=0)
            if not same:
                raise ValueError(
                    f"{path.name}: expected {TAGS[name]} equal in every file, got {_show(b)} where "
                    f"{first_path.name} has {_show(a)}"
                )
        if (f["PhotonStatistics"] is None) != (first["PhotonStatistics"] is None):
            lacking = path.name if f["PhotonStatistics"] is None else first_path.name
            raise ValueError(f"{lacking}: expected {TAGS['PhotonStatistics']} in every file or none, it is missing")
    instances = [f["instance"] for _, f in files]
    if None not in instances and len(set(instances)) == len(instances):
        files.sort(key=lambda pf: pf[1]["instance"])
        order = "InstanceNumber"
    else:
        order = "file name" if isinstance(directory_or_files, (str, Path)) else "as given"
    n_rows, n_cols = int(first["NumberofDetectorRows"][0]), int(first["NumberofDetectorColumns"][0])
    d_col, d_row = float(first["DetectorElementTransverseSpacing"][0]), float(first["DetectorElementAxialSpacing"][0])
    d0 = float(first["ConstantRadialDistance"][0])
    central = tuple(float(v) for v in first["DetectorCentralElement"])

    def per_view(name, default=0.0):
        return np.array([default if f[name] is None else f[name][0] for _, f in files], dtype=float)

    phi = per_view("DetectorFocalCenterAngularPosition")
    z = per_view("DetectorFocalCenterAxialPosition")
    rho = per_view("DetectorFocalCenterRadialDistance")
    shifts = np.stack(
        [
            per_view("SourceAngularPositionShift"),
            per_view("SourceAxialPositionShift"),
            per_view("SourceRadialDistanceShift"),
        ],
        1,
    )
    z_center = (z.min() + z.max()) / 2
    sources, centers, tangents, row_axes = focal_spot_geometry(
        phi, z - z_center, rho, shifts, central, n_rows, n_cols, d_col, d_row, d0
    )
    collimation = n_rows * d_row * float(np.median(rho)) / d0
    image_shape, voxel_size = default_grid(float(np.ptp(z)), collimation, n_rows, image_shape, voxel_size)
    geometry = ct.CylConeVec3D(
        sources=sources,
        detector_centers=centers,
        column_axes=tangents,
        row_axes=row_axes,
        detector_radius=d0,
        detector_shape=(n_rows, n_cols),
        image_shape=image_shape,
        pixel_size=voxel_size,
    )
    data = np.stack([f["image"][::-1, ::-1] for _, f in files], axis=1)  # (rows, views, cols)
    photons = (
        None if first["PhotonStatistics"] is None else np.stack([f["PhotonStatistics"][::-1] for _, f in files])
    )  # (views, cols), our column order

    def text(name):
        values = {f[name] for _, f in files if f[name] is not None}
        return values.pop() if len(values) == 1 else (sorted(values) if values else None)

    steps, water = first["NumberofSourceAngularSteps"], first["WaterAttenuationCoefficient"]
    info = dict(
        photon_statistics=photons,
        z_center=float(z_center),
        central_element=central,
        source_shifts=shifts,
        angles=np.unwrap(phi) + math.pi,
        focal_center_z=z,
        focal_center_radius=rho,
        scan_type=text("TypeofProjectionData"),
        projection_geometry=text("TypeofProjectionGeometry"),
        flying_focal_spot_mode=text("FlyingFocalSpotMode"),
        log_flag=text("LogFlag"),
        views_per_turn=None if steps is None else int(steps[0]),
        timestamps=per_view("Timestamp", math.nan),
        water_attenuation=None if water is None else float(water[0]),
        rescale=[f["rescale"] for _, f in files],
        order=order,
        files=[p for p, _ in files],
        **{k.lower(): v for k, v in first["header"].items()},
    )
    operator, why = None, ""
    if torch.cuda.is_available():
        operator = ct.Projector(geometry)
    else:
        why = (
            "3D cone-beam projection (ASTRA's cyl_cone_vec) needs CUDA, absent here; for single-row axial "
            "data, fan_beam_slice gives a 2D fan beam that runs on the CPU"
        )
    source = Path(directory_or_files) if isinstance(directory_or_files, (str, Path)) else paths[0].parent
    return Acquisition(
        modality="ct",
        data=torch.from_numpy(np.ascontiguousarray(data, dtype=np.float32)),
        operator=operator,
        image_shape=image_shape,
        voxel_size=voxel_size,
        source=source,
        geometry=geometry,
        why_no_operator=why,
        info=info,
    )


def _show(value):
    return value if isinstance(value, str) else [round(float(v), 6) for v in np.atleast_1d(value)]


# ---------------------------------------------------------------- 2D
def fan_beam_slice(
    acquisition: Acquisition, row: int | None = None, *, image_shape=None, pixel_size=None
) -> Acquisition:
    """One detector row of an axial DICOM-CT-PD scan as a 2D fan beam (`FanBeam2D`, arc detector), which
    ASTRA projects on the CPU: what reconstructs single-row axial data without CUDA.

    Exact when the focal spot does not fly (all shifts 0), the focal centres share one z and one radius,
    and the row lies in the plane of the source (a single-row detector whose central element is on it):
    then ``FanBeam2D(angles=φ0 + π, source_distance=ρ0, detector_distance=d0 - ρ0, detector_offset=
    (X - (n_cols + 1)/2) · column pitch)`` has the file's rays. Another row of a multi-row detector gives its
    rays' projection onto the axial plane (their line integrals are longer by 1/cos of the cone angle,
    ``info["cone_angle"]``). Helical data and a flying focal spot raise ValueError. ``row`` is in our order
    (along +z), required when the detector has several rows. ``image_shape``/``pixel_size`` (y, x) default
    to the acquisition's in-plane grid. Shapes: data (views, cols), image (y, x).

        fan = fan_beam_slice(read_dicom_ct_pd("axial/"))
        image = ct.fbp(fan.operator, fan.data)
    """
    info, g = acquisition.info, acquisition.geometry
    if not isinstance(g, ct.CylConeVec3D) or "focal_center_z" not in info:
        raise ValueError("expected an Acquisition from read_dicom_ct_pd, got one without its DICOM-CT-PD geometry")
    z, rho, shifts = info["focal_center_z"], info["focal_center_radius"], info["source_shifts"]
    if str(info.get("scan_type") or "").upper() == "HELICAL" or np.ptp(z) > 1e-6 * max(1.0, np.abs(z).max()):
        raise ValueError(
            f"expected axial data for a 2D fan beam, got helical data (TypeofProjectionData "
            f"{info.get('scan_type')!r}, focal centre z over {np.ptp(z):.3f} mm): reconstruct it in "
            "3D (CUDA) with the CylConeVec3D geometry"
        )
    moving = [
        name
        for name, column in (
            ("SourceAngularPositionShift", 0),
            ("SourceAxialPositionShift", 1),
            ("SourceRadialDistanceShift", 2),
        )
        if np.any(shifts[:, column] != 0)
    ]
    if moving:
        raise ValueError(
            f"expected no flying focal spot for a 2D fan beam, got non-zero {', '.join(moving)}: "
            "an arc detector about a moving source has no FanBeam2D form"
        )
    if np.ptp(rho) > 1e-6 * rho.max():
        raise ValueError(
            f"expected one DetectorFocalCenterRadialDistance for a 2D fan beam, got {rho.min()} to {rho.max()} mm"
        )
    n_rows, n_cols = g.detector_shape
    if row is None:
        if n_rows != 1:
            raise ValueError(f"expected row= (0 to {n_rows - 1}) for a detector of {n_rows} rows")
        row = 0
    if not isinstance(row, (int, np.integer)) or not 0 <= row < n_rows:
        raise ValueError(f"expected row an integer in [0, {n_rows}), got {row!r}")
    d_col = float(np.linalg.norm(g.column_axes[0]))
    d_row = float(np.linalg.norm(g.row_axes[0]))
    d0 = float(g.detector_radius)
    x, y = info["central_element"]
    row_z = (y - (n_rows + 1) / 2 + row - (n_rows - 1) / 2) * d_row  # above the source plane
    image_shape = tuple(image_shape or acquisition.image_shape[-2:])
    if pixel_size is None:
        pixel_size = tuple(acquisition.voxel_size[-2:])
    elif np.ndim(pixel_size) == 0:
        pixel_size = (float(pixel_size),) * 2
    geometry = ct.FanBeam2D(
        angles=info["angles"],
        n_detectors=n_cols,
        detector_spacing=d_col,
        source_distance=float(rho[0]),
        detector_distance=d0 - float(rho[0]),
        detector_offset=(x - (n_cols + 1) / 2) * d_col,
        detector_curve="arc",
        image_shape=image_shape,
        pixel_size=pixel_size,
    )
    fan_info = dict(
        info, row=int(row), cone_angle=math.atan2(row_z, d0), z=float(z[0]) + row_z * float(rho[0]) / d0
    )  # the row's z at the isocentre, format frame
    if info.get("photon_statistics") is not None:
        fan_info["photon_statistics"] = info["photon_statistics"]
    return Acquisition(
        modality="ct",
        data=acquisition.data[row].contiguous(),
        operator=ct.Projector(geometry),
        image_shape=image_shape,
        voxel_size=pixel_size,
        source=acquisition.source,
        geometry=geometry,
        info=fan_info,
    )
