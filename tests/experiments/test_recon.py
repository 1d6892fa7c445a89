"""python -m experiments recon: raw files (fastMRI, LoDoPaB-CT) to images equal to the library's reconstructions,
written with their voxel size; checkpoints applied only where their operator is the file's; hostile inputs as one
line and exit code 2.

Other readers plug in through `FORMAT_FILES`: a format's entry writes a small file of it and names the methods to
run on it; `test_each_format_reconstructs_with_each_method` then runs them all (ISMRMRD and DICOM-CT-PD are added
with their readers' own file writers).
"""

import re

import h5py
import nibabel as nib
import numpy as np
import pydicom
import pytest
import torch
from PIL import Image
from pydicom.dataset import FileDataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from bridges import ct, mri, solvers
from bridges.mri import birdcage_maps, fft2c
from experiments.__main__ import main as experiments_main
from experiments.checkpoint import load_checkpoint, load_weights, save_checkpoint
from experiments.commands.recon import geometry_differences, main
from experiments.config import load_config, with_defaults
from experiments.data.fastmri import center_crop
from experiments.data.lodopab import MU_MAX, lodopab_geometry
from experiments.data.nifti import read_nifti
from experiments.data.phantoms import mri_phantom
from experiments.data.raw import detect_format, read_raw
from experiments.tasks import Task, build_model, build_operator, paper_parallel_beam, reconstruct
from tests.experiments.data.fastmri_files import write_volume
from tests.experiments.data.test_fastmri import header, write

QUIET = ["--no-progress"]


def write_lodopab(path, n: int = 2):
    """A LoDoPaB-CT observation file (n, 1000, 513) of discs of water-like attenuation, stored as LoDoPaB stores
    them: ODL's ray transform in metres of μ / μ_max, noise-free."""
    geometry = lodopab_geometry()
    (ny, nx), (dy, dx) = geometry.image_shape, geometry.pixel_size
    y, x = torch.meshgrid((torch.arange(ny) - ny / 2 + 0.5) * dy, (torch.arange(nx) - nx / 2 + 0.5) * dx, indexing="ij")
    images = torch.stack([0.02 * ((x - 10 * k) ** 2 + y**2 < (80 - 10 * k) ** 2).float() for k in range(n)])
    sinograms = ct.Projector(geometry)(images)  # ∫ μ dl, μ in 1/mm
    with h5py.File(path, "w") as f:
        f.create_dataset("data", data=(sinograms / MU_MAX).numpy().astype(np.float32))
    return images


@pytest.fixture(scope="module")
def fastmri_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("fastmri") / "file1000.h5"
    write_volume(path, n_slices=2)
    return path


@pytest.fixture(scope="module")
def lodopab_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("lodopab") / "observation_test_000.hdf5"
    return path, write_lodopab(path)


def run(capsys, *argv):
    """``python -m experiments recon ARGV``: exit code, stdout, stderr."""
    code = experiments_main(["recon", *map(str, argv), *QUIET])
    out = capsys.readouterr()
    return code, out.out, out.err


def _scaled(A, y):
    return float(A.adjoint(y).abs().max())


def in_process_mri(path, method, n_iter, lam):
    """Each slice by the library's functions directly, scaled as the command scales MRI data, magnitude, cropped."""
    images = []
    for acq in read_raw(path):
        A, y = acq.operator, acq.data
        s = _scaled(A, y)
        x = {
            "zero-filled": lambda: mri.zero_filled(A, y),
            "cg-sense": lambda: mri.cg_sense(A, y / s, n_iter, lam=lam) * s,
            "l1-wavelet": lambda: mri.l1_wavelet(A, y / s, n_iter, lam=lam) * s,
        }[method]()
        images.append(center_crop(x.abs(), acq.info["crop"]))
    return torch.stack(images).numpy()


# ------------------------------------------------------------------ formats
def write_ismrmrd(path):
    """A fully sampled 4-coil Cartesian ISMRMRD file with a noise scan, written through the ismrmrd API."""
    from tests.experiments.data.test_ismrmrd_raw import COILS, N, _acq, _header, _phantom, _write

    k = fft2c(birdcage_maps((N, N), COILS) * _phantom()).numpy()
    noise = 0.01 * (np.random.default_rng(0).standard_normal((COILS, N)) + 0j)
    _write(
        path,
        _header(),
        [_acq(noise, flags=("ACQ_IS_NOISE_MEASUREMENT",))] + [_acq(k[:, line], line=line) for line in range(N)],
    )


def write_dicom_ct_pd_axial(folder):
    """One detector row of the Definition AS, axial, a water disk's exact line integrals: read as its 2D fan
    beam (the CPU path of `experiments.data.raw`)."""
    from experiments.data.dicom_ct_pd_write import write_dicom_ct_pd
    from tests.experiments.data.test_dicom_ct_pd import axial_single_row, chords, fan_rays

    cone, fan = axial_single_row()
    source, pixel = fan_rays(fan)
    folder.mkdir()
    write_dicom_ct_pd(folder, cone, 0.02 * chords(source, pixel, (10.0, -5.0), 80.0)[None])


FORMAT_FILES = {
    # format: (write(path) -> None, file name, methods to run with --iterations 2, --slice)
    "fastmri": (lambda p: write_volume(p, n_slices=2), "file1000.h5", ("zero-filled", "cg-sense", "l1-wavelet"), None),
    "lodopab": (lambda p: write_lodopab(p, n=1), "observation_test_000.hdf5", ("fbp",), None),
    "ismrmrd": (write_ismrmrd, "meas.h5", ("zero-filled", "cg-sense", "l1-wavelet"), None),
    "dicom-ct-pd": (write_dicom_ct_pd_axial, "ctpd", ("fbp", "tv"), None),
}


@pytest.mark.parametrize("fmt", sorted(FORMAT_FILES))
def test_each_format_reconstructs_with_each_method(fmt, tmp_path, capsys):
    writer, name, methods, slices = FORMAT_FILES[fmt]
    path = tmp_path / name
    writer(path)
    assert detect_format(path) == fmt
    for method in methods:
        out = tmp_path / f"{method}.npy"
        extra = [] if slices is None else ["--slice", slices]
        code, stdout, stderr = run(capsys, path, "--method", method, "--iterations", 2, "--out", out, *extra)
        assert code == 0, stderr
        image = np.load(out)
        assert image.dtype == np.float32 and np.isfinite(image).all() and image.max() > 0
        assert f"wrote {out}" in stdout and "voxel" in stdout


@pytest.mark.parametrize(
    "method,n_iter,lam", [("zero-filled", None, None), ("cg-sense", 3, 0.0), ("l1-wavelet", 3, 1e-3)]
)
def test_mri_methods_write_the_librarys_reconstruction(fastmri_file, tmp_path, capsys, method, n_iter, lam):
    out = tmp_path / "x.npy"
    options = [] if n_iter is None else ["--iterations", n_iter, "--lam", lam]
    code, stdout, stderr = run(capsys, fastmri_file, "--method", method, "--out", out, *options)
    assert code == 0, stderr
    assert "fastMRI (mri), 2 slices, data (6, 64, 36), image (64, 36), voxel (4.375, 7) mm" in stdout
    expected = in_process_mri(fastmri_file, method, n_iter, lam)
    np.testing.assert_allclose(np.load(out), expected, rtol=1e-4, atol=1e-4 * expected.max())


def test_zero_filled_is_the_files_reference_on_the_coil_support(fastmri_file, tmp_path, capsys):
    """Fully sampled: |Σ conj(S_c) F⁻¹ y_c| with ESPIRiT maps is the root sum of squares where the maps are
    nonzero: the file's own reconstruction_rss, an independent reference."""
    out = tmp_path / "x.npy"
    assert run(capsys, fastmri_file, "--method", "zero-filled", "--out", out)[0] == 0
    with h5py.File(fastmri_file) as f:
        target = f["reconstruction_rss"][()]
    image = np.load(out)
    support = target > 0.2 * target.max()
    assert np.abs(image - target)[support].max() < 0.02 * target.max()


def test_nifti_holds_the_voxel_size_and_png_is_8_bit(fastmri_file, tmp_path, capsys):
    for out in (tmp_path / "x.nii.gz", tmp_path / "x.npy", tmp_path / "x.png"):
        code, stdout, stderr = run(capsys, fastmri_file, "--method", "zero-filled", "--out", out)
        assert code == 0, stderr
    header_ = nib.load(tmp_path / "x.nii.gz").header
    # (x, y, z): phase encodes 252 mm / 36, readout 280 mm / 64, slices 4.5 mm thick
    np.testing.assert_allclose(header_.get_zooms(), (7.0, 4.375, 4.5))
    assert header_.get_xyzt_units()[0] == "mm"
    volume, spacing, _ = read_nifti(tmp_path / "x.nii.gz")
    np.testing.assert_allclose(volume.numpy(), np.load(tmp_path / "x.npy"), rtol=1e-6)
    assert spacing == pytest.approx((4.5, 4.375, 7.0))
    png = Image.open(tmp_path / "x.png")
    assert png.mode == "L" and png.size == (64, 32)  # the two 32² slices side by side
    pixels = np.asarray(png)
    assert pixels.dtype == np.uint8 and pixels.min() == 0 and pixels.max() == 255


def test_lodopab_fbp_is_the_librarys_and_finds_the_disc(lodopab_file, tmp_path, capsys):
    path, images = lodopab_file
    out = tmp_path / "x.npy"
    code, stdout, stderr = run(capsys, path, "--method", "fbp", "--slice", 1, "--out", out)
    assert code == 0, stderr
    assert "LoDoPaB-CT (ct), 1 slice, data (1000, 513), image (362, 362), voxel (0.7182, 0.7182) mm" in stdout
    A = ct.Projector(lodopab_geometry())
    with h5py.File(path) as f:
        y = torch.from_numpy(f["data"][1]) * MU_MAX
    expected = ct.fbp(A, y, filter_type="hann").numpy()
    image = np.load(out)
    np.testing.assert_allclose(image, expected, rtol=1e-5, atol=1e-6)
    inside = images[1].numpy() > 0
    inner = np.abs(np.load(out) - 0.02)[inside].mean()
    assert inner < 0.1 * 0.02  # μ in 1/mm: the disc's attenuation comes back


@pytest.mark.slow
def test_lodopab_tv_is_the_librarys(lodopab_file, tmp_path, capsys):
    path, _ = lodopab_file
    out = tmp_path / "x.npy"
    code, _, stderr = run(capsys, path, "--method", "tv", "--slice", 0, "--iterations", 2, "--lam", 0.5, "--out", out)
    assert code == 0, stderr
    with h5py.File(path) as f:
        y = torch.from_numpy(f["data"][0]) * MU_MAX
    expected = solvers.tv_pdhg(ct.Projector(lodopab_geometry()), y, 2, lam=0.5, nonneg=True).numpy()
    np.testing.assert_allclose(np.load(out), expected, rtol=1e-4, atol=1e-7)


def test_fdk_without_cuda_says_so(lodopab_file, tmp_path, capsys):
    if torch.cuda.is_available():
        pytest.skip("the message is for machines without CUDA")
    code, _, stderr = run(capsys, lodopab_file[0], "--method", "fdk", "--out", tmp_path / "x.npy")
    assert code == 2 and "CUDA" in stderr and stderr.count("\n") == 1


def test_dicom_ct_pd_axial_fbp_finds_the_disk(tmp_path, capsys):
    """Single-row axial DICOM-CT-PD on the CPU: read as its exact 2D fan beam, FBP gives the disk's μ back."""
    folder = tmp_path / "ctpd"
    write_dicom_ct_pd_axial(folder)
    out = tmp_path / "x.nii.gz"
    code, stdout, stderr = run(capsys, folder, "--method", "fbp", "--out", out)
    assert code == 0, stderr
    x, spacing, _ = read_nifti(out)
    x, h = x[0].numpy(), 500.0 / 512  # the default grid: 500 mm in 512² pixels
    assert spacing[1:] == pytest.approx((h, h)) and x.shape == (512, 512)
    centres = (np.arange(512) - 256 + 0.5) * h
    yy, xx = np.meshgrid(centres, centres, indexing="ij")
    inside = (xx - 10.0) ** 2 + (yy + 5.0) ** 2 < 60.0**2  # well inside the 80 mm disk
    assert abs(x[inside].mean() - 0.02) < 0.02 * 0.02  # measured 1.1 % low: 90 views of 96 channels
    disk = x > 0.01  # where it landed: its centre at (x, y) = (10, -5) mm
    assert (xx[disk].mean(), yy[disk].mean()) == pytest.approx((10.0, -5.0), abs=1.0)


def test_helical_dicom_ct_pd_without_cuda_says_why(tmp_path, capsys):
    if torch.cuda.is_available():
        pytest.skip("the message is for machines without CUDA")
    from experiments.data.dicom_ct_pd_write import write_dicom_ct_pd

    g = ct.scanner("siemens-definition-as-helical", view_step=256, detector_binning=16, image_shape=(4, 32, 32))
    write_dicom_ct_pd(tmp_path / "helical", g, np.zeros(g.sinogram_shape))
    code, _, stderr = run(capsys, tmp_path / "helical", "--method", "fbp", "--out", tmp_path / "x.npy")
    assert code == 2 and stderr.count("\n") == 1
    assert "CUDA" in stderr and "helical" in stderr


# ------------------------------------------------------------------ checkpoints
MRI_CFG = {
    "seed": 0,
    "task": {
        "modality": "mri",
        "image_size": 32,
        "n_coils": 4,
        "acceleration": 2,
        "center_fraction": 0.45,
        "mask": "equispaced",
    },
    "model": {"name": "DeepCascade", "n_cascades": 1, "n_layers": 2, "width": 4},
}


def save_model_checkpoint(path, cfg, model_task_cfg=None):
    """A checkpoint as `python -m experiments train` writes it (its configuration and the model's weights), of an
    untrained model built for ``model_task_cfg`` (default ``cfg``'s task): nothing is trained."""
    cfg = with_defaults(cfg)
    build_cfg = with_defaults({**cfg, "task": model_task_cfg}) if model_task_cfg else cfg
    op, _ = build_operator(build_cfg["task"])
    model = build_model(Task(build_cfg["task"]["modality"], op, None, None, None, ""), cfg["model"])
    save_checkpoint(path, {"config": cfg, "model": model.state_dict(), "step": 0})
    return path


def write_undersampled_fastmri(path, mask_columns: torch.Tensor, coils: int = 4, size: int = 32):
    """A fastMRI test-split-like file: k-space (1, coils, size, size) under-sampled by its stored column mask."""
    maps = birdcage_maps((size, size), coils)
    image = mri_phantom((size, size), torch.Generator().manual_seed(0))
    kspace = fft2c(maps * image) * mask_columns
    write(
        path,
        kspace[None].numpy(),
        mask=mask_columns.numpy(),
        xml=header(encoded=(size, size, 1), recon=(size, size, 1), center=size // 2, maximum=size - 1),
    )


def test_mri_checkpoint_applies_to_a_file_of_its_operator(tmp_path, capsys):
    checkpoint = save_model_checkpoint(tmp_path / "checkpoint.pt", MRI_CFG)
    op, _ = build_operator(with_defaults(MRI_CFG)["task"])
    raw = tmp_path / "file2000.h5"
    write_undersampled_fastmri(raw, op.mask.reshape(-1, 32)[0])
    out = tmp_path / "x.npy"
    code, stdout, stderr = run(capsys, raw, "--method", checkpoint, "--out", out)
    assert code == 0, stderr
    assert f"wrote {out}: checkpoint.pt" in stdout
    # in process: the model rebuilt from the checkpoint, applied with the file's operator to data scaled to a
    # unit zero-filled peak
    state = load_checkpoint(checkpoint)
    cfg = with_defaults(state["config"])
    acq = read_raw(raw)[0]
    model = load_weights(build_model(Task("mri", op, None, None, None, ""), cfg["model"]), state, checkpoint).eval()
    s = _scaled(acq.operator, acq.data)
    with torch.no_grad():
        expected = (reconstruct(model, acq.data[None] / s, acq.operator)[0] * s).abs()
    np.testing.assert_allclose(np.load(out), expected.numpy(), rtol=1e-4, atol=1e-4 * float(expected.max()))


def test_mri_checkpoint_refuses_another_shape_or_sampling(tmp_path, fastmri_file, capsys):
    checkpoint = save_model_checkpoint(tmp_path / "checkpoint.pt", MRI_CFG)
    code, _, stderr = run(capsys, fastmri_file, "--method", checkpoint, "--out", tmp_path / "x.npy")
    assert code == 2 and stderr.count("\n") == 1
    assert "image shape: expected (32, 32), got (64, 36); coils: expected 4, got 6" in stderr
    raw = tmp_path / "file2001.h5"
    write_undersampled_fastmri(raw, torch.ones(32))  # fully sampled
    code, _, stderr = run(capsys, raw, "--method", checkpoint, "--out", tmp_path / "x.npy")
    assert code == 2 and re.search(
        r"sampling: expected 2x equispaced mask \(\d+ of 32 columns sampled\), got the "
        r"file's mask \(32 of 32 columns sampled\)",
        stderr,
    ), stderr


# LoDoPaB's geometry is ODL's parallel_beam_geometry of 362² pixels over 260 mm with 1000 views: a synthetic
# parallel-beam task of those numbers (`paper_parallel_beam`) has the file's operator
LODOPAB_TASK = {"modality": "ct", "geometry": "parallel", "image_size": 362, "fov": 260.0, "n_views": 1000}


def test_ct_checkpoint_refusal_names_the_field(lodopab_file, tmp_path, capsys):
    smoke = load_config("smoke-ct")
    fan = save_model_checkpoint(tmp_path / "fan.pt", smoke)
    code, _, stderr = run(capsys, lodopab_file[0], "--method", fan, "--out", tmp_path / "x.npy")
    assert code == 2 and "kind: expected FanBeam2D, got ParallelBeam2D" in stderr and stderr.count("\n") == 1
    # the LPD's weights do not depend on the geometry: the smoke model's, under a 500-view task's configuration
    fewer = save_model_checkpoint(
        tmp_path / "fewer.pt", {**smoke, "task": {**LODOPAB_TASK, "n_views": 500}}, model_task_cfg=smoke["task"]
    )
    code, _, stderr = run(capsys, lodopab_file[0], "--method", fewer, "--out", tmp_path / "x.npy")
    assert code == 2 and "angles: expected 500 views, got 1000 views" in stderr
    assert stderr.startswith(f"recon: {lodopab_file[0]}: checkpoint {fewer} does not match")


def test_geometry_differences_name_each_field():
    geometry = lodopab_geometry()
    assert geometry_differences(paper_parallel_beam(362, 260.0, 1000), geometry) == []
    import dataclasses

    wider = dataclasses.replace(geometry, detector_spacing=0.8, pixel_size=(0.7, 0.7))
    assert [d[0] for d in geometry_differences(geometry, wider)] == ["detector_spacing", "pixel_size"]
    assert geometry_differences(geometry, wider)[0][1:] == ("0.716755", "0.8")
    shifted = dataclasses.replace(geometry, angles=geometry.angles + np.where(np.arange(1000) == 7, 0.01, 0.0))
    ((field, expected, got),) = geometry_differences(geometry, shifted)
    assert field == "angles" and "at index 7" in expected and "largest difference 0.01" in got


@pytest.mark.slow
def test_ct_checkpoint_applies_to_lodopab(lodopab_file, tmp_path, capsys):
    smoke = load_config("smoke-ct")
    smoke["model"] = {**smoke["model"], "n_iter": 1}
    checkpoint = save_model_checkpoint(
        tmp_path / "lodopab.pt", {**smoke, "task": LODOPAB_TASK}, model_task_cfg=smoke["task"]
    )
    out = tmp_path / "x.npy"
    code, stdout, stderr = run(capsys, lodopab_file[0], "--method", checkpoint, "--slice", 0, "--out", out)
    assert code == 0, stderr
    image = np.load(out)
    assert image.shape == (362, 362) and np.isfinite(image).all()


# ------------------------------------------------------------------ hostile inputs
def one_line_error(capsys, path, *argv):
    code, _, stderr = run(capsys, path, *argv)
    assert code == 2, stderr
    assert stderr.count("\n") == 1 and stderr.startswith(f"recon: {path}: "), stderr
    assert "Traceback" not in stderr
    return stderr


def test_missing_file(tmp_path, capsys):
    missing = tmp_path / "nothing.h5"
    assert "found none" in one_line_error(capsys, missing, "--method", "fbp", "--out", tmp_path / "x.npy")


def test_truncated_hdf5(fastmri_file, tmp_path, capsys):
    cut = tmp_path / "cut.h5"
    data = fastmri_file.read_bytes()
    cut.write_bytes(data[: len(data) // 2])
    message = one_line_error(capsys, cut, "--method", "zero-filled", "--out", tmp_path / "x.npy")
    assert "corrupt or truncated" in message


def test_unknown_layouts_name_the_accepted_formats(tmp_path, capsys):
    other = tmp_path / "other.h5"
    with h5py.File(other, "w") as f:
        f.create_dataset("volume", data=np.zeros((2, 3)))
    message = one_line_error(capsys, other, "--method", "fbp", "--out", tmp_path / "x.npy")
    assert "fastMRI" in message and "LoDoPaB" in message and "ISMRMRD" in message and "volume (2, 3)" in message
    text = tmp_path / "notes.txt"
    text.write_text("not a scan")
    assert "neither HDF5 nor DICOM-CT-PD" in one_line_error(
        capsys, text, "--method", "fbp", "--out", tmp_path / "x.npy"
    )
    truth = tmp_path / "ground_truth_test_000.hdf5"
    with h5py.File(truth, "w") as f:
        f.create_dataset("data", data=np.zeros((1, 362, 362), np.float32))
    assert "ground-truth" in one_line_error(capsys, truth, "--method", "fbp", "--out", tmp_path / "x.npy")


def test_methods_of_another_modality_are_refused(fastmri_file, lodopab_file, tmp_path, capsys):
    out = ["--out", tmp_path / "x.npy"]
    assert "use one of zero-filled, cg-sense, l1-wavelet" in one_line_error(
        capsys, fastmri_file, "--method", "fbp", *out
    )
    assert "use one of fbp, fdk, tv" in one_line_error(capsys, lodopab_file[0], "--method", "cg-sense", *out)
    message = one_line_error(capsys, lodopab_file[0], "--method", "osem", *out)
    assert "PET" in message and "no PET raw reader" in message
    assert "expected --method one of" in one_line_error(capsys, fastmri_file, "--method", "sart", *out)
    assert "checkpoint at" in one_line_error(capsys, fastmri_file, "--method", tmp_path / "missing.pt", *out)
    assert "output file ending" in one_line_error(
        capsys, fastmri_file, "--method", "zero-filled", "--out", tmp_path / "x.tiff"
    )
    assert "--slice" in one_line_error(capsys, fastmri_file, "--method", "zero-filled", "--slice", "a:b", *out)
    assert "slice index in [0, 2)" in one_line_error(
        capsys, fastmri_file, "--method", "zero-filled", "--slice", 5, *out
    )


def test_traceback_flag_shows_the_traceback(tmp_path, capsys):
    code = main([str(tmp_path / "nothing.h5"), "--method", "fbp", "--out", str(tmp_path / "x.npy"), "--traceback"])
    assert code == 2 and "Traceback" in capsys.readouterr().err


# ------------------------------------------------------------------ the other readers' formats (detection only)
def test_ismrmrd_and_dicom_ct_pd_are_detected(tmp_path):
    ismrmrd = tmp_path / "raw.h5"
    with h5py.File(ismrmrd, "w") as f:
        f.create_dataset("dataset/xml", data=b"<ismrmrdHeader/>")
        f.create_dataset("dataset/data", data=np.zeros(4))
    assert detect_format(ismrmrd) == "ismrmrd"
    folder = tmp_path / "dicom"
    folder.mkdir()
    write_dicom(folder / "0001.dcm", private_ct_pd=True)
    assert detect_format(folder) == "dicom-ct-pd"
    plain = tmp_path / "plain"
    plain.mkdir()
    write_dicom(plain / "0001.dcm", private_ct_pd=False)
    with pytest.raises(ValueError, match="without DICOM-CT-PD's private group 0x7031"):
        detect_format(plain)


def write_dicom(path, private_ct_pd: bool):
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.2"
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = FileDataset(str(path), {}, file_meta=meta, preamble=b"\0" * 128)
    ds.Modality = "CT"
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    if private_ct_pd:
        ds.add_new(0x70310010, "LO", "DICOM-CT-PD")  # private creator
        ds.add_new(0x70311001, "FL", [0.0])  # DetectorFocalCenterAngularPosition
    ds.save_as(path, enforce_file_format=True)
    assert (pydicom.dcmread(path).get((0x7031, 0x1001)) is not None) == private_ct_pd
