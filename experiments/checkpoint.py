"""Checkpoints written atomically: a killed run leaves the previous checkpoint intact, never half a file."""
from __future__ import annotations

import os
import pickle
import tempfile
from pathlib import Path

import torch


def save_checkpoint(path, state: dict) -> Path:
    """``torch.save(state)`` to a temporary file in the same folder, flushed to disk, then renamed over ``path``.

    The rename is atomic on POSIX and Windows (``os.replace``), so readers see the old file or the new one.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # A write killed mid-way (kill -9) leaves its temporary file; nothing ever reads one, so clear them.
    for orphan in path.parent.glob(f".{path.name}.*.tmp"):
        orphan.unlink(missing_ok=True)
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
    """The state `save_checkpoint` wrote: tensors, RNG states (byte tensors) and plain Python values.

    ``weights_only=True``: a pickle may name any callable to run on loading, so only tensors and plain
    values are unpickled; a file holding anything else is refused, never executed.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"expected a checkpoint at {path}, found none")
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except (pickle.UnpicklingError, EOFError, RuntimeError) as err:  # refused, truncated, not a zip archive
        raise ValueError(f"expected a checkpoint written by experiments.checkpoint at {path}, got a file that "
                         f"is corrupt or holds more than tensors and plain values ({_reason(err)})") from None


def _reason(err: Exception) -> str:
    """The cause in torch's message, without its advice to load the file with ``weights_only=False``."""
    for line in str(err).splitlines():
        if "WeightsUnpickler error:" in line:
            return line.split("error:", 1)[1].split(". ")[0].strip()
    return str(err) or type(err).__name__
