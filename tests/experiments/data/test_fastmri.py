"""fastMRI loader on small files written in fastMRI's layout: k-space of known coil images, RSS targets,
an ISMRMRD header, the attributes; single- and multi-coil, the test split's stored mask, and broken files."""

import math
import zlib
from functools import partial

import h5py
import numpy as np
import pytest
import torch

from bridges.mri import fft2c, ifft2c, mask_equispaced, mask_random
from experiments.data.fastmri import FastMRISlices, center_crop, parse_ismrmrd_header, rss
from tests.conftest import crandn

SLICES, COILS, READOUT, PHASE, RECON = 2, 4, 40, 36, (24, 24)
CENTER, MAXIMUM = 17, 33  # kspace_encoding_step_1 limits: columns [18 - 17, 18 - 17 + 34) acquired


def header(encoded=(READOUT, PHASE, 1), recon=(*RECON, 1), center=CENTER, maximum=MAXIMUM, drop=None):
    """An ISMRMRD header as fastMRI files carry it (abridged to what is read), optionally without one element."""

    def xyz(tag, values):
        return f"<{tag}>" + "".join(f"<{a}>{v}</{a}>" for a, v in zip("xyz", values)) + f"</{tag}>"

    space = "<{0}>{1}{2}</{0}>"
    xml = (
        '<?xml version="1.0" encoding="utf-8"?><ismrmrdHeader xmlns="http://www.ismrm.org/ISMRMRD"><encoding>'
        + space.format("encodedSpace", xyz("matrixSize", encoded), xyz("fieldOfView_mm", (280.0, 252.0, 4.5)))
        + space.format("reconSpace", xyz("matrixSize", recon), xyz("fieldOfView_mm", (140.0, 140.0, 3.0)))
        + "<encodingLimits><kspace_encoding_step_1><minimum>0</minimum>"
        + f"<maximum>{maximum}</maximum><center>{center}</center></kspace_encoding_step_1></encodingLimits>"
        + "</encoding></ismrmrdHeader>"
    )
    return (xml.replace(f"<{drop}>", "<removed>").replace(f"</{drop}>", "</removed>") if drop else xml).encode()


def coil_images(shape, seed):
    return crandn(*shape, seed=seed)


def numpy_ifft2c(k):
    """fastMRI's centred orthonormal inverse FFT written with NumPy: the independent reference."""
    axes = (-2, -1)
    return np.fft.fftshift(np.fft.ifft2(np.fft.ifftshift(k, axes=axes), axes=axes, norm="ortho"), axes=axes)


def write(path, kspace, target=None, target_key="reconstruction_rss", mask=None, xml=None, drop_attr=None):
    with h5py.File(path, "w") as f:
        f.create_dataset("kspace", data=kspace)
        f.create_dataset("ismrmrd_header", data=header() if xml is None else xml)
        if target is not None:
            f.create_dataset(target_key, data=target)
        if mask is not None:
            f.create_dataset("mask", data=mask)
        attrs = {"acquisition": "CORPD_FBK", "max": 3.5, "norm": 1.25, "patient_id": "abc"}
        f.attrs.update({k: v for k, v in attrs.items() if k != drop_attr})


@pytest.fixture
def multicoil(tmp_path):
    images = coil_images((SLICES, COILS, READOUT, PHASE), seed=0)
    target = center_crop(rss(images), RECON)
    write(tmp_path / "file1000.h5", fft2c(images).numpy(), target.numpy())
    return tmp_path, images, target


@pytest.mark.parametrize("shape", [(8, 8), (7, 5)])
def test_fft_convention_is_fastmris(shape):
    """fastMRI's fft2c/ifft2c: ifftshift, orthonormal (i)FFT over the last two axes, fftshift. Ours is the same."""
    x = coil_images((3, *shape), seed=1)
    np.testing.assert_allclose(ifft2c(x).numpy(), numpy_ifft2c(x.numpy()), atol=1e-5)
    axes = (-2, -1)
    forward = np.fft.fftshift(np.fft.fft2(np.fft.ifftshift(x.numpy(), axes=axes), axes=axes, norm="ortho"), axes=axes)
    np.testing.assert_allclose(fft2c(x).numpy(), forward, atol=1e-5)


def test_multicoil_slices_reconstruct_to_the_target(multicoil):
    root, images, target = multicoil
    data = FastMRISlices(root)
    assert len(data) == SLICES
    item = data[1]
    assert item["kspace"].shape == (COILS, READOUT, PHASE) and item["kspace"].dtype == torch.complex64
    assert item["mask"].shape == (READOUT, PHASE) and bool((item["mask"] == 1).all())
    assert item["target"].shape == RECON and item["target"].dtype == torch.float32
    # inverse FFT -> RSS -> crop is fastMRI's target, with a NumPy inverse FFT as the reference
    reconstructed = rss(torch.from_numpy(numpy_ifft2c(item["kspace"].numpy())))
    torch.testing.assert_close(center_crop(reconstructed, RECON), item["target"], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(center_crop(rss(ifft2c(item["kspace"])), RECON), target[1], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(ifft2c(item["kspace"]), images[1], atol=1e-5, rtol=1e-5)
    assert (item["max"], item["acquisition"], item["fname"], item["slice"]) == (3.5, "CORPD_FBK", "file1000.h5", 1)
    batch = next(iter(torch.utils.data.DataLoader(data, batch_size=2)))
    assert batch["kspace"].shape == (2, COILS, READOUT, PHASE) and batch["slice"].tolist() == [0, 1]


def test_singlecoil_file(tmp_path):
    images = coil_images((SLICES, READOUT, PHASE), seed=2)
    target = center_crop(images.abs(), RECON)
    write(tmp_path / "single.h5", fft2c(images).numpy(), target.numpy(), target_key="reconstruction_esc")
    item = FastMRISlices(tmp_path / "single.h5")[0]
    assert item["kspace"].shape == (1, READOUT, PHASE)
    torch.testing.assert_close(center_crop(rss(ifft2c(item["kspace"])), RECON), item["target"], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(item["target"], target[0])


def test_header_is_parsed():
    meta = parse_ismrmrd_header(header())
    assert meta["encoding_size"] == (READOUT, PHASE, 1) and meta["recon_size"] == (*RECON, 1)
    assert meta["encoding_fov"] == (280.0, 252.0, 4.5) and meta["recon_fov"] == (140.0, 140.0, 3.0)
    left = PHASE // 2 - CENTER
    assert (meta["padding_left"], meta["padding_right"]) == (left, left + MAXIMUM + 1)


def test_mask_function_is_seeded_per_volume(multicoil):
    root, images, _ = multicoil
    mask_fn = partial(mask_random, acceleration=4, center_fraction=0.08)
    data = FastMRISlices(root, mask=mask_fn, seed=3)
    first, second = data[0], data[1]
    acquired = torch.zeros(PHASE)
    acquired[PHASE // 2 - CENTER : PHASE // 2 - CENTER + MAXIMUM + 1] = 1
    expected = mask_fn((READOUT, PHASE), seed=3 + zlib.crc32(b"file1000.h5")) * acquired
    torch.testing.assert_close(first["mask"], expected)
    torch.testing.assert_close(second["mask"], expected)  # one mask per volume
    torch.testing.assert_close(first["kspace"], fft2c(images[0]) * expected)
    assert expected[:, 0].sum() == 0 and 0.1 < float(expected.mean()) < 0.5
    data.seed = 4
    assert not torch.equal(data[0]["mask"], expected)


def test_test_split_keeps_its_stored_mask(tmp_path):
    kspace = fft2c(coil_images((1, COILS, READOUT, PHASE), seed=5))
    columns = mask_equispaced((READOUT, PHASE), acceleration=4, center_fraction=0.08)[0]
    write(tmp_path / "test.h5", (kspace * columns).numpy(), mask=columns.numpy().astype(bool), drop_attr="max")
    item = FastMRISlices(tmp_path, mask=partial(mask_random, acceleration=8, center_fraction=0.04))[0]
    torch.testing.assert_close(item["mask"], columns.expand(READOUT, PHASE))
    assert "target" not in item and math.isnan(item["max"])


def test_file_truncated_after_indexing_is_named(multicoil):
    path = next(multicoil[0].glob("*.h5"))
    data = FastMRISlices(path)
    path.write_bytes(path.read_bytes()[:4096])  # cut short while the dataset holds its index (a copy interrupted)
    with pytest.raises(ValueError, match=f"expected a readable HDF5 file at .*{path.name}, got one that is corrupt"):
        data[1]


def test_bad_files_and_arguments(tmp_path):
    with h5py.File(tmp_path / "no_kspace.h5", "w") as f:
        f.create_dataset("ismrmrd_header", data=header())
        f.create_dataset("reconstruction_rss", data=np.zeros((1, *RECON), np.float32))
    with pytest.raises(
        ValueError,
        match=r"expected dataset 'kspace' in .*no_kspace.h5, found "
        r"\['ismrmrd_header', 'reconstruction_rss'\]",
    ):
        FastMRISlices(tmp_path / "no_kspace.h5")
    with h5py.File(tmp_path / "no_header.h5", "w") as f:
        f.create_dataset("kspace", data=np.zeros((1, READOUT, PHASE), np.complex64))
    with pytest.raises(ValueError, match="expected dataset 'ismrmrd_header'"):
        FastMRISlices([tmp_path / "no_header.h5"])
    write(tmp_path / "real.h5", np.zeros((1, COILS, READOUT, PHASE), np.float32))
    with pytest.raises(
        TypeError,
        match=r"expected kspace \(slices, \[coils,\] ky, kx\) complex in real.h5, "
        r"got shape \(1, 4, 40, 36\) of float32",
    ):
        FastMRISlices(tmp_path / "real.h5")
    write(tmp_path / "bad_header.h5", np.zeros((1, READOUT, PHASE), np.complex64), xml=header(drop="reconSpace"))
    with pytest.raises(ValueError, match="expected element encoding/reconSpace/matrixSize/x in the ISMRMRD header"):
        FastMRISlices(tmp_path / "bad_header.h5")
    with pytest.raises(ValueError, match="expected ISMRMRD XML"):
        parse_ismrmrd_header(b"not xml")
    with pytest.raises(FileNotFoundError, match="missing.h5"):
        FastMRISlices(tmp_path / "missing.h5")
    (tmp_path / "garbage.h5").write_bytes(b"not HDF5")
    with pytest.raises(ValueError, match=r"expected a readable HDF5 file at .*garbage.h5, got one that is corrupt"):
        FastMRISlices(tmp_path / "garbage.h5")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="expected fastMRI .h5 files in"):
        FastMRISlices(tmp_path / "empty")
    with pytest.raises(TypeError, match="expected mask as None or a callable"):
        FastMRISlices(tmp_path / "missing.h5", mask=torch.ones(3))
    good = tmp_path / "good"
    good.mkdir()
    write(good / "a.h5", np.zeros((1, READOUT, PHASE), np.complex64))
    with pytest.raises(ValueError, match=r"expected the mask function to return shape \(40, 36\), got \(36,\)"):
        FastMRISlices(good, mask=lambda shape, seed: torch.ones(shape[-1]))[0]
    with pytest.raises(ValueError, match=r"expected a tensor \(..., H, W\) with H >= 64, W >= 8"):
        center_crop(torch.zeros(40, 36), (64, 8))


BOMB = (
    b'<?xml version="1.0"?><!DOCTYPE h [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">'
    b'<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">]><ismrmrdHeader>&c;</ismrmrdHeader>'
)
EXTERNAL = (
    b'<?xml version="1.0"?><!DOCTYPE h [<!ENTITY x SYSTEM "file:///etc/passwd">]><ismrmrdHeader>&x;</ismrmrdHeader>'
)


@pytest.mark.parametrize(
    "xml, message",
    [
        (header()[:200], r"expected ISMRMRD XML in the ISMRMRD header of bad.h5, got unparsable text \(.*line 1"),
        (
            header(encoded=("abc", PHASE, 1)),
            r"expected an integer in encoding/encodedSpace/matrixSize/x of the ISMRMRD header of bad.h5, got 'abc'",
        ),
        (
            header(center="1e2"),
            r"expected an integer in encoding/encodingLimits/kspace_encoding_step_1/center of the ISMRMRD header of bad.h5, "
            r"got '1e2'",
        ),
        (
            header(drop="reconSpace"),
            r"expected element encoding/reconSpace/matrixSize/x in the ISMRMRD header of bad.h5",
        ),
        # entities (an XML bomb, a file read by an external entity) come in a DTD, which ISMRMRD headers do not have
        (BOMB, r"expected ISMRMRD XML without a document type declaration in the ISMRMRD header of bad.h5"),
        (EXTERNAL, r"expected ISMRMRD XML without a document type declaration in the ISMRMRD header of bad.h5"),
    ],
    ids=[
        "truncated",
        "matrixSize not a number",
        "center not an integer",
        "element missing",
        "XML bomb",
        "external entity",
    ],
)
def test_bad_header_names_its_file_and_element(tmp_path, xml, message):
    write(tmp_path / "bad.h5", np.zeros((1, COILS, READOUT, PHASE), np.complex64), xml=xml)
    with pytest.raises(ValueError, match=message):
        FastMRISlices(tmp_path)


def test_volume_without_slices_is_named(tmp_path):
    write(tmp_path / "file1000.h5", np.zeros((0, COILS, READOUT, PHASE), np.complex64))
    with pytest.raises(
        ValueError,
        match=r"expected kspace with at least one slice, coil and sample in file1000.h5, "
        r"got shape \(0, 4, 40, 36\)",
    ):
        FastMRISlices(tmp_path)
