"""Checkpoints written atomically: a killed run leaves the previous checkpoint intact, never half a file."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

import torch


def save_checkpoint(path, state: dict) -> Path:
    """``torch.save(state)`` to a temporary file in the same folder, flushed to disk, then renamed over ``path``.

    The rename is atomic on POSIX and Windows (``os.replace``), so readers see the old file or the new one.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(state, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def load_checkpoint(path, map_location="cpu") -> dict:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"expected a checkpoint at {path}, found none")
    # Our checkpoints hold RNG states and plain Python values besides tensors.
    return torch.load(path, map_location=map_location, weights_only=False)
