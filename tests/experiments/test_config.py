"""The configuration schema: every bundled configuration passes; each misspelt key or bad value is refused with
its key, what it allows and what came, before any work starts."""

import re
from pathlib import Path

import pytest
import torch

from experiments import config
from experiments.commands import shift
from experiments.commands.train import main as train_command
from experiments.config import available, check_config, dumps, load_config, reference, tomllib, with_defaults
from experiments.training import train


@pytest.mark.parametrize("name", available())
def test_bundled_configurations_pass(name):
    assert load_config(name)["model"]["name"]


@pytest.mark.parametrize(
    "override, message",
    [
        ("train.stpes=3", r"train.stpes: unknown key; did you mean train.steps\?"),
        (
            "foo.bar=1",
            r"foo: unknown key; expected one of \['compare', 'data', 'evaluate', 'gan', 'model', 'seed', 'task', 'train'\]",
        ),
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
        ("task.modality=xray", r"task.modality: expected one of \['ct', 'mri', 'pet', 'spect'\], got 'xray'"),
        ("evaluate.baselines.TV.tune={lam=[1]}", "evaluate.baselines.TV.method: missing; expected one of"),
        # a model's counts and the image's side: each failed deep in torch or scikit-image, some after training
        ("model.n_iter=0", "model.n_iter: expected an integer >= 1, got 0"),
        ("model.n_iter=-2", "model.n_iter: expected an integer >= 1, got -2"),
        ("model.width=0", "model.width: expected an integer >= 1, got 0"),
        ("task.image_size=3", "task.image_size: expected an integer >= 7, got 3"),
        ("task.image_size=6", "task.image_size: expected an integer >= 7, got 6"),
    ],
)
def test_bad_override_is_named_with_what_it_allows(override, message):
    with pytest.raises(ValueError, match=message):
        load_config("smoke-ct", [override])


@pytest.mark.skipif(torch.cuda.is_available(), reason="the message of a machine without CUDA")
def test_cuda_device_without_cuda_says_so():
    with pytest.raises(
        ValueError, match=r"train.device: expected 'auto' or 'cpu' \('cuda' needs a CUDA GPU.*got 'cuda'"
    ):
        load_config("smoke-ct", ["train.device=cuda"])


def test_keys_depend_on_the_modality_model_and_method():
    with pytest.raises(ValueError, match=r"task.view_step: unknown key; expected one of \['acceleration', "):
        load_config("mri-cascade", ["task.view_step=2"])  # a CT key in an MRI task
    with pytest.raises(ValueError, match=r"gan.penalty_weight: unknown key; did you mean gan.measurement_weight\?"):
        load_config("mri-dagan", ["gan.penalty_weight=5"])  # WGAN-GP's, not DAGAN's
    assert load_config("mri-dagan", ["gan.loss='wgan-gp'", "gan.penalty_weight=5"])["gan"]["penalty_weight"] == 5
    with pytest.raises(ValueError, match=r"evaluate.baselines.TV.tune.lamb: unknown key; did you mean .*TV.tune.lam\?"):
        load_config("ct-lpd", ["evaluate.baselines.TV.tune={lamb=[1.0]}"])
    with pytest.raises(
        ValueError,
        match=r"evaluate.baselines.TV.tune.lam: expected a non-empty list of values, each a "
        r"number, got \['a'\]",
    ):
        load_config("ct-lpd", ["evaluate.baselines.TV.tune={lam=['a']}"])


def test_every_problem_is_listed_in_one_message():
    with pytest.raises(ValueError) as info:
        check_config({"task": {"modality": "ct"}, "train": {"stpes": 3, "batch_size": 0}})
    assert str(info.value).splitlines() == [
        "invalid configuration:",
        (
            "  model.name: missing; expected one of ['AUTOMAP', 'DeepCascade', 'FBPConvNet', 'LearnedGradient', "
            "'LearnedPrimalDual', 'VarNet']"
        ),
        "  train.stpes: unknown key; did you mean train.steps?",
        "  train.batch_size: expected an integer >= 1, got 0",
    ]


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


@pytest.mark.parametrize(
    "name, override, message",
    [
        ("mri-varnet-fastmri", "task.calib_widht=8", r"task.calib_widht: unknown key; did you mean task.calib_width\?"),
        ("mri-varnet-fastmri", "data.cache=true", r"data.cache: unknown key"),  # FastMRISense always keeps its items
        ("mri-varnet-fastmri", "task.modality=pet", r"task.modality: expected one of \['mri'\], got 'pet'"),
        ("mri-cascade", "task.calib_width=8", r"task.calib_width: unknown key"),  # synthetic maps need no calibration
        ("pet-lpd", "task.lungs=1", r"task.lungs: expected true or false, got 1"),
    ],
)
def test_per_item_keys_belong_to_their_sources(name, override, message):
    with pytest.raises(ValueError, match=message):
        load_config(name, [override])


@pytest.mark.parametrize(
    "name, override, message",
    [
        ("mri-cascade", "model.n_cascades=0", "model.n_cascades: expected an integer >= 1, got 0"),
        ("mri-cascade", "task.image_size=6", "task.image_size: expected an integer >= 7, got 6"),
        ("lpd-paper", "compare.FBPConvNet.width=0", "compare.FBPConvNet.width: expected an integer >= 1, got 0"),
    ],
)
def test_model_counts_and_image_size_are_checked_in_every_model_and_modality(name, override, message):
    with pytest.raises(ValueError, match=message):
        load_config(name, [override])
    assert load_config("lpd-paper", ["compare.FBPConvNet.depth=0", "model.seed=-1"])  # a U-Net of one level


def test_the_smallest_image_size_trains_and_evaluates(tmp_path):
    """The schema's bound is the pipeline's: at 7 pixels a side a run trains, validates and evaluates (SSIM)."""
    from experiments.commands.run import trained_job

    rows = trained_job("smoke-ct", tmp_path, overrides=["task.image_size=7", "train.steps=1", "data.n_train=4"])
    assert rows and (tmp_path / "results.md").exists()


@pytest.mark.parametrize(
    "content, message",
    [
        (b"[train\nsteps = 3\n", r"got a syntax error: .*\(at line 1, column 7\)"),
        (
            b"[train]\nsteps = 3\n[train]\nlr = 1e-3\n",
            r"got a syntax error: Cannot declare \('train',\) twice \(at line 3",
        ),
        (
            b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff",
            r"got a file that is not UTF-8 text \(byte b'\\x89' at offset 0\)",
        ),
    ],
)
def test_a_broken_configuration_file_is_named(tmp_path, content, message):
    path = tmp_path / "broken.toml"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=rf"expected a TOML configuration in {re.escape(str(path))}, {message}"):
        train_command([str(path), "--out", str(tmp_path / "run")])


def test_an_init_file_that_is_not_a_checkpoint_is_named_before_any_work(tmp_path):
    passwd = tmp_path / "passwd"
    passwd.write_text("root:x:0:0:root:/root:/bin/bash\n")
    message = (
        f"train.init: expected a checkpoint file written by torch.save (a zip archive; this file is not a "
        f"checkpoint), got {str(passwd)!r}"
    )
    with pytest.raises(ValueError, match=re.escape(message)):
        train_command(["smoke-ct", "--out", str(tmp_path / "run"), f"train.init={str(passwd)!r}"])
    assert not (tmp_path / "run").exists()


# ----------------------------------------------------------------------------- defaults, declared once
# The defaults the code held before they were declared (its cfg.get(key, default) calls): a configuration that
# leaves a key out means what it meant then. None: the key's default is another's value or a preset's.
OLD_DEFAULTS = {
    "ct": {
        "geometry": "scanner",
        "scanner": "siemens-definition-as",
        "view_step": 1,
        "detector_binning": 1,
        "n_views": 30,
        "image_size": 128,
        "fov": None,
        "photons": 1e4,
        "noise": "poisson",
        "noise_level": 0.05,
        "phantom": "lpd",
    },
    "mri": {
        "image_size": 128,
        "n_coils": 8,
        "acceleration": 4,
        "center_fraction": 0.08,
        "mask": "equispaced",
        "mask_seed": 0,
        "noise_sigma": 0.01,
    },
    "pet": {
        "scanner": "biograph-mmr",
        "downsample": 4,
        "total_counts": 2e5,
        "scatter_fraction": 0.35,
        "randoms_fraction": 0.2,
        "resolution_fwhm": None,
        "lungs": True,
    },
    "data": {
        "source": "synthetic",
        "root": None,
        "seed": None,
        "cache": True,
        "n_train": 8,
        "n_val": 8,
        "n_test": 8,
        "n_calib": 32,  # a key added since (experiments.uncertainty)
        "eval_phantom": None,
        "model": "continuous",
        "sub_rays": 4,
        "fine": None,
        "real_anatomy": True,
    },
    "train": {
        "steps": 100,
        "batch_size": 4,
        "lr": 1e-3,
        "betas": [0.9, 0.99],
        "clip_grad": 1.0,
        "checkpoint_every": None,
        "num_workers": 0,
        "schedule": "cosine",
        "n_threads": None,
        "device": "auto",
        "init": None,
        "compile": False,
    },
    "evaluate": {"baselines": {}, "paper": {}, "paper_source": "published", "crime_free": False},
    "fastmri task": {
        "image_size": 320,
        "n_coils": 8,
        "acceleration": 4,
        "center_fraction": 0.08,
        "mask": "equispaced",
        "mask_seed": 0,
        "calib_width": 24,
    },
    "fastmri data": {"seed": None, "n_train": None, "n_val": None, "n_test": None, "val_volumes": 1, "test_volumes": 1},
}


@pytest.mark.parametrize("modality", ["ct", "mri", "pet"])
def test_defaults_are_filled_in_as_the_code_held_them(modality):
    cfg = check_config({"task": {"modality": modality}, "model": {"name": "LearnedPrimalDual"}})
    assert cfg["task"] == {"modality": modality, **OLD_DEFAULTS[modality]}
    for section in ("data", "train", "evaluate"):
        assert cfg[section] == OLD_DEFAULTS[section], section
    assert cfg["seed"] == 0 and cfg["compare"] == {} and "gan" not in cfg  # a [gan] table turns the GAN on
    assert cfg["model"] == {"name": "LearnedPrimalDual"}  # a model's defaults are its signature's, left to it
    fastmri = with_defaults({"task": {"modality": "mri"}, "data": {"source": "fastmri", "root": "."}})
    assert fastmri["task"] == {"modality": "mri", **OLD_DEFAULTS["fastmri task"]}
    assert fastmri["data"] == {"source": "fastmri", "root": ".", **OLD_DEFAULTS["fastmri data"]}
    gan = with_defaults({"gan": {}})["gan"]
    assert gan == {"loss": "dagan", "lr": 1e-4}


def test_a_given_key_is_kept_and_checking_twice_changes_nothing():
    cfg = load_config("pet-lpd", ["train.schedule='constant'"])
    assert cfg["train"]["schedule"] == "constant" and cfg["train"]["steps"] == 600 and cfg["train"]["clip_grad"] == 1.0
    assert check_config(cfg) == cfg


@pytest.mark.parametrize("name", available())
def test_a_filled_configuration_written_as_toml_reads_back_the_same(name):
    """A run folder's config.toml (`dumps`) leaves out the keys filled in as absent (TOML has no None)."""
    cfg = load_config(name)
    assert check_config(tomllib.loads(dumps(cfg))) == cfg


def test_the_reference_lists_every_declared_key_with_its_default_and_documentation(capsys):
    from experiments.__main__ import main

    assert main(["keys"]) == 0
    text = capsys.readouterr().out
    assert text == reference()
    sections = {
        **config.TASK,
        "fastmri": config.FASTMRI_TASK,
        "data": config.DATA,
        "lodopab": config.LODOPAB_DATA,
        "fastmri data": config.FASTMRI_DATA,
        "train": config.TRAIN,
        "gan": config.GAN,
        "evaluate": config.EVALUATE,
    }
    for keys in sections.values():
        for name, key in keys.items():
            assert key.doc, name
            default = (
                "required"
                if key.default is config.REQUIRED
                else "—"
                if key.default is None
                else f"`{config._toml(key.default)}`"
            )
            assert f"| `{name}` | {default} | " in text and key.doc.replace("|", "\\|") in text, name
    assert '## [task] with modality = "pet"' in text and "| `n_threads` | — | an integer >= 1 |" in text
    assert "| `n_iter` | `10` | an integer >= 1 | LearnedPrimalDual's n_iter |" in text  # from the signature


READERS = {"task_cfg": "task", "data_cfg": "data", "train_cfg": "train", "gan_cfg": "gan"}


def _declared() -> dict:
    """Every key the declaration holds, nested by section (None: a table of names, any key)."""
    task = {k: None for keys in (*config.TASK.values(), config.FASTMRI_TASK) for k in keys} | {"modality": None}
    data = {k: None for keys in (config.DATA, config.LODOPAB_DATA, config.FASTMRI_DATA) for k in keys}
    return {
        "seed": None,
        "task": task,
        "data": data,
        "train": dict.fromkeys(config.TRAIN),
        "gan": dict.fromkeys({**config.GAN, **config.DISCRIMINATOR}),
        "compare": None,
        "model": {k: None for name in config.tasks.MODELS for k in config._model({"name": name})},
        "evaluate": {"baselines": None, "paper": None, **dict.fromkeys(config.EVALUATE)},
    }


def test_every_key_the_code_reads_is_declared():
    """``cfg["section"]["key"]``, ``task_cfg["key"]`` and ``.get("key")`` in the code that runs a configuration."""
    root = Path(config.__file__).parent
    files = [root / "tasks.py", root / "training.py", root / "evaluation.py", *sorted((root / "commands").glob("*.py"))]
    declared, seen = _declared(), 0
    for path in files:
        text = path.read_text()
        for var, chain in re.findall(r"\b(\w*cfg)((?:\[[\"']\w+[\"']\])+)", text):
            if var == "model_cfg":
                continue  # a model's keys are its signature's
            node = declared[READERS[var]] if var in READERS else declared
            for key in re.findall(r"\[[\"'](\w+)[\"']\]", chain):
                assert key in node, f"{path.name}: {var}{chain}"
                node, seen = node[key], seen + 1
                if node is None:  # a key, or a table of any names (baselines, compare)
                    break
        for var, key in re.findall(r"\b(\w*cfg)\.get\([\"'](\w+)[\"']", text):
            if var != "model_cfg":
                assert key in (declared[READERS[var]] if var in READERS else declared), f"{path.name}: {var}.get({key})"
    assert seen > 40
