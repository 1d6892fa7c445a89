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


def load_checkpoint(path, map_location="cpu", keys=()) -> dict:
    """The state `save_checkpoint` wrote: tensors, RNG states (byte tensors) and plain Python values, a dict
    holding at least ``keys``.

    ``weights_only=True``: a pickle may name any callable to run on loading, so only tensors and plain
    values are unpickled; a file holding anything else is refused, never executed.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"expected a checkpoint at {path}, found none")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as err:
        if "Unsupported global" not in str(err):  # not a pickle at all, or a broken one
            raise _not_a_checkpoint(path, err) from None
        # torch's message advises loading with weights_only=False; ours says why not
        raise ValueError(
            f"refused to load {path}: it names code to run on loading ({_reason(err)}), which a "
            f"checkpoint of tensors and plain values never does. Loading it unrestricted "
            f"(torch.load(weights_only=False)) would run that code, whatever it is: only do so "
            f"for a file you wrote yourself"
        ) from None
    except Exception as err:
        # truncated or not a checkpoint: torch's reader fails differently at each cut point and on each kind of
        # file (EOFError, OSError [Errno 22] seeking past the end, RuntimeError, KeyError, IndexError, ...)
        raise _not_a_checkpoint(path, err) from None
    missing = [k for k in keys if not (isinstance(state, dict) and k in state)]
    if missing:
        raise ValueError(f"expected a checkpoint at {path} holding {list(keys)}, got {_describe(state)}")
    return state


def load_weights(model: torch.nn.Module, state: dict, path, configured: dict | None = None) -> torch.nn.Module:
    """``state["model"]`` (a checkpoint read from ``path``) loaded into ``model``, if every weight is finite
    and the names and shapes are the model's; else a ValueError naming the file. ``configured``: the
    ``[model]`` table ``model`` was built from, for the message."""
    weights = state["model"]
    if not isinstance(weights, dict) or not all(isinstance(v, torch.Tensor) for v in weights.values()):
        raise ValueError(f"expected the weights of a model in {path}['model'], got {_describe(weights)}")
    broken = [k for k, v in weights.items() if (v.is_floating_point() or v.is_complex()) and not v.isfinite().all()]
    if broken:
        raise ValueError(
            f"{path} holds weights that are not finite (NaN or inf) in {_few(broken)}: the run that "
            f"wrote it diverged; retrain it (e.g. with a lower train.lr)"
        )
    ours = model.state_dict()
    problems = [
        f"{k}: expected {tuple(ours[k].shape)}, found {tuple(v.shape)}"
        for k, v in weights.items()
        if k in ours and ours[k].shape != v.shape
    ]
    missing, unexpected = [k for k in ours if k not in weights], [k for k in weights if k not in ours]
    problems += [f"missing {_few(missing)}"] if missing else []
    problems += [f"unexpected {_few(unexpected)}"] if unexpected else []
    if problems:
        theirs = state.get("config", {}).get("model") if isinstance(state.get("config"), dict) else None
        ours_cfg = _model(configured) if configured else type(model).__name__
        raise ValueError(
            f"{path} holds the weights of another model: {_model(theirs)}, where {ours_cfg} is "
            f"configured; parameter shapes: {'; '.join(problems[:5])}"
            + (f"; and {len(problems) - 5} more" if len(problems) > 5 else "")
        )
    model.load_state_dict(weights)
    return model


def _not_a_checkpoint(path, err) -> ValueError:
    return ValueError(
        f"expected a checkpoint written by experiments.checkpoint at {path}, got a file that is "
        f"corrupt or not a checkpoint ({type(err).__name__}: {_reason(err)})"
    )


def _reason(err: Exception) -> str:
    """The cause in torch's message (its first line), without its advice to load the file with
    ``weights_only=False``."""
    for line in str(err).splitlines():
        if "WeightsUnpickler error:" in line:
            return line.split("error:", 1)[1].split(". ")[0].strip() or "not a pickle"
    return str(err).splitlines()[0][:200] if str(err) else type(err).__name__


def _describe(value) -> str:
    if isinstance(value, torch.Tensor):
        return f"a tensor of shape {tuple(value.shape)}"
    if isinstance(value, dict):
        return f"a dict of the keys {_few([str(k) for k in value])}"
    return f"a {type(value).__name__}"


def _few(names: list, n: int = 5) -> str:
    return str(names[:n]) + (f" and {len(names) - n} more" if len(names) > n else "")


def _model(cfg) -> str:
    """A checkpoint's ``[model]`` table in a line: its name and plain settings."""
    if not isinstance(cfg, dict):
        return "its configuration does not say which"
    plain = ", ".join(f"{k}={v!r}" for k, v in cfg.items() if k != "name" and not isinstance(v, dict))
    return f"{cfg.get('name', 'unnamed')}" + (f" with {plain}" if plain else "")
