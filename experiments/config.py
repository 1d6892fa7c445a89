"""Experiment configurations: small TOML files in experiments/configs/, with command-line overrides.

A configuration is a nested dict; ``section.key=value`` overrides replace one entry, the value
read as TOML (``train.steps=200``, ``task.photons=1e3``, ``model.name="VarNet"``) or, failing
that, as a bare string (``task.scanner=lodopab``).

`check_config` holds every key a configuration may have and what each allows, in one place; `load_config`
applies it, so that a misspelt key or a bad value is refused, named, before any work starts.

Example::

    cfg = load_config("ct-lpd", ["train.steps=50"])
    cfg["train"]["steps"]                      # 50
"""
from __future__ import annotations

import copy
import difflib
import inspect
import math
import zipfile
from pathlib import Path

import torch

import learned
from bridges import ct
from experiments import baselines, tasks
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
    raise ValueError(f"expected a .toml file or one of the bundled configurations {available()}, got {str(name_or_path)!r}")


def load_config(name_or_path, overrides=()) -> dict:
    """The configuration file with ``section.key=value`` overrides applied, checked by `check_config`."""
    path = config_path(name_or_path)
    try:
        with open(path, "rb") as f:
            cfg = tomllib.load(f)
    except tomllib.TOMLDecodeError as err:  # its message gives the line and column
        raise ValueError(f"expected a TOML configuration in {path}, got a syntax error: {err}") from None
    except UnicodeDecodeError as err:  # a binary file
        raise ValueError(f"expected a TOML configuration in {path}, got a file that is not UTF-8 text (byte "
                         f"{err.object[err.start:err.start + 1]!r} at offset {err.start})") from None
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
    """A rule for a key that must be present."""

    def __init__(self, rule):
        self.rule = rule

    def __call__(self, v):
        return self.rule(v)


_OTHERS = "*"  # a schema's entry for every key it does not name: where what is allowed is not known yet


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

TASK = {
    "ct": {"geometry": _one_of(("scanner", "parallel")),  # a preset's, or the LPD paper's parallel beam
           "scanner": _one_of(ct.PRESETS), "view_step": _integer(1), "detector_binning": _integer(1),
           "n_views": _integer(1), "image_size": _integer(MIN_IMAGE_SIZE), "fov": _number(above=0),
           "photons": _number(above=0), "noise": _one_of(CT_NOISE), "noise_level": _number(low=0),
           "phantom": _one_of(CT_PHANTOMS)},
    "mri": {"image_size": _integer(MIN_IMAGE_SIZE), "n_coils": _integer(1), "acceleration": _number(low=1),
            "center_fraction": _number(above=0), "mask": _one_of(tasks.MRI_MASKS), "mask_seed": _integer(0),
            "noise_sigma": _number(low=0)},
    "pet": {"scanner": _one_of(tasks.PET_SCANNERS), "downsample": _integer(1), "total_counts": _number(above=0),
            "scatter_fraction": _number(low=0), "randoms_fraction": _number(low=0),
            "resolution_fwhm": _number(low=0), "lungs": _boolean},
}
# fastMRI files: the MRI task's image size, (virtual) coils and mask, and ESPIRiT's calibration width
FASTMRI_TASK = {"modality": _Required(_one_of(("mri",))), "image_size": _integer(MIN_IMAGE_SIZE),
                "n_coils": _integer(1), "acceleration": _number(low=1), "center_fraction": _number(above=0),
                "mask": _one_of(tasks.MRI_MASKS), "mask_seed": _integer(0), "calib_width": _integer(1)}
DATA = {"source": _one_of(("synthetic", "lodopab", "fastmri")), "root": _text, "seed": _integer(0),
        "cache": _boolean, "n_train": _integer(1), "n_val": _integer(1), "n_test": _integer(1),
        "eval_phantom": _one_of(CT_PHANTOMS), "model": _one_of(DATA_MODELS), "sub_rays": _integer(1),
        "fine": _integer(1), "real_anatomy": _boolean}
FASTMRI_DATA = {"source": DATA["source"], "root": _Required(_text), "seed": _integer(0), "n_train": _integer(1),
                "n_val": _integer(1), "n_test": _integer(1), "val_volumes": _integer(1), "test_volumes": _integer(1)}
TRAIN = {"steps": _integer(1), "batch_size": _integer(1), "lr": _number(above=0), "betas": _betas,
         "clip_grad": _number(low=0),  # 0: no clipping; a negative norm would flip the gradient
         "checkpoint_every": _integer(1), "num_workers": _integer(0), "schedule": _one_of(("cosine", "constant")),
         "threads": _integer(1), "device": _device, "init": _existing_file, "compile": _boolean}
GAN = {"loss": _one_of(("dagan", "wgan-gp")), "lr": _number(above=0), "width": _integer(1), "n_layers": _integer(1),
       "conditional": _boolean}
GAN_LOSSES = {"dagan": learned.DAGANLoss, "wgan-gp": learned.WGANGPLoss}


def _paper_row(v):
    """A published result beside ours: ``[PSNR, SSIM]``."""
    ok = isinstance(v, list) and len(v) == 2 and all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in v)
    return None if ok else "[PSNR in dB, SSIM] as two numbers"


# a U-Net of depth 0 is one block at full resolution, which works
MODEL_MINIMUM = {"depth": 0}
_TYPES = {"int": _integer(), "float": _number(), "bool": _boolean, "str": _text}


def _parameters(fn, skip) -> dict:
    """A rule for each keyword a configuration may pass to ``fn``, from its annotations (any value if none)."""
    rules = {}
    for name, p in inspect.signature(fn).parameters.items():
        if name not in skip and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            annotation = p.annotation if isinstance(p.annotation, str) else getattr(p.annotation, "__name__", "")
            rules[name] = _TYPES.get(annotation.removesuffix(" | None"), _anything)
    return rules


def _baseline(spec: dict, tunable: bool) -> dict:
    """The keys of a classical reconstruction's table: ``method``, its function's parameters, and ``tune``."""
    fn = baselines.BASELINES.get(spec.get("method"))
    if fn is None:  # an unknown method is one error, not one more per parameter
        params = {_OTHERS: _anything}
    else:  # what follows the operator and the data
        params = _parameters(fn, skip={*list(inspect.signature(fn).parameters)[:2], "x0", "callback"})
    tune = {"tune": {name: _grid(rule) for name, rule in params.items()}} if tunable else {}
    return {"method": _Required(_one_of(baselines.BASELINES)), **params, **tune}


def _schema(cfg: dict) -> dict:
    """Every key ``cfg`` may hold, nested as its sections are. What a key allows may depend on another:
    task keys on ``task.modality``, model keys on ``model.name``, a baseline's on its ``method``."""
    def section(node, name):
        return node.get(name) if isinstance(node.get(name), dict) else {}

    modality = section(cfg, "task").get("modality")
    source = section(cfg, "data").get("source")
    lodopab = source == "lodopab"  # LoDoPaB files fix the task
    task = {"modality": _one_of(TASK) if lodopab else _Required(_one_of(TASK)),
            **TASK.get(modality, {_OTHERS: _anything})}
    if source == "fastmri":
        task = FASTMRI_TASK

    def model_schema(node: dict) -> dict:
        name = node.get("name")
        if name not in tasks.MODELS:
            return {"name": _Required(_one_of(tasks.MODELS)), _OTHERS: _anything}
        model = {"name": _Required(_one_of(tasks.MODELS)), **_parameters(getattr(learned, name), skip={"self", "op"})}
        for key, rule in model.items():
            # a model's integers count iterations, cascades, layers, channels or filters: 0 or fewer builds a
            # network that fails deep inside torch (n_iter = 0 only after training); a seed is any integer
            if rule is _TYPES["int"] and key != "seed":
                model[key] = _integer(MODEL_MINIMUM.get(key, 1))
        for key in {"initial", "pseudo_inverse"} & set(model):  # a classical reconstruction, named by a table
            model[key] = _baseline(section(node, key), tunable=False)
        return model

    model = model_schema(section(cfg, "model"))
    compare = section(cfg, "compare")  # more learned models, trained alike and in the same table
    loss = GAN_LOSSES.get(section(cfg, "gan").get("loss", "dagan"))
    gan = {**GAN, **(_parameters(loss, skip={"self", "op", "discriminator", "generator"}) if loss else
                     {_OTHERS: _anything})}
    methods = section(section(cfg, "evaluate"), "baselines")
    data = {**DATA, "root": _Required(_text)} if lodopab else FASTMRI_DATA if source == "fastmri" else DATA
    return {"seed": _integer(0), "task": task, "data": data, "model": model, "train": TRAIN, "gan": gan,
            "compare": {k: model_schema(section(compare, k)) for k in compare},
            "evaluate": {"baselines": {k: _baseline(section(methods, k), tunable=True) for k in methods},
                         "paper": {_OTHERS: _paper_row}, "paper_source": _text, "crime_free": _boolean}}


def check_config(cfg: dict) -> dict:
    """``cfg`` if every key is known and every value allowed, else one ValueError listing each problem: the
    key, what it allows and what came; a misspelt key names the nearest valid one."""
    problems = []
    _check(cfg, _schema(cfg), "", problems)
    if problems:
        raise ValueError("invalid configuration:\n  " + "\n  ".join(problems))
    return cfg


def _check(node, schema: dict, path: str, problems: list):
    if not isinstance(node, dict):
        problems.append(f"{path}: expected a section (a table of keys), got {node!r}")
        return
    prefix = f"{path}." if path else ""
    for key, rule in schema.items():
        if key not in node and isinstance(rule, _Required):
            problems.append(f"{prefix}{key}: missing; expected {rule(None)}")
        elif key not in node and isinstance(rule, dict) and not path:  # a top-level section left out still
            _check({}, rule, key, problems)                              # needs its keys (model.name)
    for key, value in node.items():
        where = prefix + key
        rule = schema.get(key, schema.get(_OTHERS))
        if rule is None:
            known = sorted(k for k in schema if k != _OTHERS)
            near = difflib.get_close_matches(key, known, n=1)
            problems.append(f"{where}: unknown key; " + (f"did you mean {prefix}{near[0]}?" if near else
                                                          f"expected one of {known}"))
        elif isinstance(rule, dict):
            _check(value, rule, where, problems)
        elif (expected := rule(value)) is not None:
            problems.append(f"{where}: expected {expected}, got {value!r}")


def dumps(cfg: dict, prefix: str = "") -> str:
    """The configuration as TOML (flat tables; enough for the plain values configurations hold)."""
    plain = {k: v for k, v in cfg.items() if not isinstance(v, dict)}
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
