"""A task: the operator of one modality, its train/validation/test data and the model to train, from a config.

``[task]`` names the physics (``modality`` "ct", "mri", "pet" or "spect" and its scanner, camera or protocol),
``[data]`` the synthetic sets (or files: LoDoPaB-CT, fastMRI), ``[model]`` a class of `learned` and its
arguments. Items are generated on the fly from ``seed`` and their index (experiments.data), so every
process and every resumed run sees the same data. Their measurements come from a data model the reconstruction
does not share (``data.model = "continuous"``: exact line integrals, finer grids) and their truths are pixel
averages; ``data.model = "discrete"`` keeps the inverse crime, for ablations.

Where items carry their own operator parameters (fastMRI slices their coil maps and mask; PET items their
μ-maps; SPECT items their μ-maps and scatter), `Task.batch_operator` makes a collated batch's per-item operator,
which training, validation, evaluation and the baselines apply; ``Task.op`` is then one item's, whose
shapes and norm the model is built with.

Example::

    task = build_task(load_config("ct-lpd"))
    model = build_model(task, load_config("ct-lpd")["model"])
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset, Subset

import learned
from bridges import ct, mri, pet, spect
from bridges.operator import LinearOperator
from experiments import baselines, data

MODELS = ("LearnedPrimalDual", "LearnedGradient", "DeepCascade", "VarNet", "FBPConvNet", "AUTOMAP")
PER_ITEM_MODELS = ("LearnedPrimalDual", "LearnedGradient", "DeepCascade", "VarNet")  # model(y, op=...)
# offsets to the data seed: disjoint item streams; "calib" are the held-out items that calibrate uncertainty
# intervals (python -m experiments uncertainty), apart from the test items the intervals are scored on
SPLITS = {"train": 0, "val": 1, "test": 2, "calib": 3}
MRI_MASKS = {"equispaced": mri.mask_equispaced, "random": mri.mask_random}
# the continuous data models' grids, this many times the reconstruction's
FINE = {"ct": 4, "mri": 4, "pet": 2, "spect": 2}


@dataclass
class Task:
    """What a training run and an evaluation share: the physics and the data.

    ``item_operator(batch, device)``, where items carry operator parameters, builds a collated batch's per-item
    operator from them on ``device``; None where ``op`` serves every item. ``real``, where the task has them, are
    test items of real anatomy (`experiments.data.real_anatomy`) through the same data model: out of distribution.
    ``calib``, for synthetic data, are ``data.n_calib`` items of a fourth stream (`SPLITS`), drawn only when read.
    """

    modality: str
    op: LinearOperator
    train: Dataset
    val: Dataset
    test: Dataset
    description: str
    item_operator: Callable[[dict, torch.device], LinearOperator] | None = None
    real: Dataset | None = None
    calib: Dataset | None = None

    def batch_operator(self, batch: dict, device=None) -> LinearOperator | None:
        """The per-item operator of a collated batch (its ``item_axes`` over the batch's items), on ``device``
        (default ``op``'s); None when the task has one operator for all items.

        Example::

            op = task.batch_operator(batch, device)
            x = model(batch["y"].to(device), op=op)
        """
        if self.item_operator is None:
            return None
        return self.item_operator(batch, torch.device(device) if device is not None else self.op.device)

    def operator(self, batch: dict, device=None) -> LinearOperator:
        """The operator that measured ``batch``: its per-item operator, or the shared ``op``."""
        op = self.batch_operator(batch, device)
        return self.op if op is None else op


def build_operator(task_cfg: dict) -> tuple[LinearOperator, str]:
    """The operator named by a ``[task]`` section (its defaults filled in: `config.with_defaults`), and a one-line
    description of it."""
    modality = task_cfg["modality"]
    size = task_cfg.get("image_size")  # CT's and MRI's; PET's grid is its scanner's
    if modality == "ct" and task_cfg["geometry"] == "parallel":
        fov = float(size if task_cfg["fov"] is None else task_cfg["fov"])  # default: one pixel a mm
        geometry = paper_parallel_beam(size, fov, task_cfg["n_views"])
        return ct.Projector(geometry), (
            f"parallel beam, {geometry.n_views} views x {geometry.n_detectors} channels "
            f"(ODL's parallel_beam_geometry), {size}² pixels of "
            f"{geometry.pixel_size[0]:.2f} mm, {_ct_noise(task_cfg)}"
        )
    if modality == "ct":
        geometry = ct.scanner(
            task_cfg["scanner"],
            view_step=task_cfg["view_step"],
            detector_binning=task_cfg["detector_binning"],
            image_shape=(size, size),
            fov=task_cfg["fov"],
        )  # None: the preset's
        return ct.Projector(geometry), (
            f"{task_cfg['scanner']}: {geometry.n_views} views x "
            f"{geometry.n_detectors} channels, {size}² pixels of {geometry.pixel_size[0]:.2f} mm, "
            f"{_ct_noise(task_cfg)}"
        )
    if modality == "mri":
        shape = (size, size)
        maps = mri.birdcage_maps(shape, task_cfg["n_coils"])
        sampler = _choice("task.mask", MRI_MASKS, task_cfg["mask"])
        acceleration = float(task_cfg["acceleration"])
        mask = sampler(shape, acceleration, float(task_cfg["center_fraction"]), seed=task_cfg["mask_seed"])
        return mri.CartesianSense(maps, mask), (
            f"{maps.shape[0]}-coil Cartesian, {size}², {acceleration:g}x {task_cfg['mask']} columns"
        )
    if modality == "pet":
        scanner = pet.scanner(task_cfg["scanner"], downsample=task_cfg["downsample"])
        total_counts = float(task_cfg["total_counts"])
        model = data.pet_system_model(
            scanner,
            total_counts,
            float(task_cfg["scatter_fraction"]),
            float(task_cfg["randoms_fraction"]),
            resolution_fwhm=task_cfg["resolution_fwhm"],
        )
        return model, (
            f"{scanner.name}: {scanner.n_views} views x {scanner.n_radial_bins} bins, "
            f"{scanner.image_shape[0]}² pixels, {total_counts:g} true counts"
        )
    if modality == "spect":
        size = task_cfg["image_size"]
        geometry, collimator = spect.camera(
            task_cfg["camera"],
            image_shape=(size, size),
            pixel_size=float(task_cfg["pixel_size"]),
            n_views=task_cfg["n_views"],
            radius=float(task_cfg["radius"]),
            heads=task_cfg["heads"],
        )
        return data.spect_projector(geometry, collimator), (
            f"{task_cfg['camera']}: {geometry.n_views} views ({task_cfg['heads']} heads, {task_cfg['radius']:g} mm "
            f"orbit) x {geometry.n_bins} bins, {size}² pixels of {geometry.pixel_size:g} mm, "
            f"{float(task_cfg['total_counts']):g} primary counts, {task_cfg['scatter_fraction']:g} scatter fraction"
        )
    raise ValueError(f"expected task.modality 'ct', 'mri', 'pet' or 'spect', got {modality!r}")


def paper_parallel_beam(size: int, fov: float, n_views: int) -> ct.ParallelBeam2D:
    """The parallel beam of Adler & Öktem's ellipse experiment, as ODL's ``parallel_beam_geometry`` samples a
    square field of ``fov`` mm in ``size``² pixels (their code's geometry): ``n_views`` angles at the midpoints
    of [0, π)'s equal parts, and a detector over the field's diagonal with one channel per pixel width plus
    one (183 channels for 128² pixels). tests/experiments/test_lpd_paper.py checks it against ODL's."""
    half_diagonal = fov / 2 * math.sqrt(2)
    n_detectors = 2 * math.ceil(half_diagonal / (fov / size)) + 1
    return ct.ParallelBeam2D(
        angles=math.pi * (np.arange(n_views) + 0.5) / n_views,
        n_detectors=n_detectors,
        detector_spacing=2 * half_diagonal / n_detectors,
        image_shape=(size, size),
        pixel_size=fov / size,
    )


def _ct_noise(task_cfg: dict) -> str:
    if task_cfg["noise"] == "relative-gaussian":
        return f"white noise of {task_cfg['noise_level']:g} x mean |data|"
    return f"I0 = {task_cfg['photons']:g} photons"


def _choice(key: str, options: dict, name):
    if name not in options:
        raise ValueError(f"expected {key} one of {sorted(options)}, got {name!r}")
    return options[name]


def _cartesian_sense_of(batch: dict, device) -> LinearOperator:
    return mri.CartesianSense(batch["maps"].to(device), batch["mask"].to(device))


def _system_model_of(template: pet.SystemModel, batch: dict, device) -> LinearOperator:
    return template.with_attenuation(batch["mu"].to(device))


def _spect_projector_of(template: spect.Projector, batch: dict, device) -> LinearOperator:
    return template.with_attenuation(batch["mu"].to(device), background=batch["scatter"].to(device))


def build_dataset(
    modality: str, op: LinearOperator, task_cfg: dict, data_cfg: dict, n: int, seed: int, phantom: str | None = None
) -> Dataset:
    """A split's synthetic items; ``phantom`` overrides ``task.phantom`` (CT: ``data.eval_phantom``, the phantom of the
    validation and test splits, as the LPD paper validated and tested on the Shepp-Logan phantom alone).
    ``data.model`` names the data model: "continuous" (the default; data the reconstruction did not simulate) or
    "discrete" (the inverse crime, for ablations)."""
    cache, model, fine = data_cfg["cache"], data_cfg["model"], _fine(modality, data_cfg)
    if modality == "ct":
        return data.ct_dataset(
            op,
            n,
            seed,
            photons=float(task_cfg["photons"]),
            noise=task_cfg["noise"],
            phantom=phantom or task_cfg["phantom"],
            cache=cache,
            noise_level=float(task_cfg["noise_level"]),
            model=model,
            sub_rays=data_cfg["sub_rays"],
            fine=fine,
        )
    if modality == "mri":
        return data.mri_dataset(op, n, seed, sigma=float(task_cfg["noise_sigma"]), cache=cache, model=model, fine=fine)
    if modality == "spect":
        return data.spect_dataset(
            op,
            n,
            seed,
            total_counts=float(task_cfg["total_counts"]),
            scatter_fraction=float(task_cfg["scatter_fraction"]),
            lungs=task_cfg["lungs"],
            cache=cache,
            data_model=model,
            fine=fine,
            scatter_fwhm=float(task_cfg["scatter_fwhm"]),
        )
    return data.pet_dataset(
        op,
        n,
        seed,
        total_counts=float(task_cfg["total_counts"]),
        lungs=task_cfg["lungs"],
        cache=cache,
        data_model=model,
        fine=fine,
    )


def _fine(modality: str, data_cfg: dict) -> int:
    """``data.fine``, or the modality's own (`FINE`) where the configuration leaves it out."""
    return FINE[modality] if data_cfg["fine"] is None else data_cfg["fine"]


def real_anatomy(modality: str, test: Dataset, data_cfg: dict) -> Dataset | None:
    """The real-anatomy test items of a modality through the test split's data model (None for PET and SPECT: their
    objects need an activity and a μ-map, which one CT or MR slice does not give)."""
    objects = {"ct": data.real_ct_objects, "mri": data.real_mr_objects}.get(modality)
    if objects is None or not data_cfg["real_anatomy"]:
        return None
    fine = _fine(modality, data_cfg)
    shape = test.op.domain_shape[-2:]
    return data.real_anatomy_dataset(test, objects((shape[0] * fine, shape[1] * fine)))


def lodopab_task(data_cfg: dict) -> Task:
    """LoDoPaB-CT files (``[data] source = "lodopab"``, ``root`` their folder) through the LoDoPaB geometry,
    attenuation in 1/mm; ``n_train`` etc. take the first items of each part."""
    op = ct.Projector(data.lodopab_geometry())
    parts = {"train": "train", "val": "validation", "test": "test"}
    sets = {}
    for split, part in parts.items():
        full = data.LoDoPaB(data_cfg["root"], part, units="physical")
        n = data_cfg[f"n_{split}"]  # None: all
        sets[split] = full if n is None else Subset(full, range(min(n, len(full))))
    return Task("ct", op, sets["train"], sets["val"], sets["test"], f"LoDoPaB-CT files in {data_cfg['root']}")


def fastmri_task(task_cfg: dict, data_cfg: dict, seed: int) -> Task:
    """fastMRI multi-coil files (``[data] source = "fastmri"``, ``root`` their folder) as `FastMRISense` items,
    each slice with its own ESPIRiT maps and mask: a per-item `CartesianSense` per batch.

    The volumes (files, sorted by name) are split, never their slices: the last ``data.test_volumes`` test, the
    ``data.val_volumes`` before them validation, the rest training; ``n_train`` etc. take the first slices of each.
    ``Task.op`` is the first training slice's operator: the model's shapes and norm (``‖A‖ ≤ 1`` for every slice).
    Every volume the job uses is checked first (`FastMRISense.check`): a bad file and slice are named before training.
    """
    files = sorted(Path(data_cfg["root"]).glob("*.h5"))
    n_val, n_test = data_cfg["val_volumes"], data_cfg["test_volumes"]
    if len(files) < n_val + n_test + 1:
        raise ValueError(
            f"expected at least {n_val + n_test + 1} fastMRI .h5 files in {data_cfg['root']} (training, "
            f"{n_val} validation and {n_test} test volumes), found {len(files)}"
        )
    size = task_cfg["image_size"]
    acceleration, kind = float(task_cfg["acceleration"]), task_cfg["mask"]
    mask = partial(
        _choice("task.mask", MRI_MASKS, kind),
        acceleration=acceleration,
        center_fraction=float(task_cfg["center_fraction"]),
    )
    options = dict(
        image_size=size,
        n_coils=task_cfg["n_coils"],
        mask=mask,
        calib_width=task_cfg["calib_width"],
        seed=task_cfg["mask_seed"] + seed,
    )
    n_train = len(files) - n_val - n_test
    volumes = {"train": files[:n_train], "val": files[n_train : n_train + n_val], "test": files[n_train + n_val :]}
    # every file's header and shapes first (slices, coils: FastMRISense), then the k-space of each slice the job
    # will read, streamed: a bad file is named, with its slice, before ESPIRiT's first item and before training
    full = {split: data.FastMRISense(names, **options) for split, names in volumes.items()}
    sets = {}
    for split, items in full.items():
        n = data_cfg[f"n_{split}"]  # None: all
        used = range(len(items) if n is None else min(n, len(items)))
        if not used:
            raise ValueError(f"expected at least one {split} slice, got data.n_{split} = {n}")
        items.check(used)
        sets[split] = items if n is None else Subset(items, used)
    first = sets["train"][0]
    op = mri.CartesianSense(first["maps"], first["mask"])
    description = (
        f"fastMRI files in {data_cfg['root']} ({len(volumes['train'])}/{n_val}/{n_test} volumes): "
        f"{options['n_coils']} virtual coils, {size}², {acceleration:g}x {kind} columns, ESPIRiT maps"
    )
    return Task("mri", op, sets["train"], sets["val"], sets["test"], description, _cartesian_sense_of)


def build_task(cfg: dict) -> Task:
    """The operator and the train/validation/test sets of a configuration (its defaults filled in here)."""
    from experiments.config import with_defaults  # here: the configuration's schema names this module's models

    cfg = with_defaults(cfg)
    task_cfg, data_cfg = cfg["task"], cfg["data"]
    source = data_cfg["source"]
    seed = (cfg["seed"] if data_cfg["seed"] is None else data_cfg["seed"]) * 10
    if source == "lodopab":
        return lodopab_task(data_cfg)
    if source == "fastmri":
        return fastmri_task(task_cfg, data_cfg, seed)
    if source != "synthetic":
        raise ValueError(f"expected data.source 'synthetic', 'lodopab' or 'fastmri', got {source!r}")
    op, description = build_operator(task_cfg)
    modality = task_cfg["modality"]
    sets = {
        split: build_dataset(
            modality,
            op,
            task_cfg,
            data_cfg,
            data_cfg[f"n_{split}"],
            seed + offset,
            data_cfg["eval_phantom"] if split != "train" else None,
        )
        for split, offset in SPLITS.items()
    }
    # each PET item its own μ-map, each SPECT item its μ-map and scatter
    item_operator = {"pet": partial(_system_model_of, op), "spect": partial(_spect_projector_of, op)}.get(modality)
    description += f"; data: {_data_description(modality, data_cfg)}"
    return Task(
        modality,
        op,
        sets["train"],
        sets["val"],
        sets["test"],
        description,
        item_operator,
        real_anatomy(modality, sets["test"], data_cfg),
        sets["calib"],
    )


def _data_description(modality: str, data_cfg: dict) -> str:
    if data_cfg["model"] == "discrete":
        return "the reconstruction's own operator on its grid (discrete: the inverse crime)"
    fine = _fine(modality, data_cfg)
    return {
        "ct": f"exact line integrals, {data_cfg['sub_rays']} rays per channel",
        "mri": f"k-space of a {fine}x finer grid",
        "pet": f"crystal-pair lines on a {fine}x finer grid, arc-corrected",
        "spect": f"the camera on a {fine}x finer grid and detector",
    }[modality] + ", pixel-averaged truth"


def reconstruct(model: torch.nn.Module, y: torch.Tensor, op: LinearOperator | None) -> torch.Tensor:
    """``model(y, op=op)`` with a batch's per-item operator, ``model(y)`` without one (``op`` None)."""
    if op is None:
        return model(y)
    forward = getattr(model, "module", model).forward  # inside DistributedDataParallel, the model's own
    if "op" not in inspect.signature(forward).parameters:
        raise ValueError(
            f"{type(getattr(model, 'module', model)).__name__} takes no per-call operator, and this "
            f"task's items each have their own: use one of {PER_ITEM_MODELS}"
        )
    return model(y, op=op)


def build_model(task: Task, model_cfg: dict) -> torch.nn.Module:
    """``learned.<model.name>(task.op, **other model keys)``.

    ``initial = {method = "fbp", ...}`` (learned primal-dual's start, run with each call's operator) and
    ``pseudo_inverse = {...}`` (FBPConvNet's input, with ``task.op``) name a classical reconstruction of
    `experiments.baselines` and its parameters.
    """
    model_cfg = dict(model_cfg)
    name = model_cfg.pop("name", None)
    if name not in MODELS:
        raise ValueError(f"expected model.name one of {MODELS}, got {name!r}")
    for key in ("initial", "pseudo_inverse"):
        if isinstance(model_cfg.get(key), dict):
            spec = dict(model_cfg[key])
            method = baselines.baseline(spec.pop("method", None), **spec)
            model_cfg[key] = method if key == "initial" else partial(method, task.op)
    return getattr(learned, name)(task.op, **model_cfg)
