"""The fastMRI job's task (`experiments.tasks.fastmri_task`) checks every volume it will use, training, validation
and test, before any work: a bad file is named (and its slice) when the task is built, not after training."""

import time

import h5py
import numpy as np
import pytest

from experiments.config import with_defaults
from experiments.tasks import fastmri_task
from tests.experiments.data.fastmri_files import write_volumes

TASK = {
    "modality": "mri",
    "image_size": 32,
    "n_coils": 4,
    "acceleration": 2,
    "center_fraction": 0.375,
    "calib_width": 12,
}
SPLIT_FILE = {"train": "file1000.h5", "val": "file1001.h5", "test": "file1002.h5"}  # sorted by name: the last test


def build(root, **data):
    cfg = with_defaults({"task": TASK, "data": {"source": "fastmri", "root": str(root), **data}})
    return fastmri_task(cfg["task"], cfg["data"], seed=0)


def rewrite_kspace(path, change):
    """Replace the file's k-space by ``change(kspace)`` (any shape), the rest of the file as written."""
    with h5py.File(path, "r+") as f:
        kspace = f["kspace"][()]
        del f["kspace"]
        f.create_dataset("kspace", data=change(kspace))


def set_slice(value):
    def change(kspace):
        kspace[1, 2] = value  # slice 1, one coil: a corrupt stretch of one slice
        return kspace

    return change


@pytest.mark.parametrize("split", ["train", "val", "test"])
@pytest.mark.parametrize(
    "value, message",
    [
        (np.nan, r"expected finite k-space in {} slice 1, got \d+ non-finite values"),
        (np.inf, r"expected finite k-space in {} slice 1, got \d+ non-finite values"),
        (0, r"expected k-space with a nonzero value in {} slice 1, got an all-zero slice"),
        (1e37, r"expected \|k\| <= .* in {} slice 1 .*float32.*, got a maximum of 1e\+37"),
    ],
    ids=["NaN", "Inf", "all-zero slice", "huge"],
)
def test_bad_kspace_in_any_split_is_named_before_training(tmp_path, split, value, message):
    root = write_volumes(tmp_path / "files")
    if value == 0:
        rewrite_kspace(root / SPLIT_FILE[split], lambda k: np.concatenate([k[:1], 0 * k[1:]]))
    else:
        rewrite_kspace(root / SPLIT_FILE[split], set_slice(value))
    with pytest.raises(ValueError, match=message.format(SPLIT_FILE[split])):
        build(root)


@pytest.mark.parametrize("split", ["train", "test"])
def test_volume_without_slices_is_named(tmp_path, split):
    root = write_volumes(tmp_path / "files")
    rewrite_kspace(root / SPLIT_FILE[split], lambda k: k[:0])
    with pytest.raises(
        ValueError,
        match=rf"expected kspace with at least one slice, coil and sample in "
        rf"{SPLIT_FILE[split]}, got shape \(0, 6, 64, 36\)",
    ):
        build(root)


def test_test_volume_with_too_few_coils_is_named_before_training(tmp_path):
    root = write_volumes(tmp_path / "files")
    rewrite_kspace(root / SPLIT_FILE["test"], lambda k: k[:, :3])  # 3 coils; the job compresses to 4
    with pytest.raises(ValueError, match=r"expected at least n_coils = 4 coils in file1002.h5, got 3"):
        build(root)


def test_only_the_slices_the_job_uses_are_read(tmp_path):
    root = write_volumes(tmp_path / "files")
    rewrite_kspace(root / SPLIT_FILE["test"], set_slice(np.nan))  # slice 1, which n_test = 1 leaves out
    start = time.perf_counter()
    task = build(root, n_test=1)
    elapsed = time.perf_counter() - start
    assert len(task.train) == 2 and len(task.test) == 1 and task.test[0]["y"].shape == (4, 32, 32)
    assert elapsed < 30  # three 2-slice volumes and one ESPIRiT item: well under a second on one core


def test_an_empty_split_is_named_before_training(tmp_path):
    root = write_volumes(tmp_path / "files")
    with pytest.raises(ValueError, match=r"expected at least one test slice, got data.n_test = 0"):
        build(root, n_test=0)
