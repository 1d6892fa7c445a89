"""LoDoPaB-CT (Leuschner et al., Sci. Data 8:109, 2021) as a torch Dataset in this library's conventions.

On disk (Zenodo record 3384092, read by dival's ``LoDoPaBDataset``): per part (train, validation,
test) files ``ground_truth_{part}_{NNN}.hdf5`` and ``observation_{part}_{NNN}.hdf5``, NNN = 000, 001, ...,
each with one dataset ``"data"`` of up to 128 samples: images (n, 362, 362) and post-log sinograms
(n, 1000, 513), float32. The files follow ODL: an image is indexed (x, y) on the square [-0.13, 0.13]² m,
values are μ / μ_max with μ_max = 81.35858 /m (3071 HU), and a sinogram is ODL's ray transform of that
image in metres (parallel beam, 1000 angles mid-step over [0, π), 513 bins) from 4096 photons per bin
with Poisson noise.

Here an image is (y, x) (the file's array transposed) and a sinogram (views, detector), so that
``ct.Projector(lodopab_geometry())(x) ≈ y`` in either unit system:

- ``units="normalised"``: x = μ / μ_max ∈ [0, 1] as stored; y = ∫ x dl with dl in mm (1000 × the stored value).
- ``units="physical"``: x = μ in 1/mm (stored × μ_max / 1000); y = ∫ μ dl, dimensionless (stored × μ_max),
  so that the expected photon count is 4096 · exp(-y).

    data = LoDoPaB("/data/lodopab", "validation", units="physical")
    item = data[0]                                   # {"x": (362, 362), "y": (1000, 513), "index": 0}
    residual = ct.Projector(lodopab_geometry())(item["x"]) - item["y"]
"""

from __future__ import annotations

import bisect
import dataclasses
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from bridges import ct

from .files import dataset_shape, open_hdf5, require_dataset

MU_MAX = 81.35858  # 1/m: μ at 3071 HU, LoDoPaB's normalisation of images and sinograms
PHOTONS_PER_BIN = 4096  # incident photons per detector bin in the simulation
PARTS = ("train", "validation", "test")
UNITS = ("normalised", "physical")
IMAGE_SHAPE = (362, 362)
SINOGRAM_SHAPE = (1000, 513)


def lodopab_geometry() -> ct.ParallelBeam2D:
    """LoDoPaB-CT's exact geometry: the ``scanner("lodopab")`` preset with angles mid-step, as ODL puts them.

    θ_k = (k + ½) π / 1000, k = 0..999; 513 bins spanning the circle of radius 130√2 mm; 362² pixels over 260 mm.
    """
    preset = ct.scanner("lodopab")
    step = np.pi / preset.n_views
    return dataclasses.replace(preset, angles=preset.angles + step / 2)


def _file_pairs(root: Path, part: str) -> list:
    """The (ground truth, observation) file pairs of one part, in file-number order."""
    pairs = []
    while (root / f"ground_truth_{part}_{len(pairs):03d}.hdf5").is_file():
        n = len(pairs)
        pairs.append((root / f"ground_truth_{part}_{n:03d}.hdf5", root / f"observation_{part}_{n:03d}.hdf5"))
    if not pairs:
        raise FileNotFoundError(f"expected LoDoPaB-CT files {root}/ground_truth_{part}_000.hdf5, ... , found none")
    return pairs


class LoDoPaB(Dataset):
    """The LoDoPaB-CT pairs of one part, read one sample at a time from the HDF5 files.

    Items: ``{"x": image (y, x), "y": post-log sinogram (views, detector), "index": int}``, float32; units as in
    the module docstring, with y ≈ A x for ``A = ct.Projector(lodopab_geometry())`` (plus the data's noise).

    Shapes: x (362, 362) in 1 (normalised) or 1/mm (physical); y (1000, 513) in mm or 1 (dimensionless).

        data = LoDoPaB("/data/lodopab", "train")
        loader = torch.utils.data.DataLoader(data, batch_size=4, shuffle=True, num_workers=2)
    """

    def __init__(self, root, part: str = "train", units: str = "normalised"):
        if part not in PARTS:
            raise ValueError(f"expected part in {PARTS}, got {part!r}")
        if units not in UNITS:
            raise ValueError(f"expected units in {UNITS}, got {units!r}")
        self.root, self.part, self.units = Path(root), part, units
        self.files = _file_pairs(self.root, part)
        counts = [self._count(truth, observation) for truth, observation in self.files]
        self._starts = np.cumsum([0] + counts).tolist()  # sample index where each file begins

    @staticmethod
    def _count(truth: Path, observation: Path) -> int:
        """Samples in one file pair, after checking both shapes from the headers."""
        x_shape, y_shape = dataset_shape(truth, "data"), dataset_shape(observation, "data")
        if x_shape[1:] != IMAGE_SHAPE or y_shape[1:] != SINOGRAM_SHAPE or x_shape[0] != y_shape[0]:
            raise ValueError(
                f"expected images (n, {IMAGE_SHAPE[0]}, {IMAGE_SHAPE[1]}) and sinograms "
                f"(n, {SINOGRAM_SHAPE[0]}, {SINOGRAM_SHAPE[1]}) with the same n, got {x_shape} in "
                f"{truth.name} and {y_shape} in {observation.name}"
            )
        return x_shape[0]

    def __len__(self) -> int:
        return self._starts[-1]

    def __getitem__(self, index: int) -> dict:
        if not -len(self) <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} samples of part {self.part!r}")
        index %= len(self)
        file = bisect.bisect_right(self._starts, index) - 1
        row = index - self._starts[file]
        truth, observation = self.files[file]
        with open_hdf5(truth) as f:
            x = require_dataset(f, "data")[row]
        with open_hdf5(observation) as f:
            y = require_dataset(f, "data")[row]
        # the files are ODL arrays: images (x, y), so ours (y, x) is the transpose; sinograms in metres
        x = torch.from_numpy(np.ascontiguousarray(x.T, dtype=np.float32))
        y = torch.from_numpy(np.asarray(y, dtype=np.float32)) * 1000.0
        if self.units == "physical":
            x, y = x * (MU_MAX / 1000.0), y * (MU_MAX / 1000.0)
        return {"x": x, "y": y, "index": index}
