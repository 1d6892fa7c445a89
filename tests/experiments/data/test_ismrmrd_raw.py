"""ISMRMRD raw data: against ismrmrd-tools' own reconstruction, round trips through the ismrmrd Python API
(Cartesian with every flag we honour, radial, spiral), noise prewhitening, and hostile files."""

import shutil
import subprocess

import h5py
import ismrmrd
import ismrmrd.xsd as xsd
import numpy as np
import pytest
import torch

from bridges.mri import CartesianSense, Sense, birdcage_maps, cg_sense, fft2c, ifft2c, radial, spiral
from experiments.data.ismrmrd_raw import read_ismrmrd
from experiments.data.ismrmrd_scans import noise_covariance, prewhitening_matrix

N, COILS = 32, 4
TOOLS = ("ismrmrd_generate_cartesian_shepp_logan", "ismrmrd_recon_cartesian_2d")


def _phantom():
    yy, xx = torch.meshgrid(torch.linspace(-1, 1, N), torch.linspace(-1, 1, N), indexing="ij")
    disc = ((yy / 0.8) ** 2 + (xx / 0.6) ** 2 < 1).float() + 0.5 * ((yy - 0.2) ** 2 + xx**2 < 0.1).float()
    return (disc * torch.exp(1j * torch.pi * 0.3 * xx)).to(torch.complex64)


def _header(ex=N, ey=N, fov_x=240.0, fov_y=240.0, trajectory="cartesian", center=N // 2):
    space = lambda mx, my, fx, fy: xsd.encodingSpaceType(  # noqa: E731
        matrixSize=xsd.matrixSizeType(x=mx, y=my, z=1), fieldOfView_mm=xsd.fieldOfViewMm(x=fx, y=fy, z=5.0)
    )
    limits = xsd.encodingLimitsType(kspace_encoding_step_1=xsd.limitType(minimum=0, maximum=ey - 1, center=center))
    encoding = xsd.encodingType(
        encodedSpace=space(ex, ey, fov_x * ex / N, fov_y),
        reconSpace=space(N, N, fov_x, fov_y),
        encodingLimits=limits,
        trajectory=xsd.trajectoryType(trajectory),
    )
    return xsd.ToXML(
        xsd.ismrmrdHeader(
            experimentalConditions=xsd.experimentalConditionsType(H1resonanceFrequency_Hz=63500000), encoding=[encoding]
        )
    )


def _acq(data, line=0, flags=(), traj=None, center=None, dwell=5.0, average=0):
    acq = ismrmrd.Acquisition.from_array(np.ascontiguousarray(data, np.complex64), traj)
    acq.idx.kspace_encode_step_1 = line
    acq.idx.average = average
    acq.center_sample = data.shape[-1] // 2 if center is None else center
    acq.sample_time_us = dwell
    for flag in flags:
        acq.set_flag(getattr(ismrmrd, flag))
    return acq


def _write(path, xml, acquisitions):
    dset = ismrmrd.Dataset(str(path), "dataset", create_if_needed=True)
    if xml is not None:
        dset.write_xml_header(xml)
    for acq in acquisitions:
        dset.append_acquisition(acq)
    dset.close()
    return path


@pytest.fixture(scope="module")
def maps():
    return birdcage_maps((N, N), COILS)


# --- against ismrmrd-tools ------------------------------------------------------------------------------------


@pytest.mark.skipif(
    not all(shutil.which(t) for t in TOOLS), reason="ismrmrd-tools absent (apt-get install ismrmrd-tools)"
)
def test_matches_ismrmrd_recon_cartesian_2d(tmp_path):
    # The tool (Debian ismrmrd-tools 1.8) writes every line of every repetition into one (ey, ex) buffer per coil
    # (the last repetition wins, the noise scan at line 0 is overwritten), inverse-FFTs it unnormalised (FFTW
    # backward, a factor sqrt(ey ex) over our orthonormal FFT), crops the readout to the recon matrix and writes the
    # root-sum-of-squares over coils to <dataset>/cpp.
    path = tmp_path / "shepp_logan.h5"
    subprocess.run(
        [TOOLS[0], "-m", str(N), "-c", str(COILS), "-r", "2", "-O", "2", "-C", "-o", str(path)],
        check=True,
        capture_output=True,
    )
    subprocess.run([TOOLS[1], str(path)], check=True, capture_output=True)
    with h5py.File(path) as f:
        if "cpp" not in f["dataset"]:
            pytest.fail(f"ismrmrd_recon_cartesian_2d wrote no dataset/cpp image, found {sorted(f['dataset'])}")
        reference = torch.from_numpy(f["dataset/cpp/data"][0, 0, 0])  # (y, x)
    acqs = read_ismrmrd(path, prewhiten=False)
    assert [a.info["repetition"] for a in acqs] == [0, 1]
    last = acqs[-1]
    assert last.data.shape == (COILS, N, N) and last.image_shape == (N, N)
    assert last.info["readout_oversampling"] == 2 and last.info["oversampling_removed"]
    assert last.info["noise_scans"] == 1 and last.info["flags"] == {"ACQ_IS_NOISE_MEASUREMENT": 1}
    assert last.voxel_size == pytest.approx((300 / N, 300 / N))
    rss = ifft2c(last.data).abs().pow(2).sum(0).sqrt() * np.sqrt(N * 2 * N)
    error = ((rss - reference).abs().max() / reference.abs().max()).item()
    assert error < 1e-5, error  # measured 1.6e-7: float32 FFTs (FFTW against torch's pocketfft)
    # fully sampled: the zero-filled SENSE image is the coil combination with the ESPIRiT maps
    A = last.require_operator()
    assert isinstance(A, CartesianSense) and A.mask is None
    assert last.info["calib_width"] == 24


@pytest.mark.skipif(not shutil.which(TOOLS[0]), reason="ismrmrd-tools absent (apt-get install ismrmrd-tools)")
def test_prewhitening_of_generated_file(tmp_path):
    path = tmp_path / "noisy.h5"
    subprocess.run([TOOLS[0], "-m", str(N), "-c", str(COILS), "-C", "-o", str(path)], check=True, capture_output=True)
    acq = read_ismrmrd(path)[0]
    psi, W = acq.info["noise_covariance"], acq.info["prewhitening_matrix"].to(torch.complex128)
    assert acq.info["prewhitened"] and acq.info["noise_bandwidth_scale"] == 1.0
    white = W @ psi @ W.conj().T
    assert torch.allclose(white, torch.eye(COILS, dtype=torch.complex128), atol=1e-5)


# --- Cartesian through the ismrmrd API ---------------------------------------------------------------------------


def _encoded(maps, x, oversampling):
    """k-space of the coil images zero-padded along the readout to `oversampling` times the FOV: (coils, N, ex)."""
    pad = (oversampling - 1) * N // 2
    return fft2c(torch.nn.functional.pad(maps * x, (pad, pad)))


def test_cartesian_flags(tmp_path, maps):
    x = _phantom()
    k = _encoded(maps, x, 2).numpy()
    rng = np.random.default_rng(0)
    imaging = [row for row in range(6, N) if row % 2 == 0 or abs(row - N // 2) < 2]  # partial Fourier: 0-5 absent
    calibration = [row for row in range(N // 2 - 6, N // 2 + 6) if row not in imaging]
    acqs = []
    for row in imaging:
        wobble = rng.standard_normal(k[:, row].shape).astype(np.float32)
        reverse = row % 4 == 0
        for average, sign in enumerate((1, -1)):  # two averages whose mean is the line
            line = k[:, row] + sign * wobble
            acqs.append(
                _acq(line[:, ::-1] if reverse else line, row, ("ACQ_IS_REVERSE",) if reverse else (), average=average)
            )
        if row == N // 2:  # a navigator and a phase-correction scan of junk at the centre line
            acqs.append(_acq(100 * rng.standard_normal(k[:, row].shape), row, ("ACQ_IS_NAVIGATION_DATA",)))
            acqs.append(_acq(100 * rng.standard_normal(k[:, row].shape), row, ("ACQ_IS_PHASECORR_DATA",)))
    acqs += [_acq(k[:, row], row, ("ACQ_IS_PARALLEL_CALIBRATION",)) for row in calibration]
    path = _write(tmp_path / "flags.h5", _header(ex=2 * N), acqs)
    (acq,) = read_ismrmrd(path, coil_maps=maps)
    mask = torch.zeros(N, 1)
    mask[imaging] = 1
    A = acq.require_operator()
    assert torch.equal(A.mask, mask)  # calibration-only lines are not data
    expected = CartesianSense(maps, mask)(x)
    error = ((acq.data - expected).abs().max() / expected.abs().max()).item()
    assert error < 1e-5, error  # float32 FFTs, oversampling removal exact on this object
    assert acq.data[:, :6].abs().max() == 0
    assert acq.info["averages"] == 2 and acq.info["readout_oversampling"] == 2
    assert acq.info["flags"] == {
        "ACQ_IS_PARALLEL_CALIBRATION": len(calibration),
        "ACQ_IS_NAVIGATION_DATA": 1,
        "ACQ_IS_PHASECORR_DATA": 1,
        "ACQ_IS_REVERSE": 2 * sum(r % 4 == 0 for r in imaging),
    }
    # ESPIRiT sees the calibration lines too: rows 10-22 are complete only with them (10-21 calibration, 22 imaging)
    (espirit,) = read_ismrmrd(path)
    assert espirit.info["calib_width"] == 13
    S = espirit.require_operator().maps
    support = x.abs() > 0.1
    assert torch.allclose(S.abs().pow(2).sum(0)[support], torch.ones(int(support.sum())), atol=1e-3)


def test_partial_echo(tmp_path, maps):
    # readouts missing their first 16 of 64 oversampled samples (centre sample 16 of 48): encoded column 32 + 2 (j - 16)
    # of recon column j was acquired for j >= 8, so the operator samples columns 8-31 and the data are zero elsewhere
    k = _encoded(maps, _phantom(), 2).numpy()
    acqs = [_acq(k[:, row, 16:], row, center=16) for row in range(N)]
    (acq,) = read_ismrmrd(_write(tmp_path / "echo.h5", _header(ex=2 * N), acqs), coil_maps=maps)
    mask = acq.require_operator().mask
    assert mask.shape == (N, N) and torch.equal(mask, (torch.arange(N) >= 8).float().expand(N, N))
    assert acq.data[..., :8].abs().max() == 0 and acq.data[..., 8:].abs().min() > 0


@pytest.mark.parametrize("noise_dwell", [5.0, 10.0])
def test_prewhitening_whitens_data_noise(tmp_path, noise_dwell):
    # white noise's variance is inversely proportional to the dwell time: the noise scans at noise_dwell, the data
    # at 5 us, each drawn with that variance through one coil-mixing matrix
    rng = np.random.default_rng(1)
    mix = rng.standard_normal((COILS, COILS)) + 1j * rng.standard_normal((COILS, COILS)) + 3 * np.eye(COILS)

    def noise(samples, dwell):
        white = rng.standard_normal((COILS, samples)) + 1j * rng.standard_normal((COILS, samples))
        return (mix @ white) / np.sqrt(2 * dwell)

    acqs = [_acq(noise(256, noise_dwell), flags=("ACQ_IS_NOISE_MEASUREMENT",), dwell=noise_dwell) for _ in range(8)]
    acqs += [_acq(noise(N, 5.0), row) for row in range(N)]
    (acq,) = read_ismrmrd(
        _write(tmp_path / "noise.h5", _header(), acqs), coil_maps=torch.ones(COILS, N, N, dtype=torch.complex64)
    )
    assert acq.info["noise_bandwidth_scale"] == pytest.approx(noise_dwell / 5.0)
    psi, W = acq.info["noise_covariance"], acq.info["prewhitening_matrix"].to(torch.complex128)
    scaled = W @ (psi * noise_dwell / 5.0) @ W.conj().T
    assert torch.allclose(scaled, torch.eye(COILS, dtype=torch.complex128), atol=1e-5)
    d = acq.data.reshape(COILS, -1).to(torch.complex128)
    covariance = d @ d.conj().T / d.shape[1]  # 1024 samples per coil: sampling error ~0.03
    assert torch.allclose(covariance, torch.eye(COILS, dtype=torch.complex128), atol=0.15), covariance
    before = noise_covariance(np.stack([a.data for a in acqs[8:]], 1).reshape(COILS, -1))
    assert (before - torch.eye(COILS)).abs().max() > 1  # the data were far from white before


def test_prewhitening_matrix_rejects_singular():
    with pytest.raises(ValueError, match="positive definite"):
        prewhitening_matrix(torch.zeros(2, 2, dtype=torch.complex128))


# --- non-Cartesian -------------------------------------------------------------------------------------------


@pytest.fixture(scope="module", params=["radial", "spiral"])
def trajectory(request):
    if request.param == "radial":
        return request.param, radial(24, N, (N, N))  # (spokes, samples, 2) cycles per FOV
    return request.param, spiral((N, N), 4).reshape(4, -1, 2)  # 4 interleaves of 132 points


def test_non_cartesian_round_trip(tmp_path, maps, trajectory):
    kind, coords = trajectory
    x = _phantom()
    y = Sense(maps, coords)(x)  # (coils, readouts, samples)
    traj = (coords / N).flip(-1).numpy()  # ISMRMRD (kx, ky), normalised [-0.5, 0.5]
    acqs = [_acq(y[:, i].numpy(), i, traj=traj[i]) for i in range(coords.shape[0])]
    path = _write(tmp_path / f"{kind}.h5", _header(trajectory=kind), acqs)
    (acq,) = read_ismrmrd(path, coil_maps=maps)
    A = acq.require_operator()
    assert isinstance(A, Sense) and acq.info["trajectory"] == kind
    assert torch.equal(A.coords, coords)  # /32 and *32 are exact in float32
    assert torch.equal(acq.data, y)
    assert ((A(x) - y).abs().max() / y.abs().max()).item() < 1e-6
    ours, theirs = cg_sense(A, acq.data, 10), cg_sense(Sense(maps, coords), y, 10)
    assert ((ours - theirs).abs().max() / theirs.abs().max()).item() < 1e-5
    if kind == "radial":
        in_cycles = _write(
            tmp_path / "cycles.h5",
            _header(trajectory=kind),
            [_acq(y[:, i].numpy(), i, traj=traj[i] * N) for i in range(coords.shape[0])],
        )
        (same,) = read_ismrmrd(in_cycles, coil_maps=maps, trajectory_units="cycles_per_fov")
        assert torch.equal(same.require_operator().coords, coords)
        with pytest.raises(ValueError, match="trajectory_units='cycles_per_fov'") as error:
            read_ismrmrd(in_cycles, coil_maps=maps)  # k up to 16 read as normalised: out of range
        assert str(in_cycles) in str(error.value)
        (espirit,) = read_ismrmrd(path)  # maps from the gridded centre
        S = espirit.require_operator().maps
        assert S.shape == (COILS, N, N) and S.abs().pow(2).sum(0).max() <= 1 + 1e-4


# --- hostile files ---------------------------------------------------------------------------------------------


@pytest.fixture
def good_file(tmp_path, maps):
    k = _encoded(maps, _phantom(), 1).numpy()
    return _write(tmp_path / "good.h5", _header(), [_acq(k[:, row], row) for row in range(N)])


def test_hostile_files(tmp_path, good_file):
    truncated = tmp_path / "truncated.h5"
    truncated.write_bytes(good_file.read_bytes()[: good_file.stat().st_size // 2])
    text = tmp_path / "text.h5"
    text.write_text("not an HDF5 file")
    cases = {truncated: "corrupt or truncated", text: "corrupt or truncated"}
    for path, what in cases.items():
        with pytest.raises(ValueError, match=what) as error:
            read_ismrmrd(path)
        assert str(path) in str(error.value)
    with pytest.raises(ValueError, match="dataset 'other'") as error:
        read_ismrmrd(good_file, dataset="other")
    assert str(good_file) in str(error.value)

    no_header = _write(tmp_path / "no_header.h5", None, [_acq(np.ones((COILS, N)), 0)])
    with pytest.raises(ValueError, match="xml") as error:
        read_ismrmrd(no_header)
    assert str(no_header) in str(error.value)

    empty = _write(tmp_path / "empty.h5", _header(), [])
    with pytest.raises(ValueError, match="acquisitions|data"):
        read_ismrmrd(empty)

    doctype = _write(
        tmp_path / "doctype.h5",
        '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "b">]>' + _header().split("?>", 1)[1],
        [_acq(np.ones((COILS, N)), 0)],
    )
    with pytest.raises(ValueError, match="document type"):
        read_ismrmrd(doctype)

    inconsistent = tmp_path / "inconsistent.h5"
    shutil.copy(good_file, inconsistent)
    with h5py.File(inconsistent, "r+") as f:
        record = f["dataset/data"][3]
        record["head"]["number_of_samples"] = 2 * N
        f["dataset/data"][3] = record
    with pytest.raises(ValueError, match="inconsistent sizes") as error:
        read_ismrmrd(inconsistent)
    assert str(inconsistent) in str(error.value)

    outside = _write(tmp_path / "outside.h5", _header(), [_acq(np.ones((COILS, N)), N + 3)])
    with pytest.raises(ValueError, match="inside the encoded matrix"):
        read_ismrmrd(outside)

    only_noise = _write(
        tmp_path / "only_noise.h5", _header(), [_acq(np.ones((COILS, N)), 0, ("ACQ_IS_NOISE_MEASUREMENT",))]
    )
    with pytest.raises(ValueError, match="image acquisitions"):
        read_ismrmrd(only_noise)
