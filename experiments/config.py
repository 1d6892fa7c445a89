"""Experiment configurations: small TOML files in experiments/configs/, with command-line overrides.

A configuration is a nested dict; ``section.key=value`` overrides replace one entry, the value
read as TOML (``train.steps=200``, ``task.photons=1e3``, ``model.name="VarNet"``) or, failing
that, as a bare string (``task.scanner=lodopab``).

Example::

    cfg = load_config("ct-lpd", ["train.steps=50"])
    cfg["train"]["steps"]                      # 50
"""
from __future__ import annotations

import copy
from pathlib import Path

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
    with open(config_path(name_or_path), "rb") as f:
        cfg = tomllib.load(f)
    return apply_overrides(cfg, overrides)


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
