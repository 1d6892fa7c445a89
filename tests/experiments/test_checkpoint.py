"""Loading checkpoints: whatever is wrong with the file (cut short, not a checkpoint, another model's weights,
weights that are not finite, code to run), the error names the file and says what was expected and what came."""

import re

import pytest
import torch

from experiments.__main__ import main
from experiments.checkpoint import load_checkpoint, save_checkpoint
from experiments.config import load_config
from experiments.training import train

ONE_STEP = ["train.steps=1", "train.checkpoint_every=1", "data.n_train=4"]


def test_a_truncated_checkpoint_is_named_at_every_cut(tmp_path):
    path = tmp_path / "checkpoint.pt"
    save_checkpoint(path, {"step": 1, "model": {f"w{i}": torch.ones(1000 * i + 1) for i in range(20)}})
    data = path.read_bytes()
    for cut in range(0, len(data), 1999):  # some cuts made torch seek past the end: OSError [Errno 22]
        path.write_bytes(data[:cut])
        with pytest.raises(ValueError, match=f"checkpoint .* at {re.escape(str(path))}, got a file that is corrupt"):
            load_checkpoint(path)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """A one-step smoke-ct run: its folder holds a good checkpoint."""
    out = tmp_path_factory.mktemp("run")
    train(load_config("smoke-ct", ONE_STEP), out, progress=False)
    return out


@pytest.mark.parametrize(
    "content, came",
    [
        (b"hello, world\n", "corrupt or not a checkpoint"),  # was a KeyError
        (b"root:x:0:0:root:/root:/bin/bash\n", "corrupt or not a checkpoint"),  # /etc/passwd: an IndexError
        (torch.ones(3), r"holding \['config', 'model'\], got a tensor of shape \(3,\)"),
        ({"step": 1, "model": {}}, r"holding \['config', 'model'\], got a dict of the keys \['step', 'model'\]"),
    ],
)
def test_evaluate_names_a_file_that_is_not_a_checkpoint(tmp_path, content, came):
    path = tmp_path / "checkpoint.pt"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        save_checkpoint(path, content)
    with pytest.raises(ValueError, match=f"{re.escape(str(path))}.*{came}"):
        main(["evaluate", str(tmp_path)])


def test_another_models_checkpoint_names_the_models_and_the_shapes(tmp_path, run_dir):
    path = run_dir / "checkpoint.pt"
    with pytest.raises(
        ValueError,
        match=rf"{re.escape(str(path))} holds the weights of another model: "
        r"LearnedPrimalDual with n_iter=2, width=8, .* where LearnedPrimalDual with "
        r"n_iter=2, width=4, .* is configured; parameter shapes: .*: expected "
        r"\(4, .*\), found \(8, .*\)",
    ):
        main(["train", "smoke-ct", "--out", str(tmp_path), *ONE_STEP, "model.width=4", f"train.init={str(path)!r}"])


@pytest.mark.parametrize("command", ["evaluate", "resume", "init", "shift"])
def test_a_checkpoint_with_weights_that_are_not_finite_is_refused(tmp_path, run_dir, command):
    run = tmp_path / "run"
    state = load_checkpoint(run_dir / "checkpoint.pt")
    key = next(k for k, v in state["model"].items() if v.is_floating_point())
    state["model"][key] = torch.full_like(state["model"][key], float("nan"))
    save_checkpoint(run / "checkpoint.pt", state)
    path = run / "checkpoint.pt"
    argv = {
        "evaluate": ["evaluate", str(run)],
        "resume": ["train", "smoke-ct", *ONE_STEP, "--out", str(run), "--resume"],
        "init": ["train", "smoke-ct", *ONE_STEP, "--out", str(tmp_path / "new"), f"train.init={str(path)!r}"],
        "shift": [
            "shift",
            "--config",
            "smoke-ct",
            "--source-checkpoint",
            str(path),
            "--out",
            str(tmp_path / "shift"),
            *ONE_STEP,
        ],
    }[command]
    with pytest.raises(
        ValueError,
        match=rf"{re.escape(str(path))} holds weights that are not finite \(NaN or inf\) "
        r"in \['.*'\]: the run that wrote it diverged",
    ):
        main(argv)


class Hostile:
    def __reduce__(self):
        return print, ("ran",)


def test_a_refused_pickle_says_why_loading_it_unrestricted_is_unsafe(tmp_path):
    path = tmp_path / "checkpoint.pt"
    save_checkpoint(path, {"model": Hostile()})
    with pytest.raises(ValueError) as info:
        load_checkpoint(path)
    message = str(info.value)
    expected = (
        rf"refused to load {re.escape(str(path))}: it names code to run on loading \(Unsupported global: "
        r"GLOBAL (builtins\.)?print[^)]*\).*torch.load\(weights_only=False\)\) would run that code"
    )
    assert re.match(expected, message), message
    assert "will likely succeed" not in message and "add_safe_globals" not in message  # torch's advice, gone
