"""Experiment configurations: small TOML files in experiments/configs/, with command-line overrides.

A configuration is a nested dict; ``section.key=value`` overrides replace one entry, the value
read as TOML (``train.steps=200``, ``task.photons=1e3``, ``model.name="VarNet"``) or, failing
that, as a bare string (``task.scanner=lodopab``).

Every key is declared once, as a `Key` (what it allows, its default, one line of documentation) in its section's
table below (`TASK`, `DATA`, `TRAIN`, ...; a model's keys come from its signature). From that declaration
`check_config` refuses a misspelt key or a bad value, named, before any work starts, and fills in the defaults,
so that the code reads ``cfg["train"]["steps"]``; `reference` writes every key as markdown
(``python -m experiments keys``).

Example::

    cfg = load_config("ct-lpd", ["train.steps=50"])
    cfg["train"]["steps"]                      # 50
    cfg["train"]["schedule"]                   # "cosine", the default
"""

from __future__ import annotations

import copy
import dataclasses
import difflib
import inspect
import math
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

import learned
from bridges import ct, pet, spect
from experiments import baselines, data, tasks
from experiments.data.noise import CT_NOISE
from experiments.data.synthetic import CT_PHANTOMS, DATA_MODELS

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

CONFIG_DIR = Path(__file__).parent / "configs"


def available() -> list[str]:
    return sorted(p.stem for p in CONFIG_DIR.glob("*.toml"))


def config_path(name_or_path) -> Path:
    """A path as given, or the name of a file in experiments/configs/ (with or without .toml)."""
    path = Path(name_or_path)
    if path.suffix == ".toml" and path.exists():
        return path
    bundled = CONFIG_DIR / f"{path.stem}.toml"
    if bundled.exists():
        return bundled
    raise ValueError(
        f"expected a .toml file or one of the bundled configurations {available()}, got {str(name_or_path)!r}"
    )


def load_config(name_or_path, overrides=()) -> dict:
    """The configuration file with ``section.key=value`` overrides applied, checked by `check_config`."""
    path = config_path(name_or_path)
    try:
        with open(path, "rb") as f:
            cfg = tomllib.load(f)
    except tomllib.TOMLDecodeError as err:  # its message gives the line and column
        raise ValueError(f"expected a TOML configuration in {path}, got a syntax error: {err}") from None
    except UnicodeDecodeError as err:  # a binary file
        raise ValueError(
            f"expected a TOML configuration in {path}, got a file that is not UTF-8 text (byte "
            f"{err.object[err.start : err.start + 1]!r} at offset {err.start})"
        ) from None
    return check_config(apply_overrides(cfg, overrides))


def apply_overrides(cfg: dict, overrides) -> dict:
    cfg = copy.deepcopy(cfg)
    for item in overrides:
        key, sep, text = item.partition("=")
        if not sep or not key:
            raise ValueError(f"expected an override of the form section.key=value, got {item!r}")
        *sections, leaf = key.strip().split(".")
        node = cfg
        for name in sections:
            node = node.setdefault(name, {})
            if not isinstance(node, dict):
                raise ValueError(f"override {item!r}: {name!r} is a value, not a section")
        node[leaf] = _value(text.strip())
    return cfg


def _value(text: str):
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


# ----------------------------------------------------------------------------- schema
# A rule takes a value and returns None if it is allowed, else what was expected (for the message).
def _integer(low=None):
    what = "an integer" if low is None else f"an integer >= {low}"
    return lambda v: None if isinstance(v, int) and not isinstance(v, bool) and (low is None or v >= low) else what


def _number(low=None, above=None):
    """A number (int or float) >= ``low`` or > ``above``; never NaN."""
    what = "a number" + (f" >= {low}" if low is not None else f" > {above}" if above is not None else "")

    def rule(v):
        ok = isinstance(v, (int, float)) and not isinstance(v, bool) and not math.isnan(v)
        ok = ok and (low is None or v >= low) and (above is None or v > above)
        return None if ok else what

    return rule


def _fraction(v):
    """A probability in [0, 1), such as a dropout rate."""
    ok = isinstance(v, (int, float)) and not isinstance(v, bool) and 0 <= v < 1
    return None if ok else "a number in [0, 1)"


def _one_of(options):
    options = sorted(options)
    return lambda v: None if v in options else f"one of {options}"


def _boolean(v):
    return None if isinstance(v, bool) else "true or false"


def _text(v):
    return None if isinstance(v, str) else "a string"


def _anything(v):
    return None


def _betas(v):
    ok = isinstance(v, list) and len(v) == 2 and all(_number(low=0)(b) is None and b < 1 for b in v)
    return None if ok else "two numbers in [0, 1), e.g. [0.9, 0.99]"


def _device(v):
    if v == "cuda" and not torch.cuda.is_available():
        return "'auto' or 'cpu' ('cuda' needs a CUDA GPU, and torch finds none here)"
    return _one_of(("auto", "cpu", "cuda"))(v)


def _existing_file(v):
    # torch.save writes a zip archive: a cheap look at the file refuses a text file (train.init=/etc/passwd)
    # here, before the data are built, rather than deep in the unpickler
    if not (isinstance(v, str) and Path(v).is_file()):
        return "the path of an existing checkpoint file"
    if not zipfile.is_zipfile(v):
        return "a checkpoint file written by torch.save (a zip archive; this file is not a checkpoint)"
    return None


class _Required:
    def __repr__(self):
        return "required"


REQUIRED = _Required()  # a default: the key must be given
_NOTHING = object()  # a value no rule allows: a rule called with it says what it allows


@dataclass(frozen=True)
class Key:
    """One configuration key: the rule its value must pass, its default and one line of documentation.

    ``check_config`` fills in ``default`` where the key is absent: the code reads ``cfg["train"]["steps"]``.
    A default of None means "absent", and ``doc`` says what the code takes then (another key's value, the
    preset's); REQUIRED means the key must be given. ``filled`` False leaves the key out when absent: the
    keyword arguments of a learned model or a baseline, whose defaults are their functions' own.
    """

    rule: Callable
    default: object = None
    doc: str = ""
    filled: bool = True


_OTHERS = "*"  # a schema's entry for every key it does not name: where what is allowed is not known yet
_ANY = Key(_anything)


def _grid(rule):
    """A baseline's ``tune`` entry: the values to try, each allowed by the parameter's rule."""

    def check(v):
        if isinstance(v, list) and v and all(rule(x) is None for x in v):
            return None
        return f"a non-empty list of values, each {rule([]) or 'any value'}"

    return check


# The smallest image side that the whole pipeline takes: SSIM (scikit-image's 7 x 7 window) refuses anything
# smaller, and does so at the first validation, after training has started (measured: smoke-ct and mri-cascade
# train and evaluate at 7, fail at 6 and 3). The U-Nets set no bound: they pad to a multiple of their
# downsampling factor.
MIN_IMAGE_SIZE = 7

SEED = Key(_integer(0), 0, "seeds the weights, the batches' order and (unless data.seed) the data")
_MRI = {  # the synthetic MRI task's and the fastMRI files' common keys
    "image_size": Key(_integer(MIN_IMAGE_SIZE), 128, "image side in pixels"),
    "n_coils": Key(_integer(1), 8, "receive coils (fastMRI: virtual coils)"),
    "acceleration": Key(_number(low=1), 4.0, "undersampling factor of the phase-encode columns"),
    "center_fraction": Key(_number(above=0), 0.08, "fraction of fully sampled central columns"),
    "mask": Key(_one_of(tasks.MRI_MASKS), "equispaced", "column pattern of the sampling mask"),
    "mask_seed": Key(_integer(0), 0, "seed of the random mask (fastMRI: added to the data seed)"),
}
TASK = {
    "ct": {
        "geometry": Key(
            _one_of(("scanner", "parallel")),
            "scanner",
            "a preset's geometry (task.scanner), or the LPD paper's parallel beam",
        ),
        "scanner": Key(_one_of(ct.PRESETS), "siemens-definition-as", "the preset of bridges.ct.scanner"),
        "view_step": Key(_integer(1), 1, "keep every n-th view of the preset"),
        "detector_binning": Key(_integer(1), 1, "merge n adjacent detector channels"),
        "n_views": Key(_integer(1), 30, "views of the parallel beam (geometry 'parallel')"),
        "image_size": Key(_integer(MIN_IMAGE_SIZE), 128, "image side in pixels"),
        "fov": Key(_number(above=0), None, "field of view in mm (default: the preset's; parallel: image_size)"),
        "photons": Key(_number(above=0), 1e4, "photons per detector bin before the object (noise 'poisson')"),
        "noise": Key(_one_of(CT_NOISE), "poisson", "noise model of the measurements"),
        "noise_level": Key(_number(low=0), 0.05, "white noise in units of mean |data| (noise 'relative-gaussian')"),
        "phantom": Key(_one_of(CT_PHANTOMS), "lpd", "the synthetic objects"),
    },
    "mri": {**_MRI, "noise_sigma": Key(_number(low=0), 0.01, "standard deviation of the complex k-space noise")},
    "pet": {
        "scanner": Key(_one_of(pet.PRESETS), "biograph-mmr", "the preset of bridges.pet.scanner"),
        "downsample": Key(_integer(1), 4, "merge n neighbouring crystals (and radial bins)"),
        "total_counts": Key(_number(above=0), data.PET_TOTAL_COUNTS, "true coincidences per slice"),
        "scatter_fraction": Key(_number(low=0), 0.35, "scatter counts as a fraction of the trues"),
        "randoms_fraction": Key(_number(low=0), 0.2, "randoms counts as a fraction of the trues"),
        "resolution_fwhm": Key(_number(low=0), None, "image-space resolution in mm (default: none modelled)"),
        "lungs": Key(_boolean, True, "each item its own μ-map, lungs where cold"),
    },
    "spect": {
        "camera": Key(_one_of(spect.PRESETS), "siemens-symbia-lehr", "the preset of bridges.spect.camera"),
        "image_size": Key(_integer(MIN_IMAGE_SIZE), 64, "image side in pixels (one 2D slice)"),
        "pixel_size": Key(_number(above=0), 6.0, "pixel (and detector bin) size in mm"),
        "n_views": Key(_integer(1), 60, "camera stops over 360°, all heads together"),
        "heads": Key(_integer(1), 2, "camera heads (H-mode: 180° apart)"),
        "radius": Key(_number(above=0), 250.0, "circular orbit: collimator face to rotation axis, mm"),
        "total_counts": Key(_number(above=0), data.SPECT_TOTAL_COUNTS, "primary counts per slice"),
        "scatter_fraction": Key(_number(low=0), 0.3, "scatter in the photopeak window, S / (S + P)"),
        "scatter_fwhm": Key(_number(above=0), 100.0, "FWHM of the scatter's broad profile across bins, mm"),
        "lungs": Key(_boolean, True, "each item its own μ-map, lungs where cold"),
    },
}
# fastMRI files: the MRI task's image size, (virtual) coils and mask, and ESPIRiT's calibration width
FASTMRI_TASK = {
    "modality": Key(_one_of(("mri",)), REQUIRED, "the modality: 'mri'"),
    **_MRI,
    "image_size": Key(_integer(MIN_IMAGE_SIZE), 320, "image side in pixels (a central crop)"),
    "calib_width": Key(_integer(1), 24, "ESPIRiT's calibration width in k-space columns"),
}
_SPLITS = {f"n_{split}": Key(_integer(1), 8, f"synthetic {split} items") for split in ("train", "val", "test")}
_SPLITS["n_calib"] = Key(_integer(1), 32, "synthetic calibration items (python -m experiments uncertainty)")
_FILES = {
    f"n_{split}": Key(_integer(1), None, f"the first n {split} items of the files (default: all)")
    for split in ("train", "val", "test")
}
DATA = {
    "source": Key(
        _one_of(("synthetic", "lodopab", "fastmri")),
        "synthetic",
        "synthetic items, or the files of LoDoPaB-CT or fastMRI in data.root",
    ),
    "root": Key(_text, None, "the folder of the data files"),
    "seed": Key(_integer(0), None, "seed of the items (default: the top-level seed)"),
    "cache": Key(_boolean, True, "keep generated items in memory"),
    **_SPLITS,
    "eval_phantom": Key(_one_of(CT_PHANTOMS), None, "CT: the validation and test phantom (default: task.phantom)"),
    "model": Key(
        _one_of(DATA_MODELS),
        "continuous",
        "'continuous': data the reconstruction did not simulate; 'discrete': the inverse crime",
    ),
    "sub_rays": Key(_integer(1), 4, "CT: exact line integrals per detector channel"),
    "fine": Key(
        _integer(1),
        None,
        "the continuous model's grid, this many times finer (default: 4 for CT and MRI, 2 for PET and SPECT)",
    ),
    "real_anatomy": Key(_boolean, True, "also test on real-anatomy items (CT, MRI)"),
}
LODOPAB_DATA = {**DATA, "root": Key(_text, REQUIRED, "the folder of the LoDoPaB-CT files"), **_FILES}
FASTMRI_DATA = {
    "source": DATA["source"],
    "root": Key(_text, REQUIRED, "the folder of the fastMRI multi-coil .h5 files"),
    "seed": DATA["seed"],
    **_FILES,
    "val_volumes": Key(_integer(1), 1, "volumes for validation (the files before the test ones)"),
    "test_volumes": Key(_integer(1), 1, "volumes for testing (the last files by name)"),
}
TRAIN = {
    "steps": Key(_integer(1), 100, "optimiser steps"),
    "batch_size": Key(_integer(1), 4, "items per step"),
    "lr": Key(_number(above=0), 1e-3, "Adam's learning rate"),
    "betas": Key(_betas, [0.9, 0.99], "Adam's betas"),
    # 0: no clipping; a negative norm would flip the gradient
    "clip_grad": Key(_number(low=0), 1.0, "the gradient's norm is clipped to this (0: no clipping)"),
    "checkpoint_every": Key(_integer(1), None, "steps between checkpoints (default: a quarter of steps)"),
    "num_workers": Key(_integer(0), 0, "DataLoader processes drawing the items"),
    "schedule": Key(_one_of(("cosine", "constant")), "cosine", "learning-rate schedule"),
    "n_threads": Key(_integer(1), None, "torch's intra-op threads during training (default: torch's)"),
    "device": Key(_device, "auto", "where to train ('auto': CUDA if there is one)"),
    "init": Key(_existing_file, None, "a checkpoint whose model weights start the training (fine-tuning)"),
    "compile": Key(_boolean, False, "torch.compile the model"),
}
GAN = {
    "loss": Key(_one_of(("dagan", "wgan-gp")), "dagan", "the adversarial loss (the table's presence turns it on)"),
    "lr": Key(_number(above=0), 1e-4, "the discriminator's Adam learning rate"),
}
GAN_LOSSES = {"dagan": learned.DAGANLoss, "wgan-gp": learned.WGANGPLoss}
EVALUATE = {
    "paper_source": Key(_text, "published", "where the published values of evaluate.paper come from"),
    "crime_free": Key(_boolean, False, "evaluate again on data of the continuous model"),
}


def _paper_row(v):
    """A published result beside ours: ``[PSNR, SSIM]``."""
    ok = isinstance(v, list) and len(v) == 2 and all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in v)
    return None if ok else "[PSNR in dB, SSIM] as two numbers"


# a U-Net of depth 0 is one block at full resolution, which works
MODEL_MINIMUM = {"depth": 0}
_TYPES = {"int": _integer(), "float": _number(), "bool": _boolean, "str": _text}


def _parameters(fn, skip) -> dict:
    """A key for each keyword a configuration may pass to ``fn``: its rule from the annotation (any value if none),
    its default the signature's, left to ``fn`` (not filled in)."""
    keys = {}
    for name, p in inspect.signature(fn).parameters.items():
        if name not in skip and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            annotation = p.annotation if isinstance(p.annotation, str) else getattr(p.annotation, "__name__", "")
            default = None if p.default is p.empty else p.default
            keys[name] = Key(
                _TYPES.get(annotation.removesuffix(" | None"), _anything),
                default,
                f"{fn.__qualname__}'s {name}",
                filled=False,
            )
    return keys


def _counts(keys: dict) -> dict:
    """A model's integers count iterations, cascades, layers, channels or filters: 0 or fewer builds a network
    that fails deep inside torch (n_iter = 0 only after training); a seed is any integer."""
    return {
        name: dataclasses.replace(key, rule=_integer(MODEL_MINIMUM.get(name, 1)))
        if key.rule is _TYPES["int"] and name != "seed"
        else key
        for name, key in keys.items()
    }


DISCRIMINATOR = _counts(_parameters(learned.PatchDiscriminator, skip={"self", "op", "seed"}))


def _baseline(spec: dict, tunable: bool) -> dict:
    """The keys of a classical reconstruction's table: ``method``, its function's parameters, and ``tune``."""
    fn = baselines.BASELINES.get(spec.get("method"))
    if fn is None:  # an unknown method is one error, not one more per parameter
        params = {_OTHERS: _ANY}
    else:  # what follows the operator and the data
        params = _parameters(fn, skip={*list(inspect.signature(fn).parameters)[:2], "x0", "callback"})
    tune = {"tune": {name: Key(_grid(key.rule), filled=False) for name, key in params.items()}} if tunable else {}
    return {"method": Key(_one_of(baselines.BASELINES), REQUIRED, "the classical reconstruction"), **params, **tune}


def _model(node: dict) -> dict:
    """The keys of a ``[model]`` table: ``name`` and the keyword arguments of ``learned.<name>``."""
    name_key = Key(_one_of(tasks.MODELS), REQUIRED, "the class of learned")
    name = node.get("name")
    if name not in tasks.MODELS:
        return {"name": name_key, _OTHERS: _ANY}
    model = {"name": name_key, **_counts(_parameters(getattr(learned, name), skip={"self", "op"}))}
    if "dropout" in model:  # a probability; 0 (the default) keeps trained models and their results unchanged
        model["dropout"] = dataclasses.replace(
            model["dropout"], rule=_fraction, doc="dropout after each activation while training (0: none)"
        )
    for key in {"initial", "pseudo_inverse"} & set(model):  # a classical reconstruction, named by a table
        model[key] = _baseline(_section(node, key), tunable=False)
    return model


def _section(node, name) -> dict:
    return node.get(name) if isinstance(node.get(name), dict) else {}


# the tables filled in when absent; any other (``[gan]``, whose presence turns the GAN on, a model's ``initial``,
# a baseline's ``tune``) only where given
FILLED_TABLES = {"task", "data", "model", "train", "compare", "evaluate", "evaluate.baselines", "evaluate.paper"}


def _schema(cfg: dict) -> dict:
    """Every key ``cfg`` may hold, nested as its sections are. What a key allows may depend on another:
    task keys on ``task.modality``, model keys on ``model.name``, a baseline's on its ``method``."""
    modality = _section(cfg, "task").get("modality")
    source = _section(cfg, "data").get("source")
    lodopab = source == "lodopab"  # LoDoPaB files fix the task
    task = {
        "modality": Key(_one_of(TASK), None if lodopab else REQUIRED, "'ct', 'mri', 'pet' or 'spect'"),
        **TASK.get(modality, {_OTHERS: _ANY}),
    }
    if source == "fastmri":
        task = FASTMRI_TASK
    compare = _section(cfg, "compare")  # more learned models, trained alike and in the same table
    loss = GAN_LOSSES.get(_section(cfg, "gan").get("loss", GAN["loss"].default))
    gan = {
        **GAN,
        **DISCRIMINATOR,
        **(_parameters(loss, skip={"self", "op", "discriminator", "generator"}) if loss else {_OTHERS: _ANY}),
    }
    methods = _section(_section(cfg, "evaluate"), "baselines")
    data_keys = LODOPAB_DATA if lodopab else FASTMRI_DATA if source == "fastmri" else DATA
    return {
        "seed": SEED,
        "task": task,
        "data": data_keys,
        "model": _model(_section(cfg, "model")),
        "train": TRAIN,
        "gan": gan,
        "compare": {k: _model(_section(compare, k)) for k in compare},
        "evaluate": {
            "baselines": {k: _baseline(_section(methods, k), tunable=True) for k in methods},
            "paper": {_OTHERS: Key(_paper_row, doc="a method's published [PSNR, SSIM]")},
            **EVALUATE,
        },
    }


def check_config(cfg: dict) -> dict:
    """``cfg`` with its defaults filled in (`with_defaults`) if every key is known and every value allowed, else
    one ValueError listing each problem: the key, what it allows and what came; a misspelt key names the nearest
    valid one."""
    problems = []
    _check(cfg, _schema(cfg), "", problems)
    if problems:
        raise ValueError("invalid configuration:\n  " + "\n  ".join(problems))
    return with_defaults(cfg)


def with_defaults(cfg: dict) -> dict:
    """A copy of ``cfg`` with every absent key of its schema set to its default (None where the default is another
    key's value or a preset's) and every table of `FILLED_TABLES` present. Not checked: see
    `check_config`."""
    cfg = copy.deepcopy(cfg)
    _fill(cfg, _schema(cfg), "")
    return cfg


def _fill(node: dict, schema: dict, path: str):
    for name, key in schema.items():
        if name == _OTHERS:
            continue
        if isinstance(key, dict):
            if name not in node and path + name in FILLED_TABLES:
                node[name] = {}
            if isinstance(node.get(name), dict):
                _fill(node[name], key, f"{path}{name}.")
        elif name not in node and key.filled and key.default is not REQUIRED:
            node[name] = copy.deepcopy(key.default)


def _check(node, schema: dict, path: str, problems: list):
    if not isinstance(node, dict):
        problems.append(f"{path}: expected a section (a table of keys), got {node!r}")
        return
    prefix = f"{path}." if path else ""
    for name, key in schema.items():
        if name not in node and isinstance(key, Key) and key.default is REQUIRED:
            problems.append(f"{prefix}{name}: missing; expected {key.rule(_NOTHING)}")
        elif name not in node and isinstance(key, dict) and not path:  # a top-level section left out still
            _check({}, key, name, problems)  # needs its keys (model.name)
    for name, value in node.items():
        where = prefix + name
        key = schema.get(name, schema.get(_OTHERS))
        if key is None:
            known = sorted(k for k in schema if k != _OTHERS)
            near = difflib.get_close_matches(name, known, n=1)
            problems.append(
                f"{where}: unknown key; " + (f"did you mean {prefix}{near[0]}?" if near else f"expected one of {known}")
            )
        elif isinstance(key, dict):
            _check(value, key, where, problems)
        elif value is None and key.default is None:  # filled in as absent (TOML itself has no None)
            continue
        elif (expected := key.rule(value)) is not None:
            problems.append(f"{where}: expected {expected}, got {value!r}")


# ----------------------------------------------------------------------------- reference
def reference() -> str:
    """Every key a configuration may hold, as markdown: one table per section, each key with its default, what it
    allows and its line of documentation (`python -m experiments keys`)."""
    parts = [
        "# Configuration keys",
        "Generated from `experiments/config.py` by `python -m experiments keys`. A default of `—` means the "
        "description says what the code takes; `required` keys must be given.",
        _table("top level", {"seed": SEED}),
    ]
    for modality, keys in TASK.items():
        modality_key = Key(_one_of(TASK), REQUIRED, "'ct', 'mri', 'pet' or 'spect'")
        parts.append(_table(f'[task] with modality = "{modality}"', {"modality": modality_key, **keys}))
    parts += [
        _table('[task] with data.source = "fastmri"', FASTMRI_TASK),
        _table("[data] (synthetic)", DATA),
        _table('[data] with source = "lodopab" (the task is fixed: LoDoPaB-CT\'s parallel beam)', LODOPAB_DATA),
        _table('[data] with source = "fastmri"', FASTMRI_DATA),
        _table("[train]", TRAIN),
        _table(
            "[gan] (optional: the table turns adversarial training on), with the loss's keyword arguments",
            {**GAN, **DISCRIMINATOR},
        ),
        _table(
            "[evaluate] (and [evaluate.baselines.NAME] tables: `method` and its parameters, `tune` a grid "
            "of each; [evaluate.paper]: NAME = [PSNR, SSIM])",
            EVALUATE,
        ),
    ]
    for name in tasks.MODELS:
        parts.append(_table(f'[model] with name = "{name}" (and [compare.LABEL] tables alike)', _model({"name": name})))
    return "\n\n".join(parts) + "\n"


def _table(title: str, keys: dict) -> str:
    rows = [f"## {title}", "", "| key | default | allowed | description |", "|---|---|---|---|"]
    for name, key in keys.items():
        if isinstance(key, dict):  # a baseline's table
            key = Key(_anything, None, "a table: `method` and its parameters")
        default = "required" if key.default is REQUIRED else "—" if key.default is None else f"`{_toml(key.default)}`"
        cells = (f"`{name}`", default, key.rule(_NOTHING) or "any value", key.doc)
        rows.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |")  # |data| in a cell
    return "\n".join(rows)


def dumps(cfg: dict, prefix: str = "") -> str:
    """The configuration as TOML (flat tables; enough for the plain values configurations hold). A key set to None
    (absent: `with_defaults`) is left out, as TOML has no None."""
    plain = {k: v for k, v in cfg.items() if not isinstance(v, dict) and v is not None}
    lines = [f"[{prefix}]"] if prefix and plain else []
    lines += [f"{k} = {_toml(v)}" for k, v in plain.items()]
    for k, v in cfg.items():
        if isinstance(v, dict):
            lines += ["", dumps(v, f"{prefix}.{k}" if prefix else k)]
    return "\n".join(lines).strip() + "\n"


def _toml(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml(x) for x in v) + "]"
    return repr(v)
