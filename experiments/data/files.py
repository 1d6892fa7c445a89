"""File helpers shared by the loaders: clear errors for missing files and HDF5 datasets."""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

import h5py


def require_file(path) -> Path:
    """`path` as a Path; a missing file is a FileNotFoundError that names it."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"expected a file at {path}, found none")
    return path


@contextmanager
def open_hdf5(path):
    """The HDF5 file at `path`, open for reading; a corrupt or truncated one, found on opening or on reading
    inside the ``with`` block, is a ValueError that names the file (h5py's own message does not)."""
    path = require_file(path)
    try:
        with h5py.File(path, "r") as f:
            yield f
    except OSError as err:
        raise ValueError(
            f"expected a readable HDF5 file at {path}, got one that is corrupt or truncated ({err})"
        ) from err


def require_dataset(f: h5py.File, key: str) -> h5py.Dataset:
    """The dataset `key` of an open HDF5 file, or a ValueError listing what the file holds."""
    if key not in f or not isinstance(f[key], h5py.Dataset):
        raise ValueError(f"expected dataset {key!r} in {f.filename}, found {sorted(f.keys())}")
    return f[key]


def dataset_shape(path, key: str) -> tuple:
    """Shape of dataset `key` in the HDF5 file at `path`, read from the header only (no data)."""
    with open_hdf5(path) as f:
        return tuple(require_dataset(f, key).shape)
