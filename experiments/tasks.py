"""A task: the operator of one modality, its train/validation/test data and the model to train, from a config.

``[task]`` names the physics (``modality`` "ct", "mri" or "pet" and its scanner or protocol),
``[data]`` the synthetic sets, ``[model]`` a class of `learned` and its arguments. Items are
generated on the fly from ``seed`` and their index (experiments.data), so every process and every
resumed run sees the same data.

Example::

    task = build_task(load_config("ct-lpd"))
    model = build_model(task, load_config("ct-lpd")["model"])
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import math

import numpy as np
import torch
from torch.utils.data import Dataset, Subset

import learned
from bridges import ct, mri, pet
from bridges.operator import LinearOperator
from experiments import baselines, data

MODELS = ("LearnedPrimalDual", "LearnedGradient", "DeepCascade", "VarNet", "FBPConvNet", "AUTOMAP")
SPLITS = {"train": 0, "val": 1, "test": 2}  # offsets to the data seed: disjoint item streams
MRI_MASKS = {"equispaced": mri.mask_equispaced, "random": mri.mask_random}
PET_SCANNERS = {"biograph_mmr": pet.PETScanner.biograph_mmr, "discovery_690": pet.PETScanner.discovery_690}


@dataclass
class Task:
    """What a training run and an evaluation share: the physics and the data."""
    modality: str
    op: LinearOperator
    train: Dataset
    val: Dataset
    test: Dataset
    description: str


def build_operator(task_cfg: dict) -> tuple[LinearOperator, str]:
    """The operator named by a ``[task]`` section, and a one-line description of it."""
    modality = task_cfg.get("modality")
    size = int(task_cfg.get("image_size", 128))
    if modality == "ct" and task_cfg.get("geometry", "scanner") == "parallel":
        geometry = paper_parallel_beam(size, float(task_cfg.get("fov", size)), int(task_cfg.get("n_views", 30)))
        return ct.Projector(geometry), (f"parallel beam, {geometry.n_views} views x {geometry.n_detectors} channels "
                                        f"(ODL's parallel_beam_geometry), {size}² pixels of "
                                        f"{geometry.pixel_size[0]:.2f} mm, {_ct_noise(task_cfg)}")
    if modality == "ct":
        geometry = ct.scanner(task_cfg.get("scanner", "siemens-definition-as"), view_step=int(task_cfg.get("view_step", 1)),
                              detector_binning=int(task_cfg.get("detector_binning", 1)), image_shape=(size, size),
                              fov=task_cfg.get("fov"))
        return ct.Projector(geometry), (f"{task_cfg.get('scanner', 'siemens-definition-as')}: {geometry.n_views} views x "
                                        f"{geometry.n_detectors} channels, {size}² pixels of {geometry.pixel_size[0]:.2f} mm, "
                                        f"{_ct_noise(task_cfg)}")
    if modality == "mri":
        shape = (size, size)
        maps = mri.birdcage_maps(shape, int(task_cfg.get("n_coils", 8)))
        sampler = _choice("task.mask", MRI_MASKS, task_cfg.get("mask", "equispaced"))
        acceleration = float(task_cfg.get("acceleration", 4))
        mask = sampler(shape, acceleration, float(task_cfg.get("center_fraction", 0.08)),
                       seed=int(task_cfg.get("mask_seed", 0)))
        return mri.CartesianSense(maps, mask), (f"{maps.shape[0]}-coil Cartesian, {size}², {acceleration:g}x "
                                                f"{task_cfg.get('mask', 'equispaced')} columns")
    if modality == "pet":
        scanner = _choice("task.scanner", PET_SCANNERS, task_cfg.get("scanner", "biograph_mmr"))(
            downsample=int(task_cfg.get("downsample", 4)))
        total_counts = float(task_cfg.get("total_counts", data.PET_TOTAL_COUNTS))
        model = data.pet_system_model(scanner, total_counts, float(task_cfg.get("scatter_fraction", 0.35)),
                                      float(task_cfg.get("randoms_fraction", 0.2)),
                                      resolution_fwhm=task_cfg.get("resolution_fwhm"))
        return model, (f"{scanner.name}: {scanner.n_views} views x {scanner.n_radial_bins} bins, "
                       f"{scanner.image_shape[0]}² pixels, {total_counts:g} true counts")
    raise ValueError(f"expected task.modality 'ct', 'mri' or 'pet', got {modality!r}")


def paper_parallel_beam(size: int, fov: float, n_views: int) -> ct.ParallelBeam2D:
    """The parallel beam of Adler & Öktem's ellipse experiment, as ODL's ``parallel_beam_geometry`` samples a
    square field of ``fov`` mm in ``size``² pixels (their code's geometry): ``n_views`` angles at the midpoints
    of [0, π)'s equal parts, and a detector over the field's diagonal with one channel per pixel width plus
    one (183 channels for 128² pixels). tests/experiments/test_lpd_paper.py checks it against ODL's."""
    half_diagonal = fov / 2 * math.sqrt(2)
    n_detectors = 2 * math.ceil(half_diagonal / (fov / size)) + 1
    return ct.ParallelBeam2D(angles=math.pi * (np.arange(n_views) + 0.5) / n_views, n_detectors=n_detectors,
                             detector_spacing=2 * half_diagonal / n_detectors, image_shape=(size, size),
                             pixel_size=fov / size)


def _ct_noise(task_cfg: dict) -> str:
    if task_cfg.get("noise") == "relative-gaussian":
        return f"white noise of {task_cfg.get('noise_level', 0.05):g} x mean |data|"
    return f"I0 = {task_cfg.get('photons', 1e4):g} photons"


def _choice(key: str, options: dict, name):
    if name not in options:
        raise ValueError(f"expected {key} one of {sorted(options)}, got {name!r}")
    return options[name]


def build_dataset(modality: str, op: LinearOperator, task_cfg: dict, n: int, seed: int, cache: bool,
                  phantom: str | None = None) -> Dataset:
    """A split's synthetic items; ``phantom`` overrides ``task.phantom`` (CT: ``data.eval_phantom``, the phantom of the
    validation and test splits, as the LPD paper validated and tested on the Shepp-Logan phantom alone)."""
    if modality == "ct":
        return data.ct_dataset(op, n, seed, photons=float(task_cfg.get("photons", 1e4)),
                               noise=task_cfg.get("noise", "poisson"), phantom=phantom or task_cfg.get("phantom", "lpd"),
                               cache=cache, noise_level=float(task_cfg.get("noise_level", 0.05)))
    if modality == "mri":
        return data.mri_dataset(op, n, seed, sigma=float(task_cfg.get("noise_sigma", 0.01)), cache=cache)
    return data.pet_dataset(op, n, seed, total_counts=float(task_cfg.get("total_counts", data.PET_TOTAL_COUNTS)),
                            cache=cache)


def lodopab_task(data_cfg: dict) -> Task:
    """LoDoPaB-CT files (``[data] source = "lodopab"``, ``root`` their folder) through the LoDoPaB geometry,
    attenuation in 1/mm; ``n_train`` etc. take the first items of each part."""
    op = ct.Projector(data.lodopab_geometry())
    parts = {"train": "train", "val": "validation", "test": "test"}
    sets = {}
    for split, part in parts.items():
        full = data.LoDoPaB(data_cfg["root"], part, units="physical")
        n = data_cfg.get(f"n_{split}")
        sets[split] = full if n is None else Subset(full, range(min(int(n), len(full))))
    return Task("ct", op, sets["train"], sets["val"], sets["test"], f"LoDoPaB-CT files in {data_cfg['root']}")


def build_task(cfg: dict) -> Task:
    """The operator and the train/validation/test sets of a configuration."""
    task_cfg, data_cfg = cfg.get("task", {}), cfg.get("data", {})
    source = data_cfg.get("source", "synthetic")
    if source == "lodopab":
        return lodopab_task(data_cfg)
    if source != "synthetic":
        raise ValueError(f"expected data.source 'synthetic' or 'lodopab', got {source!r}")
    op, description = build_operator(task_cfg)
    seed = int(data_cfg.get("seed", cfg.get("seed", 0))) * 10
    cache = bool(data_cfg.get("cache", True))
    sets = {split: build_dataset(task_cfg["modality"], op, task_cfg, int(data_cfg.get(f"n_{split}", 8)),
                                 seed + offset, cache, data_cfg.get("eval_phantom") if split != "train" else None)
            for split, offset in SPLITS.items()}
    return Task(task_cfg["modality"], op, sets["train"], sets["val"], sets["test"], description)


def build_model(task: Task, model_cfg: dict) -> torch.nn.Module:
    """``learned.<model.name>(task.op, **other model keys)``.

    ``initial = {method = "fbp", ...}`` (learned primal-dual's start) and ``pseudo_inverse = {...}``
    (FBPConvNet's input) name a classical reconstruction of `experiments.baselines` and its parameters.
    """
    model_cfg = dict(model_cfg)
    name = model_cfg.pop("name", None)
    if name not in MODELS:
        raise ValueError(f"expected model.name one of {MODELS}, got {name!r}")
    for key in ("initial", "pseudo_inverse"):
        if isinstance(model_cfg.get(key), dict):
            spec = dict(model_cfg[key])
            model_cfg[key] = partial(baselines.baseline(spec.pop("method", None), **spec), task.op)
    return getattr(learned, name)(task.op, **model_cfg)
