"""MRI raw data in ISMRMRD format (https://ismrmrd.github.io) as `Acquisition`s: k-space with its SENSE operator.

One `Acquisition` per (slice, contrast, phase, repetition, set) of the first encoding space (phase and set are
0 in most files, leaving one per slice, contrast and repetition), averages averaged. What the header and the
acquisition flags say is honoured:

- Noise scans (ACQ_IS_NOISE_MEASUREMENT) give the coil noise covariance Ψ = N N^H / n; with ``prewhiten`` every
  readout is multiplied by W = L^{-1} (Ψ_data = L L^H), so the data's coil noise is white with unit variance.
  White noise's variance per sample is inversely proportional to the dwell time, so where noise and image
  readouts give dwell times (``sample_time_us``) Ψ_data = Ψ · t_noise / t_data (info["noise_bandwidth_scale"]).
- Cartesian: each readout lands on row ``kspace_encode_step_1 - center + ey // 2`` (the encoding limits'
  centre), its ``center_sample`` (after ``discard_pre``/``discard_post``) on column ``ex // 2``; rows never
  acquired (partial Fourier, undersampling) stay zero and the operator's mask says so. Reversed readouts
  (ACQ_IS_REVERSE) are flipped. Readout oversampling is removed by cropping the image along the readout to
  the recon FOV (centred orthonormal FFTs, which keep white noise white with the same variance), then the
  k-space is zero-padded or cropped to the recon matrix. Calibration-only lines (ACQ_IS_PARALLEL_CALIBRATION
  without ..._AND_IMAGING) feed the coil maps (ESPIRiT on the centre) but not the data.
- Non-Cartesian: the trajectory of each readout (``traj``; ISMRMRD's (kx, ky, ...) order) becomes the NUFFT's
  coordinates in cycles per FOV, last axis (y, x) (`bridges.mri.nufft`); ``trajectory_units="normalized"``
  (Gadgetron's convention, k in [-0.5, 0.5] of the recon matrix) or ``"cycles_per_fov"``. The trajectory
  describes each sample as acquired, so ACQ_IS_REVERSE is not applied there.
- Navigators, phase-correction, dummy and feedback scans are skipped (counted in info["flags"]).

Image axes are (y, x) = (phase encode, readout), voxel_size in mm from the recon FOV and matrix.

Example::

    for acq in read_ismrmrd("meas.h5"):
        A = acq.require_operator()                     # CartesianSense or Sense
        x = bridges.mri.cg_sense(A, acq.data, 20)      # (ry, rx) complex64
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import numpy as np
import torch

from bridges.mri import NUFFT, CartesianSense, Sense, density_compensation, espirit_maps, fft2c

from .acquisition import Acquisition
from .ismrmrd_scans import noise_covariance, prewhitening_matrix, read_scans

TRAJECTORY_UNITS = ("normalized", "cycles_per_fov")
_KEY = ("slice", "contrast", "phase", "repetition", "set")
_MIN_CALIBRATION = 8  # ESPIRiT's 6-wide kernels need a few more calibration lines than their width


def read_ismrmrd(
    path,
    *,
    dataset: str = "dataset",
    coil_maps="espirit",
    prewhiten: bool = True,
    calib_width: int = 24,
    trajectory_units: str = "normalized",
    nufft_options: dict | None = None,
) -> list[Acquisition]:
    """The image data of an ISMRMRD file as `Acquisition`s (module docstring: what each header field does).

    Args:
        coil_maps: "espirit" (`bridges.mri.espirit_maps` on the centre ``calib_width`` lines, or fewer where
            fewer were acquired) or a tensor (coils, ry, rx) used for every item.
        prewhiten: whiten with the noise scans' covariance (if the file has noise scans).
        trajectory_units: non-Cartesian ``traj`` units, "normalized" ([-0.5, 0.5]) or "cycles_per_fov".
        nufft_options: keyword arguments of `bridges.mri.Sense` (backend, eps, ...), non-Cartesian only.

    Shapes: data (coils, ry, rx) Cartesian, (coils, readouts, samples) non-Cartesian, complex64; image_shape
    (ry, rx); voxel_size (mm, mm).

    Example::

        acq = read_ismrmrd("shepp_logan.h5")[0]
        image = acq.operator.H(acq.data)               # (ry, rx) coil-combined zero-filled image
    """
    path = Path(path)
    if trajectory_units not in TRAJECTORY_UNITS:
        raise ValueError(f"expected trajectory_units in {TRAJECTORY_UNITS}, got {trajectory_units!r}")
    header, scans = read_scans(path, dataset)
    enc = header.encoding[0]
    e, r = enc.encodedSpace, enc.reconSpace
    trajectory = getattr(enc.trajectory, "value", str(enc.trajectory))
    info = {
        "encoded_matrix": (e.matrixSize.x, e.matrixSize.y, e.matrixSize.z),
        "recon_matrix": (r.matrixSize.x, r.matrixSize.y, r.matrixSize.z),
        "encoded_fov_mm": (e.fieldOfView_mm.x, e.fieldOfView_mm.y, e.fieldOfView_mm.z),
        "recon_fov_mm": (r.fieldOfView_mm.x, r.fieldOfView_mm.y, r.fieldOfView_mm.z),
        "trajectory": trajectory,
        "flags": dict(scans.flags),
        "noise_scans": len(scans.noise),
        "encoding_spaces": len(header.encoding),
        "slice_thickness": float(r.fieldOfView_mm.z or 1.0),
    }  # mm, the spacing of a stack of slices
    if e.matrixSize.z not in (None, 1):
        raise ValueError(
            f"expected a 2D encoding (encoded matrix z = 1) in {path}, got {info['encoded_matrix']}: "
            "3D encodings are not read yet"
        )
    _whiten(scans, header, prewhiten, info)
    image_shape = (int(r.matrixSize.y), int(r.matrixSize.x))
    voxel_size = (float(r.fieldOfView_mm.y) / image_shape[0], float(r.fieldOfView_mm.x) / image_shape[1])
    groups = defaultdict(list)
    for readout in scans.readouts:
        groups[tuple(readout.idx[k] for k in _KEY)].append(readout)
    acquisitions = []
    for key, readouts in sorted(groups.items()):
        item_info = {
            **info,
            **dict(zip(_KEY, key)),
            "averages": len({ro.idx["average"] for ro in readouts if ro.imaging}),
        }
        if trajectory == "cartesian":
            data, operator = _cartesian(readouts, enc, image_shape, coil_maps, calib_width, path, item_info)
        else:
            data, operator = _non_cartesian(
                readouts, image_shape, coil_maps, calib_width, trajectory_units, nufft_options or {}, path, item_info
            )
        acquisitions.append(Acquisition("mri", data, operator, image_shape, voxel_size, path, info=item_info))
    return acquisitions


def _whiten(scans, header, prewhiten: bool, info: dict) -> None:
    info.update(noise_covariance=None, prewhitened=False, noise_bandwidth_scale=None)
    system = header.acquisitionSystemInformation
    info["relative_receiver_noise_bandwidth"] = getattr(system, "relativeReceiverNoiseBandwidth", None)
    if not scans.noise:
        return
    psi = noise_covariance(scans.noise)
    t_noise, t_data = float(np.mean(scans.noise_dwell_us)), scans.readouts[0].dwell_us
    scale = t_noise / t_data if t_noise > 0 and t_data > 0 else 1.0
    info.update(noise_covariance=psi, noise_bandwidth_scale=scale)
    if not prewhiten:
        return
    w = prewhitening_matrix(psi * scale).to(torch.complex64).numpy()
    for readout in scans.readouts:
        readout.data = w @ readout.data
    info.update(prewhitened=True, prewhitening_matrix=torch.from_numpy(w))


def _cartesian(readouts, enc, image_shape, coil_maps, calib_width, path, info):
    ex, ey = int(enc.encodedSpace.matrixSize.x), int(enc.encodedSpace.matrixSize.y)
    limit = getattr(enc.encodingLimits, "kspace_encoding_step_1", None)
    centre = ey // 2 if limit is None or limit.center is None else int(limit.center)
    coils = readouts[0].data.shape[0]
    sums = {True: np.zeros((coils, ey, ex), np.complex128), False: np.zeros((coils, ey, ex), np.complex128)}
    counts = {True: np.zeros((ey, ex)), False: np.zeros((ey, ex))}
    for ro in readouts:
        k = ro.data[:, ro.discard_pre : ro.data.shape[1] - ro.discard_post]
        k = k[:, ::-1] if ro.reverse else k
        n, c = k.shape[1], ro.center_sample - ro.discard_pre
        start = 0 if ro.center_sample == 0 and n == ex else ex // 2 - c  # centre_sample unset on a full readout
        row = ro.idx["kspace_encode_step_1"] - centre + ey // 2
        if not (0 <= row < ey and 0 <= start and start + n <= ex):
            raise ValueError(
                f"expected readouts inside the encoded matrix {ex} x {ey} of {path}, got one of {n} "
                f"samples (centre {c}) at kspace_encode_step_1 {ro.idx['kspace_encode_step_1']} "
                f"(centre {centre}): inconsistent sizes"
            )
        sums[ro.imaging][:, row, start : start + n] += k
        counts[ro.imaging][row, start : start + n] += 1
    if not counts[True].any():
        raise ValueError(f"expected imaging readouts in {path}, found calibration-only ones")
    kspace = sums[True] / np.maximum(counts[True], 1)
    sampled = counts[True] > 0
    n_fov = ex
    fov_e, fov_r = enc.encodedSpace.fieldOfView_mm.x, enc.reconSpace.fieldOfView_mm.x
    if fov_e and fov_r and fov_e > 0 and fov_r > 0:
        n_fov = int(round(ex * fov_r / fov_e))
    data = _to_recon(kspace, n_fov, image_shape)
    mask = _recon_mask(sampled, n_fov, image_shape)
    data = (data * mask.numpy()).astype(np.complex64)
    info.update(
        readout_oversampling=ex / n_fov,
        oversampling_removed=n_fov != ex,
        sampled_lines=int(sampled.any(1).sum()),
        encoding_centre=centre,
    )
    if isinstance(coil_maps, str) and coil_maps == "espirit":
        everything = (sums[True] + sums[False]) / np.maximum(counts[True] + counts[False], 1)
        calibrated = _recon_mask((counts[True] + counts[False]) > 0, n_fov, image_shape)
        width = _calibration_width(calibrated, calib_width, path)
        maps = espirit_maps(
            torch.from_numpy(_to_recon(everything, n_fov, image_shape).astype(np.complex64)), calib_width=width
        )
        info.update(coil_maps="espirit", calib_width=width)
    else:
        maps = _given_maps(coil_maps, coils, image_shape)
        info.update(coil_maps="given")
    full = bool(mask.all())
    rows_only = bool((mask == mask[:, :1]).all())
    operator_mask = None if full else mask[:, :1] if rows_only else mask
    return torch.from_numpy(data), CartesianSense(maps, operator_mask)


def _centred(x: np.ndarray, n: int, axis: int) -> np.ndarray:
    """`x` centre-cropped or zero-padded to `n` along `axis`, index size // 2 staying the centre."""
    axis = axis % x.ndim
    size = x.shape[axis]
    if n == size:
        return x
    out = np.zeros(x.shape[:axis] + (n,) + x.shape[axis + 1 :], x.dtype)
    lo = min(size // 2, n // 2)
    hi = min(size - size // 2, n - n // 2)
    src = [slice(None)] * x.ndim
    dst = [slice(None)] * x.ndim
    src[axis] = slice(size // 2 - lo, size // 2 + hi)
    dst[axis] = slice(n // 2 - lo, n // 2 + hi)
    out[tuple(dst)] = x[tuple(src)]
    return out


def _to_recon(kspace: np.ndarray, n_fov: int, image_shape) -> np.ndarray:
    """Encoded k-space (coils, ey, ex) -> recon k-space (coils, ry, rx): the image cropped along the readout to
    `n_fov` pixels (the recon FOV: oversampling removed), then the k-space padded or cropped to the matrix."""
    k = torch.from_numpy(kspace.astype(np.complex64))
    if n_fov != kspace.shape[-1]:
        image = torch.fft.fftshift(torch.fft.ifft(torch.fft.ifftshift(k, dim=-1), dim=-1, norm="ortho"), dim=-1)
        image = torch.from_numpy(_centred(image.numpy(), n_fov, -1))
        k = torch.fft.fftshift(torch.fft.fft(torch.fft.ifftshift(image, dim=-1), dim=-1, norm="ortho"), dim=-1)
    return _centred(_centred(k.numpy(), image_shape[1], -1), image_shape[0], -2)


def _recon_mask(sampled: np.ndarray, n_fov: int, image_shape) -> torch.Tensor:
    """The (ry, rx) mask of `_to_recon`'s output: rows acquired, and the readout columns whose frequency lies
    within the acquired readout range (a partial echo leaves the others out)."""
    ey, ex = sampled.shape
    ry, rx = image_shape
    rows = _centred(sampled.any(1), ry, 0)
    acquired = np.flatnonzero(sampled.any(0))
    position = ex // 2 + (np.arange(rx) - rx // 2) * ex / n_fov
    inside = np.abs(np.arange(rx) - rx // 2) <= n_fov // 2
    cols = (position >= acquired[0] - 1e-9) & (position <= acquired[-1] + 1e-9) & inside
    return torch.from_numpy((rows[:, None] & cols[None, :]).astype(np.float32))


def _calibration_width(mask: torch.Tensor, limit: int, path) -> int:
    """The widest centred square (at most `limit`) of fully sampled k-space in `mask` (ry, rx)."""
    ry, rx = mask.shape
    width = min(limit, ry, rx)
    while width >= _MIN_CALIBRATION:
        y0, x0 = ry // 2 - width // 2, rx // 2 - width // 2  # espirit_maps' calibration square
        if mask[y0 : y0 + width, x0 : x0 + width].all():
            return width
        width -= 1
    raise ValueError(
        f"expected at least {_MIN_CALIBRATION} fully sampled central k-space lines in {path} for "
        "ESPIRiT coil maps, found fewer: pass coil_maps as a tensor"
    )


def _given_maps(coil_maps, coils: int, image_shape) -> torch.Tensor:
    if isinstance(coil_maps, str):
        raise ValueError(f"expected coil_maps 'espirit' or a tensor (coils, y, x), got {coil_maps!r}")
    maps = torch.as_tensor(coil_maps)
    if tuple(maps.shape) != (coils, *image_shape):
        raise ValueError(f"expected coil_maps of shape {(coils, *image_shape)}, got {tuple(maps.shape)}")
    return maps


def _non_cartesian(readouts, image_shape, coil_maps, calib_width, units, nufft_options, path, info):
    readouts = [ro for ro in readouts if ro.imaging]
    if not readouts:
        raise ValueError(f"expected imaging readouts in {path}, found calibration-only ones")
    if readouts[0].traj.shape[1] < 2:
        raise ValueError(
            f"expected a 2D trajectory (traj with >= 2 dimensions) in each readout of the "
            f"{info['trajectory']} file {path}, got {readouts[0].traj.shape[1]}"
        )
    lines = defaultdict(list)  # readouts of one encode step are averaged where their trajectories agree
    for ro in readouts:
        keep = slice(ro.discard_pre, ro.data.shape[1] - ro.discard_post)
        data, traj = ro.data[:, keep], ro.traj[keep, :2]
        group = lines[(ro.idx["kspace_encode_step_1"], ro.idx["kspace_encode_step_2"])]
        match = next((g for g in group if g[1].shape == traj.shape and np.allclose(g[1], traj)), None)
        if match is None:
            group.append([data.astype(np.complex128), traj, 1])
        else:
            match[0] += data
            match[2] += 1
    samples = {g[1].shape[0] for group in lines.values() for g in group}
    if len(samples) > 1:
        raise ValueError(
            f"expected readouts of one length in {path}, got {sorted(samples)} samples: inconsistent sizes"
        )
    entries = [g for _, group in sorted(lines.items()) for g in group]
    data = torch.from_numpy(np.stack([g[0] / g[2] for g in entries], axis=1).astype(np.complex64))
    traj = np.stack([g[1] for g in entries])  # (readouts, samples, (kx, ky))
    scale = np.array(image_shape, np.float32) if units == "normalized" else np.ones(2, np.float32)
    coords = torch.from_numpy(np.ascontiguousarray(traj[..., ::-1] * scale))  # (y, x) in cycles per FOV
    half = torch.tensor(image_shape, dtype=torch.float32) / 2
    if (coords.abs() > half * (1 + 1e-5)).any():
        raise ValueError(
            f"expected trajectory within {'[-0.5, 0.5]' if units == 'normalized' else '[-N/2, N/2]'} "
            f"({units}) in {path}, got up to {np.abs(traj).max():.4g}: try trajectory_units="
            f"{'cycles_per_fov' if units == 'normalized' else 'normalized'!r}"
        )
    if isinstance(coil_maps, str) and coil_maps == "espirit":
        dcf = density_compensation(coords, image_shape)
        images = NUFFT(image_shape, coords, **nufft_options).H(data * dcf)
        width = min(calib_width, *image_shape)
        maps = espirit_maps(fft2c(images), calib_width=width)
        info.update(coil_maps="espirit", calib_width=width)
    else:
        maps = _given_maps(coil_maps, data.shape[0], image_shape)
        info.update(coil_maps="given")
    info.update(trajectory_units=units, readouts=len(entries))
    return data, Sense(maps, coords, **nufft_options)
