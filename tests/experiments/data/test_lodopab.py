"""LoDoPaB-CT loader on files written as dival/ODL write them: images (x, y) on [-0.13, 0.13]² m, sinograms from
ODL's own ray transform (``parallel_beam_geometry``, 1000 angles, 513 bins), in metres, normalised by μ_max.
The axis and unit conventions are checked against our Projector on the loaded image."""

import h5py
import numpy as np
import odl
import pytest
import torch
from odl.applications import tomo

from bridges import ct
from experiments.data.lodopab import MU_MAX, LoDoPaB, lodopab_geometry
from tests.conftest import rel

SCALES = (1.0, 0.5, 0.25)  # sample k is the phantom times SCALES[k]; files hold 2 and 1 samples


def odl_phantom_and_sinogram():
    """A phantom in ODL's (x, y) layout, asymmetric so that a transpose or flip shows, and ODL's sinogram of it."""
    space = odl.uniform_discr([-0.13, -0.13], [0.13, 0.13], (362, 362), dtype="float32")
    geometry = tomo.parallel_beam_geometry(space, num_angles=1000, det_shape=(513,))
    image = odl.core.phantom.shepp_logan(space, modified=True).asarray()
    image[250:290, 60:100] = 1.0  # a square at x > 0, y < 0
    return image, tomo.RayTransform(space, geometry, impl="astra_cpu")(image).asarray()


def write(path, array):
    with h5py.File(path, "w") as f:
        f.create_dataset("data", data=array.astype(np.float32))


@pytest.fixture(scope="module")
def lodopab(tmp_path_factory):
    root = tmp_path_factory.mktemp("lodopab")
    image, sinogram = odl_phantom_and_sinogram()
    images = np.stack([image * s for s in SCALES])
    sinograms = np.stack([sinogram * s for s in SCALES])  # the ray transform is linear
    for n, rows in enumerate([slice(0, 2), slice(2, 3)]):
        write(root / f"ground_truth_validation_{n:03d}.hdf5", images[rows])
        write(root / f"observation_validation_{n:03d}.hdf5", sinograms[rows])
    return root, image, sinogram


def test_loaded_pair_matches_our_projector(lodopab):
    root, image, _ = lodopab
    item = LoDoPaB(root, "validation")[0]
    assert item["x"].shape == (362, 362) and item["y"].shape == (1000, 513) and item["x"].dtype == torch.float32
    torch.testing.assert_close(item["x"], torch.from_numpy(image.T.copy()))
    A = ct.Projector(lodopab_geometry())
    assert rel(A(item["x"]), item["y"]) < 1e-4
    # the preset starts its angles at 0 rather than mid-step: close, not equal
    assert rel(ct.Projector(ct.scanner("lodopab"))(item["x"]), item["y"]) < 1e-2
    # the check can fail: the file's own (x, y) layout projects elsewhere
    assert rel(A(item["x"].T.contiguous()), item["y"]) > 0.1


def test_physical_units(lodopab):
    root, image, sinogram = lodopab
    item = LoDoPaB(root, "validation", units="physical")[1]
    torch.testing.assert_close(item["x"], torch.from_numpy(image.T * SCALES[1] * MU_MAX / 1000))
    torch.testing.assert_close(item["y"], torch.from_numpy(sinogram * SCALES[1] * MU_MAX))
    assert rel(ct.Projector(lodopab_geometry())(item["x"]), item["y"]) < 1e-4
    # 1/mm: the phantom's brightest value (1 = μ_max) is 3071 HU, about 4 × water
    assert abs(float(item["x"].max()) / SCALES[1] - 0.0814) < 1e-3


def test_samples_across_files_and_batches(lodopab):
    root, image, _ = lodopab
    data = LoDoPaB(root, "validation")
    assert len(data) == 3 and [f[0].name for f in data.files] == [
        "ground_truth_validation_000.hdf5",
        "ground_truth_validation_001.hdf5",
    ]
    for index in (2, -1):
        item = data[index]
        assert item["index"] == 2
        torch.testing.assert_close(item["x"], torch.from_numpy(image.T * SCALES[2]))
    batch = next(iter(torch.utils.data.DataLoader(data, batch_size=3)))
    assert batch["x"].shape == (3, 362, 362) and batch["y"].shape == (3, 1000, 513)
    with pytest.raises(IndexError, match="index 3 out of range for 3 samples"):
        data[3]


def test_geometry_is_lodopabs():
    g, preset = lodopab_geometry(), ct.scanner("lodopab")
    np.testing.assert_allclose(g.angles, (np.arange(1000) + 0.5) * np.pi / 1000)
    assert g.sinogram_shape == (1000, 513) and g.image_shape == (362, 362)
    assert g.n_detectors * g.detector_spacing == pytest.approx(2 * 130 * np.sqrt(2))
    assert g.pixel_size == preset.pixel_size == (260 / 362, 260 / 362)


def test_bad_inputs(tmp_path):
    with pytest.raises(ValueError, match=r"expected part in \('train', 'validation', 'test'\), got 'val'"):
        LoDoPaB(tmp_path, "val")
    with pytest.raises(ValueError, match=r"expected units in \('normalised', 'physical'\), got 'SI'"):
        LoDoPaB(tmp_path, "test", units="SI")
    with pytest.raises(FileNotFoundError, match="ground_truth_test_000.hdf5"):
        LoDoPaB(tmp_path, "test")
    write(tmp_path / "ground_truth_test_000.hdf5", np.zeros((2, 362, 362)))
    with pytest.raises(FileNotFoundError, match="observation_test_000.hdf5"):
        LoDoPaB(tmp_path, "test")
    write(tmp_path / "observation_test_000.hdf5", np.zeros((2, 513, 1000)))
    with pytest.raises(
        ValueError,
        match=r"sinograms \(n, 1000, 513\) with the same n, got \(2, 362, 362\) in "
        r"ground_truth_test_000.hdf5 and \(2, 513, 1000\)",
    ):
        LoDoPaB(tmp_path, "test")
    with h5py.File(tmp_path / "observation_test_000.hdf5", "w") as f:
        f.create_dataset("sinogram", data=np.zeros((2, 1000, 513), np.float32))
    with pytest.raises(
        ValueError,
        match=r"expected dataset 'data' in .*observation_test_000.hdf5, "
        r"found \['sinogram'\]",
    ):
        LoDoPaB(tmp_path, "test")
    (tmp_path / "observation_test_000.hdf5").write_bytes(b"\x89HDF\r\n\x1a\n cut short")
    with pytest.raises(ValueError, match="expected a readable HDF5 file at .*observation_test_000.hdf5, got one that"):
        LoDoPaB(tmp_path, "test")


def test_a_task_reads_lodopab_files_in_physical_units(lodopab, tmp_path):
    from experiments.tasks import build_task

    for path in lodopab[0].iterdir():
        for part in ("train", "validation", "test"):
            (tmp_path / path.name.replace("validation", part)).symlink_to(path)
    task = build_task({"seed": 0, "data": {"source": "lodopab", "root": str(tmp_path), "n_train": 2}})
    assert (len(task.train), len(task.val), len(task.test)) == (2, 3, 3)
    item = task.train[1]
    assert rel(task.op(item["x"]), item["y"]) < 1e-4 and float(item["x"].max()) < 0.1  # 1/mm
    with pytest.raises(ValueError, match="'lodopab'"):
        build_task({"data": {"source": "lodo"}})
