"""python -m experiments recon INPUT --method METHOD --out OUT [options]

One raw file to one image: the file's format found from its contents (`experiments.data.raw`: fastMRI, ISMRMRD,
LoDoPaB-CT, DICOM-CT-PD), each slice reconstructed with its own operator, the image (a stack over slices) written
with its voxel size (`experiments.data.image_out`: .npy, .nii/.nii.gz, .png).

Methods: MRI zero-filled, cg-sense, l1-wavelet (`bridges.mri`); CT fbp (2D), fdk (3D, CUDA), tv
(`bridges.solvers.tv_pdhg`, as `experiments.baselines`); or a checkpoint (.pt) written by
``python -m experiments train``, applied only where its task's operator matches the file's (`match_checkpoint`).
MRI images are magnitudes, centre-cropped to the reconstruction matrix the file's header names.

Example::

    python -m experiments recon file1000.h5 --method cg-sense --slice 10:14 --out knee.nii.gz
    python -m experiments recon observation_test_000.hdf5 --method runs/lodopab-lpd/checkpoint.pt --out x.npy
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import sys
import traceback
from pathlib import Path

import numpy as np
import torch

from experiments import baselines
from experiments.data.image_out import image_format, write_image
from experiments.data.raw import FORMATS, MODALITY, detect_format, read_raw

METHODS = {"mri": ("zero-filled", "cg-sense", "l1-wavelet"), "ct": ("fbp", "fdk", "tv"), "pet": ("osem",)}
ALL_METHODS = tuple(m for methods in METHODS.values() for m in methods)
# per method: (iterations, λ) unless given; TV's λ is the middle of ct-lpd's tuning grid (the same units:
# μ in 1/mm, dimensionless line integrals, per-pixel differences), L1-wavelet's on data scaled to a unit
# zero-filled peak (as `FastMRISense` scales its items)
DEFAULTS = {"cg-sense": (20, 0.0), "l1-wavelet": (100, 1e-3), "tv": (300, 1.0)}
ERRORS = (ValueError, FileNotFoundError, RuntimeError, TypeError)
GEOMETRY_RTOL, GEOMETRY_ATOL = 1e-5, 1e-6  # float32 geometry values written and read back agree far closer


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m experiments recon", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("input", type=Path, help="a raw file, or a DICOM-CT-PD folder")
    parser.add_argument(
        "--method", required=True, help=f"one of {', '.join(ALL_METHODS)}, or a checkpoint .pt of `experiments train`"
    )
    parser.add_argument("--out", required=True, type=Path, help="the image: .npy, .nii, .nii.gz or .png")
    parser.add_argument("--iterations", type=int, default=None, help="iterations of cg-sense, l1-wavelet, tv")
    parser.add_argument("--lam", type=float, default=None, help="regularisation weight of cg-sense, l1-wavelet, tv")
    parser.add_argument("--slice", default=None, help="slice index or range START:STOP[:STEP] (default all)")
    parser.add_argument("--format", choices=FORMATS, default=None, help="force a reader (default: detected)")
    parser.add_argument("--device", default="cpu", help="torch device, e.g. cuda:0 (default cpu)")
    parser.add_argument("--filter", default="hann", help="fbp/fdk filter (default hann)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    parser.add_argument("--traceback", action="store_true", help="on an error, the full traceback")
    args = parser.parse_args(argv)
    try:
        recon(args)
    except ERRORS as err:
        if args.traceback:
            traceback.print_exc()
        message = " ".join(str(err).split()) or type(err).__name__
        print(f"recon: {args.input}: {message}", file=sys.stderr)
        return 2
    return 0


def recon(args) -> Path:
    """The command's work, errors raised (`main` prints them in a line)."""
    image_format(args.out)  # a bad output name is found before any reading
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"--device {args.device}: this machine has no CUDA device")
    method = args.method
    checkpoint = None if method in ALL_METHODS else Path(method)
    if checkpoint is not None and not (method.endswith(".pt") or checkpoint.is_file()):
        raise ValueError(f"expected --method one of {', '.join(ALL_METHODS)} or a checkpoint .pt, got {method!r}")
    if checkpoint is not None and not checkpoint.is_file():
        raise FileNotFoundError(f"expected a checkpoint at {checkpoint}, found none")
    slices = parse_slices(args.slice)
    found = args.format or detect_format(args.input)
    if checkpoint is None:  # before reading: ESPIRiT on every slice takes a while
        check_method(method, MODALITY[found])
    acquisitions = read_raw(args.input, format=found, slices=slices, progress=not args.no_progress)
    first = acquisitions[0]
    modality = first.modality
    print(
        f"read {args.input}: {first.info.get('format', found)} ({modality}), {len(acquisitions)} "
        f"slice{'s' * (len(acquisitions) != 1)}, data {tuple(first.data.shape)}, image {first.image_shape}, "
        f"voxel {_mm(first.voxel_size)} mm"
    )
    if len(acquisitions) > 1 and len(first.image_shape) == 3:
        raise ValueError(f"expected one 3D volume to write, got {len(acquisitions)}: choose one with --slice")
    if checkpoint is None:
        check_method(method, modality)
        reconstruct_one = classical(method, args)
    else:
        reconstruct_one = learned_method(checkpoint, first)
    progress = _bar(acquisitions, args, desc=Path(method).name)
    images = []
    for acquisition in progress:
        image = reconstruct_one(acquisition, device)
        images.append(_finish(image, acquisition))
    image = images[0] if len(images) == 1 else torch.stack(images)
    voxel = tuple(float(v) for v in first.voxel_size[-images[0].dim() :])
    if len(images) > 1:  # a stack of 2D slices
        voxel = (float(first.info.get("slice_thickness", 1.0)), *voxel)
    origin = "upper" if modality == "mri" else "lower"
    out = write_image(args.out, image, voxel, origin=origin)
    print(
        f"wrote {out}: {method if checkpoint is None else checkpoint.name}, image {tuple(image.shape)}, voxel "
        f"{_mm(voxel)} mm"
    )
    return out


def parse_slices(text):
    """``--slice``: None, "7" (one index) or "START:STOP[:STEP]" (a slice)."""
    if text is None:
        return None
    try:
        if ":" not in text:
            return int(text)
        parts = [int(p) if p.strip() else None for p in text.split(":")]
        if len(parts) > 3:
            raise ValueError
        return slice(*parts)
    except ValueError:
        raise ValueError(f"expected --slice as an index or START:STOP[:STEP], got {text!r}") from None


def check_method(method: str, modality: str) -> None:
    """A ValueError unless ``method`` reconstructs ``modality`` data, listing the methods that do."""
    if method == "osem":  # also for PET data: no reader gives its system model yet
        others = (
            f"; this file holds {modality} data: use one of {', '.join(METHODS[modality])} or a checkpoint"
            if modality != "pet"
            else ""
        )
        raise ValueError(
            f"osem reconstructs PET emission data (counts with a bridges.pet.SystemModel: scanner "
            f"geometry, attenuation, randoms and scatter), and there is no PET raw reader here{others}"
        )
    if method not in METHODS[modality]:
        raise ValueError(
            f"method {method!r} does not apply to {modality} data; use one of "
            f"{', '.join(METHODS[modality])} or a checkpoint .pt"
        )


def classical(method: str, args):
    """``reconstruct(acquisition, device) -> image``: one of `METHODS` with the command's options."""
    n_iter, lam = DEFAULTS.get(method, (None, None))
    n_iter = n_iter if args.iterations is None else args.iterations
    lam = lam if args.lam is None else args.lam
    if n_iter is not None and n_iter < 1:
        raise ValueError(f"expected --iterations >= 1, got {n_iter}")

    def run(acquisition, device):
        if method == "fdk" and device.type != "cuda":
            raise RuntimeError(
                "fdk reconstructs 3D cone-beam data on CUDA (ASTRA has no 3D CPU projectors): run "
                "it with --device cuda on a machine with a GPU, or use fbp on 2D data"
            )
        op = acquisition.require_operator().to(device)
        y = acquisition.data.to(device)
        if method == "fbp" and getattr(acquisition.geometry, "is_3d", False):
            raise ValueError("fbp reconstructs 2D data; this acquisition is 3D: use fdk (CUDA)")
        if method in ("fbp", "fdk"):
            return baselines.BASELINES["fbp"](op, y, filter_type=args.filter)
        if method == "zero-filled":
            return baselines.BASELINES["zero_filled"](op, y)
        if method == "l1-wavelet":  # SigPy iterates inside, without a callback: the slice bar only
            scale = _mri_scale(op, y)
            return baselines.BASELINES["l1_wavelet"](op, y / scale, n_iter, lam=lam) * scale
        from tqdm import tqdm

        with tqdm(total=n_iter, desc=method, unit="it", leave=False, file=sys.stderr, disable=args.no_progress) as bar:

            def step(k, x):
                bar.update(1)

            if method == "tv":
                return baselines.BASELINES["tv"](op, y, n_iter, lam=lam, nonneg=True, callback=step)
            scale = _mri_scale(op, y)
            return baselines.BASELINES["cg_sense"](op, y / scale, n_iter, lam=lam, callback=step) * scale

    return run


def learned_method(path: Path, acquisition):
    """``reconstruct(acquisition, device) -> image`` by the model of the checkpoint at ``path``, after
    `match_checkpoint` found its operator to be the file's."""
    from experiments.checkpoint import load_checkpoint, load_weights
    from experiments.config import check_config
    from experiments.tasks import PER_ITEM_MODELS, Task, build_model, reconstruct

    state = load_checkpoint(path, keys=("config", "model"))
    cfg = check_config(state["config"])
    name = cfg["model"]["name"]
    op = match_checkpoint(cfg, acquisition, path, per_item=name in PER_ITEM_MODELS)
    model = build_model(Task(cfg["task"]["modality"], op, None, None, None, ""), cfg["model"])
    load_weights(model, state, path, cfg["model"])
    model.eval()

    def run(acquisition, device):
        y = acquisition.data.to(device)
        model.to(device)
        per_item = name in PER_ITEM_MODELS
        item_op = acquisition.require_operator().to(device) if per_item else None
        scale = _mri_scale(op.to(device) if item_op is None else item_op, y) if acquisition.modality == "mri" else 1.0
        with torch.no_grad():
            return reconstruct(model, y[None] / scale, item_op)[0] * scale

    return run


def match_checkpoint(cfg: dict, acquisition, path, per_item: bool = True):
    """The operator to build a checkpoint's model with, if the operator of its task (``cfg``, defaults filled in)
    is the file's; else a ValueError naming each field that differs, the checkpoint's value as expected and the
    file's as got.

    CT: the geometry, field by field (kind, angles, detector count and spacing, distances, image shape, pixel
    size; numbers within a relative 1e-5). MRI: image shape, coil count and sampling (the checkpoint's mask, or
    for fastMRI-trained models, each slice with its own, the acceleration within 10 %); the coil maps too for a
    model that takes no per-call operator (it applies the maps it was built with).
    """
    from bridges import ct
    from experiments.data.lodopab import lodopab_geometry
    from experiments.tasks import build_operator

    task_cfg, data_cfg = cfg["task"], cfg["data"]
    modality, source = task_cfg["modality"], data_cfg["source"]
    differences, op = [], None
    if modality != acquisition.modality:
        differences.append(("modality", modality, acquisition.modality))
    elif modality == "ct":
        op = ct.Projector(lodopab_geometry()) if source == "lodopab" else build_operator(task_cfg)[0]
        differences = geometry_differences(op.geometry, acquisition.geometry)
    elif modality == "mri":
        got_op = acquisition.require_operator()
        got_shape, got_coils = tuple(acquisition.image_shape), _coils(got_op)
        got_mask = _mask(got_op, got_shape)
        if source == "fastmri":
            size, coils = task_cfg["image_size"], task_cfg["n_coils"]
            expected_shape, op = (size, size), got_op
            acceleration = float(task_cfg["acceleration"])
            got_acceleration = got_mask.numel() / max(float((got_mask > 0).sum()), 1.0)
            sampling = (
                abs(got_acceleration / acceleration - 1) > 0.1,
                f"{acceleration:g}x {task_cfg['mask']} columns",
                f"{got_acceleration:.3g}x",
            )
        else:
            op = build_operator(task_cfg)[0]
            expected_shape, coils = tuple(op.domain_shape), _coils(op)
            mask = _mask(op, expected_shape)
            same = mask.shape == got_mask.shape and bool(((mask > 0) == (got_mask > 0)).all())
            sampling = (
                not same,
                _describe_mask(mask, f"{float(task_cfg['acceleration']):g}x {task_cfg['mask']}"),
                _describe_mask(got_mask, "the file's"),
            )
        if expected_shape != got_shape:
            differences.append(("image shape", expected_shape, got_shape))
        if coils != got_coils:
            differences.append(("coils", coils, got_coils))
        if not differences and sampling[0]:
            differences.append(("sampling", sampling[1], sampling[2]))
        if not differences and not per_item and source != "fastmri":
            maps, got_maps = op.maps, got_op.maps
            if (maps is None) != (got_maps is None) or (
                maps is not None and not torch.allclose(maps, got_maps.to(maps.dtype), atol=1e-4)
            ):
                differences.append(
                    ("coil maps", "the checkpoint's (birdcage; its model applies no other)", "the file's (ESPIRiT)")
                )
    else:
        differences.append(("modality", modality, f"{acquisition.modality} (PET checkpoints need a PET reader)"))
    if differences:
        raise ValueError(
            f"checkpoint {path} does not match this file: "
            + "; ".join(f"{field}: expected {a}, got {b}" for field, a, b in differences)
        )
    return op


def geometry_differences(expected, got) -> list:
    """``(field, expected, got)`` for each field of two CT geometries that differ (`match_checkpoint`)."""
    if got is None:
        return [("geometry", type(expected).__name__, "none (the reader gave no geometry)")]
    if type(expected) is not type(got):
        return [("kind", type(expected).__name__, type(got).__name__)]
    differences = []
    for f in dataclasses.fields(expected):
        a, b = getattr(expected, f.name), getattr(got, f.name)
        if isinstance(a, str) or isinstance(b, str) or a is None or b is None:
            if a != b:
                differences.append((f.name, repr(a), repr(b)))
            continue
        a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
        if a.shape != b.shape:
            if f.name == "angles":
                differences.append(("angles", f"{a.size} views", f"{b.size} views"))
            else:
                differences.append((f.name, f"shape {a.shape}", f"shape {b.shape}"))
        elif not np.allclose(a, b, rtol=GEOMETRY_RTOL, atol=GEOMETRY_ATOL):
            if a.size > 3:
                k = int(np.abs(a - b).argmax())
                differences.append(
                    (
                        f.name,
                        f"{a.flat[k]:.6g} at index {k}",
                        f"{b.flat[k]:.6g} (largest difference {abs(a.flat[k] - b.flat[k]):.3g} of {a.size} values)",
                    )
                )
            else:
                differences.append((f.name, _plain(a), _plain(b)))
    return differences


def _plain(a: np.ndarray) -> str:
    return f"{float(a):.6g}" if a.ndim == 0 else "(" + ", ".join(f"{v:.6g}" for v in a.ravel()) + ")"


def _coils(op) -> int:
    maps = getattr(op, "maps", None)
    return 1 if maps is None else int(maps.shape[-3])


def _mask(op, shape) -> torch.Tensor:
    mask = getattr(op, "mask", None)
    return (
        torch.ones(shape)
        if mask is None
        else mask.detach().cpu().float().expand(*mask.shape[:-2], *shape).reshape(-1, *shape)[0]
    )


def _describe_mask(mask: torch.Tensor, name: str) -> str:
    columns = (mask > 0).any(0)
    return f"{name} mask ({int(columns.sum())} of {columns.numel()} columns sampled)"


def _mri_scale(op, y) -> float:
    """The peak of the zero-filled image |A^H y|: MRI data divided by it, reconstructed, and multiplied back, so
    that λ and learned models see data of one scale (`FastMRISense`'s normalisation)."""
    peak = float(op.adjoint(y).abs().max())
    return peak if peak > 0 and math.isfinite(peak) else 1.0


def _finish(image: torch.Tensor, acquisition) -> torch.Tensor:
    """The image to write: a magnitude (MRI), centre-cropped to the header's reconstruction matrix, on the CPU."""
    image = image.detach().cpu()
    if image.is_complex():
        image = image.abs()
    crop = acquisition.info.get("crop")
    if crop is not None and image.dim() >= 2:
        from experiments.data.fastmri import center_crop

        image = center_crop(image, crop)
    return image.to(torch.float32)


def _bar(items, args, desc):
    from tqdm import tqdm

    return tqdm(items, desc=desc, unit="slice", disable=args.no_progress or len(items) < 2, file=sys.stderr)


def _mm(values) -> str:
    return "(" + ", ".join(f"{float(v):.4g}" for v in values) + ")"
