"""fastMRI HDF5 files (Zbontar et al., arXiv:1811.08839) as a torch Dataset of slices, plus `center_crop` and `rss`.

On disk, one volume a file: ``kspace`` (slices, coils, ky, kx) complex64 for multi-coil or (slices, ky, kx) for
single-coil; the reference ``reconstruction_rss`` (multi-coil) or ``reconstruction_esc`` (single-coil),
(slices, 320, 320) float32, absent from the test split; ``mask`` (kx,) in the test split only;
``ismrmrd_header`` (ISMRMRD XML bytes); attributes ``acquisition``, ``max``, ``norm``, ``patient_id``.
Axis -2 of k-space is the (2x oversampled) readout, axis -1 the phase encodes: a fastMRI mask keeps whole
columns. fastMRI's ``fft2c`` (ifftshift, orthonormal FFT, fftshift over the last two spatial axes) is this
library's ``bridges.mri.fft2c``, so the images are ``ifft2c(kspace)`` in our (y, x) convention unchanged, and

    target = center_crop(rss(ifft2c(kspace)), (320, 320))

    data = FastMRISlices("/data/knee_multicoil_val", mask=partial(mask_equispaced, acceleration=4,
                                                                  center_fraction=0.08))
    item = data[0]     # {"kspace": (coils, ky, kx) complex64, "mask": (ky, kx), "target": (320, 320), ...}
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ElementTree
import zlib
from pathlib import Path

import h5py
import numpy as np
import torch
from torch.utils.data import Dataset

from .files import open_hdf5, require_dataset, require_file

ISMRMRD_NAMESPACE = {"ismrmrd": "http://www.ismrm.org/ISMRMRD"}


def center_crop(x: torch.Tensor, shape) -> torch.Tensor:
    """The centred (h, w) window of the last two axes, placed as fastMRI places it: start = (H - h) // 2.

    Shapes: (*batch, H, W) -> (*batch, h, w).

        center_crop(torch.zeros(640, 368), (320, 320)).shape   # (320, 320)
    """
    h, w = (int(s) for s in shape)
    if x.dim() < 2 or not (0 < h <= x.shape[-2] and 0 < w <= x.shape[-1]):
        raise ValueError(
            f"expected a tensor (..., H, W) with H >= {h}, W >= {w} to crop to ({h}, {w}), got shape {tuple(x.shape)}"
        )
    top, left = (x.shape[-2] - h) // 2, (x.shape[-1] - w) // 2
    return x[..., top : top + h, left : left + w]


def rss(images: torch.Tensor, dim: int = -3) -> torch.Tensor:
    """Root sum of squares over the coil axis: sqrt(Σ_c |x_c|²), fastMRI's multi-coil reference image.

    Shapes: (*batch, coils, y, x) complex or real -> (*batch, y, x) real.

        target = center_crop(rss(ifft2c(kspace)), (320, 320))
    """
    return torch.sqrt((images.abs() ** 2).sum(dim))


# float32's largest value: every sum of |k|² over a slice (its energy, the coil compression's and ESPIRiT's Gram
# matrices, RSS) and every FFT sum stays below it where |k| <= sqrt(FLOAT32_MAX / samples): 1e16 at fastMRI's
# 15 coils x 640 x 368, far above any scanner's values, so only corruption comes near it. Measured on 6 x 64 x 36
# slices: one column at 3e37 (finite) already overflows the item's FFT to Inf.
FLOAT32_MAX = float(np.finfo(np.float32).max)


def check_kspace_slice(kspace, where: str) -> None:
    """A ValueError naming ``where`` (file and slice) if one slice's k-space is not finite, is all zero, or holds
    values so large that sums of |k|² over the slice overflow float32; the checks a slice passes before any work.

    Shapes: kspace (coils, ky, kx) or (ky, kx) complex, NumPy or CPU torch.
    """
    k = np.asarray(kspace)
    finite = np.isfinite(k)
    if not finite.all():
        raise ValueError(
            f"expected finite k-space in {where}, got {k.size - int(finite.sum())} non-finite values (NaN or Inf)"
        )
    peak = float(np.abs(k).max(initial=0.0))
    if peak == 0:
        raise ValueError(f"expected k-space with a nonzero value in {where}, got an all-zero slice")
    bound = math.sqrt(FLOAT32_MAX / k.size)
    if peak > bound:
        raise ValueError(
            f"expected |k| <= {bound:.3g} in {where} (so that sums of |k|² over its {k.size} samples "
            f"stay finite in float32), got a maximum of {peak:.3g}"
        )


class _Doctype(Exception):
    pass


class _RefuseDoctype(ElementTree.TreeBuilder):
    """Refuses a document type declaration: ISMRMRD headers have none, and its entities are what XML bombs and
    external-entity reads need. Expat >= 2.4 caps entity expansion too; this holds whatever the expat."""

    def doctype(self, name, pubid, system):
        raise _Doctype()


def _find(root: ElementTree.Element, path: str, where: str) -> str:
    node = root.find(path, ISMRMRD_NAMESPACE)
    if node is None or node.text is None:
        raise ValueError(f"expected element {path.replace('ismrmrd:', '')} in {where}, found none")
    return node.text


def _number(root: ElementTree.Element, path: str, kind, where: str):
    text = _find(root, path, where)
    try:
        return kind(text)
    except ValueError:
        noun = "an integer" if kind is int else "a number"
        raise ValueError(f"expected {noun} in {path.replace('ismrmrd:', '')} of {where}, got {text!r}") from None


def _xyz(root, path: str, kind, where: str) -> tuple:
    return tuple(_number(root, f"{path}/ismrmrd:{axis}", kind, where) for axis in "xyz")


def parse_ismrmrd_header(xml, source: str = "") -> dict:
    """Matrix sizes, fields of view and phase-encode padding from a fastMRI file's ISMRMRD XML header.

    padding_left = encoded y // 2 - centre of kspace_encoding_step_1; padding_right = padding_left + maximum + 1:
    the phase-encode columns [padding_left, padding_right) were acquired, the rest are zero-filled (as fastMRI's
    ``SliceDataset`` computes them). ``source`` (the file's name) is named in errors. A header with a document type
    declaration is refused: ISMRMRD headers have none, and entities (XML bombs, external files) need one.

    Returns: {"encoding_size", "recon_size": (x, y, z) matrix sizes, "encoding_fov", "recon_fov":
    (x, y, z) in mm, "padding_left", "padding_right": column indices}.
    """
    where = f"the ISMRMRD header of {source}" if source else "the ISMRMRD header"
    if not isinstance(xml, (bytes, str)):
        raise ValueError(f"expected ISMRMRD XML text in {where}, got {type(xml).__name__}")
    parser = ElementTree.XMLParser(target=_RefuseDoctype())
    try:
        parser.feed(xml)
        root = parser.close()
    except _Doctype:
        raise ValueError(
            f"expected ISMRMRD XML without a document type declaration in {where}, got one (entities are refused)"
        ) from None
    except ElementTree.ParseError as error:
        raise ValueError(f"expected ISMRMRD XML in {where}, got unparsable text ({error})") from None
    encoding = "ismrmrd:encoding"
    encoded_size = _xyz(root, f"{encoding}/ismrmrd:encodedSpace/ismrmrd:matrixSize", int, where)
    limits = f"{encoding}/ismrmrd:encodingLimits/ismrmrd:kspace_encoding_step_1"
    left = encoded_size[1] // 2 - _number(root, f"{limits}/ismrmrd:center", int, where)
    return {
        "encoding_size": encoded_size,
        "recon_size": _xyz(root, f"{encoding}/ismrmrd:reconSpace/ismrmrd:matrixSize", int, where),
        "encoding_fov": _xyz(root, f"{encoding}/ismrmrd:encodedSpace/ismrmrd:fieldOfView_mm", float, where),
        "recon_fov": _xyz(root, f"{encoding}/ismrmrd:reconSpace/ismrmrd:fieldOfView_mm", float, where),
        "padding_left": left,
        "padding_right": left + _number(root, f"{limits}/ismrmrd:maximum", int, where) + 1,
    }


def _files(source) -> list:
    """A directory (its *.h5 files, sorted), one file, or a list of files."""
    if isinstance(source, (str, Path)) and Path(source).is_dir():
        files = sorted(Path(source).glob("*.h5"))
        if not files:
            raise FileNotFoundError(f"expected fastMRI .h5 files in {source}, found none")
        return files
    return [require_file(f) for f in ([source] if isinstance(source, (str, Path)) else source)]


class FastMRISlices(Dataset):
    """The slices of fastMRI volumes, each read from its file on access, optionally under-sampled by a mask.

    An item: ``kspace`` (coils, ky, kx) complex64 (coils = 1 for single-coil files), multiplied by ``mask``
    (ky, kx) float32; ``target`` (h, w) float32 where the file has one (not in the test split); ``max`` (the
    volume's target maximum, NaN where the file does not say), ``acquisition``, ``fname``, ``slice``.

    ``mask``: None (k-space as stored, mask all ones), or a callable
    ``mask(shape, seed=...) -> (ky, kx)`` such as ``partial(bridges.mri.mask_equispaced, acceleration=4,
    center_fraction=0.08)``; it is drawn with seed ``seed + crc32(file name)``, so every slice of a volume shares
    one mask, the same in every epoch and worker (change ``dataset.seed`` between epochs for fresh masks), and is
    zeroed on the zero-filled columns. A file's own ``mask`` (test split) takes precedence.

    Shapes: kspace (coils, ky, kx) complex64; mask (ky, kx); target (h, w), fastMRI's scale (no unit).
    """

    def __init__(self, source, *, mask=None, seed: int = 0, target_key: str | None = None):
        if mask is not None and not callable(mask):
            raise TypeError(f"expected mask as None or a callable mask(shape, seed=...), got {type(mask).__name__}")
        self.mask, self.seed, self.target_key = mask, seed, target_key
        self.examples = []  # (file, slice, metadata), as in fastMRI's SliceDataset
        for path in _files(source):
            metadata, n_slices = self._read_metadata(path)
            self.examples += [(path, s, metadata) for s in range(n_slices)]

    def _read_metadata(self, path: Path):
        with open_hdf5(path) as f:
            kspace = require_dataset(f, "kspace")
            if kspace.ndim not in (3, 4) or not np.issubdtype(kspace.dtype, np.complexfloating):
                raise TypeError(
                    f"expected kspace (slices, [coils,] ky, kx) complex in {path.name}, "
                    f"got shape {kspace.shape} of {kspace.dtype}"
                )
            if 0 in kspace.shape:  # a volume without slices would leave a split empty, found only after training
                raise ValueError(
                    f"expected kspace with at least one slice, coil and sample in {path.name}, got shape {kspace.shape}"
                )
            metadata = parse_ismrmrd_header(require_dataset(f, "ismrmrd_header")[()], source=path.name)
            metadata["multicoil"] = kspace.ndim == 4
            metadata["coils"] = kspace.shape[1] if kspace.ndim == 4 else 1
            metadata["stored_mask"] = "mask" in f
            metadata["target_key"] = self.target_key or (
                "reconstruction_rss" if kspace.ndim == 4 else "reconstruction_esc"
            )
            metadata.update({k: f.attrs[k] for k in ("acquisition", "max", "norm", "patient_id") if k in f.attrs})
            return metadata, kspace.shape[0]

    def __len__(self) -> int:
        return len(self.examples)

    def check(self, indices=None) -> None:
        """Read the stored k-space of the slices ``indices`` (all by default), one slice at a time, each file opened
        once, and raise a ValueError naming the first bad one's file and slice (`check_kspace_slice`): what a job
        runs before any work, so that a bad slice does not surface mid-training. Memory: one slice."""
        slices = {}
        for index in range(len(self)) if indices is None else indices:
            path, slice_index, _ = self.examples[index]
            slices.setdefault(path, []).append(slice_index)
        for path, indices_in_file in slices.items():
            with open_hdf5(path) as f:
                kspace = f["kspace"]
                for slice_index in indices_in_file:
                    check_kspace_slice(kspace[slice_index], f"{path.name} slice {slice_index}")

    def _mask(self, f: h5py.File, path: Path, metadata: dict, shape) -> torch.Tensor:
        if "mask" in f:  # the test split stores its sampled columns
            return torch.from_numpy(np.asarray(f["mask"], dtype=np.float32)).expand(shape).contiguous()
        if self.mask is None:
            return torch.ones(shape, dtype=torch.float32)
        columns = torch.zeros(shape[-1], dtype=torch.float32)  # the zero-filled columns were never sampled
        columns[max(metadata["padding_left"], 0) : max(metadata["padding_right"], 0)] = 1
        mask = torch.as_tensor(self.mask(tuple(shape), seed=self.seed + zlib.crc32(path.name.encode())))
        if mask.shape != shape:
            raise ValueError(f"expected the mask function to return shape {tuple(shape)}, got {tuple(mask.shape)}")
        return mask.to(torch.float32) * columns

    def __getitem__(self, index: int) -> dict:
        path, slice_index, metadata = self.examples[index]
        with open_hdf5(path) as f:
            kspace = torch.from_numpy(np.asarray(f["kspace"][slice_index], dtype=np.complex64))
            kspace = kspace if metadata["multicoil"] else kspace[None]
            mask = self._mask(f, path, metadata, kspace.shape[-2:])
            item = {"kspace": kspace * mask, "mask": mask}
            if metadata["target_key"] in f:
                item["target"] = torch.from_numpy(np.asarray(f[metadata["target_key"]][slice_index], np.float32))
        item.update(
            {
                "max": float(metadata.get("max", math.nan)),
                "acquisition": str(metadata.get("acquisition", "")),
                "fname": path.name,
                "slice": slice_index,
            }
        )
        return item
