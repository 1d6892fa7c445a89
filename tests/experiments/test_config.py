"""The configuration schema: every bundled configuration passes; each misspelt key or bad value is refused with
its key, what it allows and what came, before any work starts."""
import re

import pytest
import torch

from experiments.commands import shift
from experiments.commands.train import main as train_command
from experiments.config import available, check_config, load_config
from experiments.training import train


@pytest.mark.parametrize("name", available())
def test_bundled_configurations_pass(name):
    assert load_config(name)["model"]["name"]


@pytest.mark.parametrize("override, message", [
    ("train.stpes=3", r"train.stpes: unknown key; did you mean train.steps\?"),
    ("foo.bar=1", r"foo: unknown key; expected one of \['compare', 'data', 'evaluate', 'gan', 'model', 'seed', 'task', 'train'\]"),
    ("model.widht=3", r"model.widht: unknown key; did you mean model.width\?"),
    ("task.fov_mm=0", r"task.fov_mm: unknown key; did you mean task.fov\?"),
    ("task.fov=0", "task.fov: expected a number > 0, got 0"),  # silently meant the preset's 500 mm
    ("train=5", r"train: expected a section \(a table of keys\), got 5"),
    ("train.steps=abc", "train.steps: expected an integer >= 1, got 'abc'"),
    ("train.steps=0", "train.steps: expected an integer >= 1, got 0"),  # reported a checkpoint never written
    ("train.batch_size=0", "train.batch_size: expected an integer >= 1, got 0"),
    ("train.checkpoint_every=0", "train.checkpoint_every: expected an integer >= 1, got 0"),
    ("train.clip_grad=-1", "train.clip_grad: expected a number >= 0, got -1"),  # flipped the gradient
    ("train.lr=nan", "train.lr: expected a number > 0, got nan"),
    ("train.init='no-such.pt'", "train.init: expected the path of an existing checkpoint file, got 'no-such.pt'"),
    ("model.initial.method=sart", r"model.initial.method: expected one of \['cg_sense', 'fbp', .*\], got 'sart'"),
    ("model.initial.filter=1", r"model.initial.filter: unknown key; did you mean model.initial.filter_type\?"),
    ("task.modality=xray", r"task.modality: expected one of \['ct', 'mri', 'pet'\], got 'xray'"),
    ("evaluate.baselines.TV.tune={lam=[1]}", "evaluate.baselines.TV.method: missing; expected one of"),
    # a model's counts and the image's side: each failed deep in torch or scikit-image, some after training
    ("model.n_iter=0", "model.n_iter: expected an integer >= 1, got 0"),
    ("model.n_iter=-2", "model.n_iter: expected an integer >= 1, got -2"),
    ("model.width=0", "model.width: expected an integer >= 1, got 0"),
    ("task.image_size=3", "task.image_size: expected an integer >= 7, got 3"),
    ("task.image_size=6", "task.image_size: expected an integer >= 7, got 6"),
])
def test_bad_override_is_named_with_what_it_allows(override, message):
    with pytest.raises(ValueError, match=message):
        load_config("smoke-ct", [override])


@pytest.mark.skipif(torch.cuda.is_available(), reason="the message of a machine without CUDA")
def test_cuda_device_without_cuda_says_so():
    with pytest.raises(ValueError, match=r"train.device: expected 'auto' or 'cpu' \('cuda' needs a CUDA GPU.*got 'cuda'"):
        load_config("smoke-ct", ["train.device=cuda"])


def test_keys_depend_on_the_modality_model_and_method():
    with pytest.raises(ValueError, match=r"task.view_step: unknown key; expected one of \['acceleration', "):
        load_config("mri-cascade", ["task.view_step=2"])  # a CT key in an MRI task
    with pytest.raises(ValueError, match=r"gan.penalty_weight: unknown key; did you mean gan.measurement_weight\?"):
        load_config("mri-dagan", ["gan.penalty_weight=5"])  # WGAN-GP's, not DAGAN's
    assert load_config("mri-dagan", ["gan.loss='wgan-gp'", "gan.penalty_weight=5"])["gan"]["penalty_weight"] == 5
    with pytest.raises(ValueError, match=r"evaluate.baselines.TV.tune.lamb: unknown key; did you mean .*TV.tune.lam\?"):
        load_config("ct-lpd", ["evaluate.baselines.TV.tune={lamb=[1.0]}"])
    with pytest.raises(ValueError, match=r"evaluate.baselines.TV.tune.lam: expected a non-empty list of values, each a "
                                         r"number, got \['a'\]"):
        load_config("ct-lpd", ["evaluate.baselines.TV.tune={lam=['a']}"])


def test_every_problem_is_listed_in_one_message():
    with pytest.raises(ValueError) as info:
        check_config({"task": {"modality": "ct"}, "train": {"stpes": 3, "batch_size": 0}})
    assert str(info.value).splitlines() == [
        "invalid configuration:",
        ("  model.name: missing; expected one of ['AUTOMAP', 'DeepCascade', 'FBPConvNet', 'LearnedGradient', "
         "'LearnedPrimalDual', 'VarNet']"),
        "  train.stpes: unknown key; did you mean train.steps?",
        "  train.batch_size: expected an integer >= 1, got 0"]


def test_checked_before_any_work_starts(tmp_path):
    with pytest.raises(ValueError, match="train.checkpoint_every: expected an integer >= 1, got 0"):
        train_command(["smoke-ct", "--out", str(tmp_path / "run"), "train.checkpoint_every=0"])
    cfg = load_config("smoke-ct")
    cfg["train"]["clip_grad"] = -1.0  # a configuration changed in code is checked too
    with pytest.raises(ValueError, match="train.clip_grad: expected a number >= 0"):
        train(cfg, tmp_path / "run", progress=False)
    with pytest.raises(ValueError, match="train.steps: expected an integer >= 1, got 0"):
        shift.shift(load_config("smoke-ct"), [], [], 0, tmp_path / "shift", log=lambda *a: None)
    assert not (tmp_path / "run").exists() and not (tmp_path / "shift").exists()  # nothing trained or written


@pytest.mark.parametrize("name, override, message", [
    ("mri-varnet-fastmri", "task.calib_widht=8", r"task.calib_widht: unknown key; did you mean task.calib_width\?"),
    ("mri-varnet-fastmri", "data.cache=true", r"data.cache: unknown key"),  # FastMRISense always keeps its items
    ("mri-varnet-fastmri", "task.modality=pet", r"task.modality: expected one of \['mri'\], got 'pet'"),
    ("mri-cascade", "task.calib_width=8", r"task.calib_width: unknown key"),  # synthetic maps need no calibration
    ("pet-lpd", "task.lungs=1", r"task.lungs: expected true or false, got 1"),
])
def test_per_item_keys_belong_to_their_sources(name, override, message):
    with pytest.raises(ValueError, match=message):
        load_config(name, [override])


@pytest.mark.parametrize("name, override, message", [
    ("mri-cascade", "model.n_cascades=0", "model.n_cascades: expected an integer >= 1, got 0"),
    ("mri-cascade", "task.image_size=6", "task.image_size: expected an integer >= 7, got 6"),
    ("lpd-paper", "compare.FBPConvNet.width=0", "compare.FBPConvNet.width: expected an integer >= 1, got 0"),
])
def test_model_counts_and_image_size_are_checked_in_every_model_and_modality(name, override, message):
    with pytest.raises(ValueError, match=message):
        load_config(name, [override])
    assert load_config("lpd-paper", ["compare.FBPConvNet.depth=0", "model.seed=-1"])  # a U-Net of one level


def test_the_smallest_image_size_trains_and_evaluates(tmp_path):
    """The schema's bound is the pipeline's: at 7 pixels a side a run trains, validates and evaluates (SSIM)."""
    from experiments.commands.run import trained_job
    rows = trained_job("smoke-ct", tmp_path, overrides=["task.image_size=7", "train.steps=1", "data.n_train=4"])
    assert rows and (tmp_path / "results.md").exists()


@pytest.mark.parametrize("content, message", [
    (b"[train\nsteps = 3\n", r"got a syntax error: .*\(at line 1, column 7\)"),
    (b"[train]\nsteps = 3\n[train]\nlr = 1e-3\n", r"got a syntax error: Cannot declare \('train',\) twice \(at line 3"),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff", r"got a file that is not UTF-8 text \(byte b'\\x89' at offset 0\)"),
])
def test_a_broken_configuration_file_is_named(tmp_path, content, message):
    path = tmp_path / "broken.toml"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=rf"expected a TOML configuration in {re.escape(str(path))}, {message}"):
        train_command([str(path), "--out", str(tmp_path / "run")])


def test_an_init_file_that_is_not_a_checkpoint_is_named_before_any_work(tmp_path):
    passwd = tmp_path / "passwd"
    passwd.write_text("root:x:0:0:root:/root:/bin/bash\n")
    message = (f"train.init: expected a checkpoint file written by torch.save (a zip archive; this file is not a "
               f"checkpoint), got {str(passwd)!r}")
    with pytest.raises(ValueError, match=re.escape(message)):
        train_command(["smoke-ct", "--out", str(tmp_path / "run"), f"train.init={str(passwd)!r}"])
    assert not (tmp_path / "run").exists()
