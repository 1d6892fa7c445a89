"""fastMRI multi-coil slices as training items with their own operator: ESPIRiT coil maps and a mask per slice.

Each item holds what a per-item `bridges.mri.CartesianSense` needs beside its data, so that a batch of slices
runs as one batched operator (`experiments.tasks.Task.batch_operator`):

    data = FastMRISense(files, image_size=320, n_coils=8, mask=partial(mask_equispaced, acceleration=4,
                                                                       center_fraction=0.08))
    item = data[0]   # {"y": (8, 320, 320) complex64, "x": (320, 320) complex64, "maps": (8, 320, 320), "mask": (320, 320)}
    A = CartesianSense(item["maps"], item["mask"])      # y = A(x) + noise, the scanner's
"""

from __future__ import annotations

import zlib

import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from bridges.mri import espirit_maps, fft2c, ifft2c

from .fastmri import FastMRISlices, center_crop, check_kspace_slice


def crop_or_pad(x: torch.Tensor, shape) -> torch.Tensor:
    """The centred (h, w) window of the last two axes, zero-padded where an axis is shorter (start (H - h) // 2,
    as `center_crop`).

    Shapes: (*batch, H, W) -> (*batch, h, w).
    """
    h, w = shape
    pad_h, pad_w = max(h - x.shape[-2], 0), max(w - x.shape[-1], 0)
    x = F.pad(x, (pad_w // 2, pad_w - pad_w // 2, pad_h // 2, pad_h - pad_h // 2))
    return center_crop(x, shape)


def compress_coils(kspace: torch.Tensor, calibration: torch.Tensor, n_coils: int) -> torch.Tensor:
    """``n_coils`` virtual coils (SVD coil compression, Huang et al., MRI 26(1) 2008): the k-space projected on the
    leading left singular vectors of the calibration data (coils x samples), which the mask always samples.

    Shapes: kspace (coils, ky, kx), calibration (coils, ...) -> (n_coils, ky, kx).
    """
    u, _, _ = torch.linalg.svd(calibration.reshape(calibration.shape[0], -1), full_matrices=False)
    return torch.einsum("cv,cyx->vyx", u[:, :n_coils].conj(), kspace)


class FastMRISense(Dataset):
    """Multi-coil fastMRI slices as items ``{"y", "x", "maps", "mask"}`` of one image size and coil count.

    Per slice, from its fully sampled k-space (C coils):

    1. size: the coil images ``ifft2c(k)`` centre-cropped (zero-padded where smaller) to ``image_size``²: the
       readout's 2x oversampling goes, and every item has one size, so that items batch;
    2. mask: ``mask((image_size, image_size), seed=seed + crc32(file name))``, one per volume as in
       `FastMRISlices`; the under-sampling is retrospective, on the cropped grid (not the scanner's);
    3. coils: ``n_coils`` virtual coils by SVD compression of the ``calib_width``² k-space centre, so that files of
       any coil count batch;
    4. maps ``S``: ESPIRiT (`bridges.mri.espirit_maps`, Σ_c |S_c|² = 1 on the support, 0 off it) from that centre
       of the *under-sampled* k-space, the autocalibration lines (the mask must sample them all);
    5. ``y = M ⊙ k`` and the target ``x = Σ_c conj(S_c) F⁻¹ k_c``, the ESPIRiT-combined fully sampled image
       (complex; its magnitude is fastMRI's ``reconstruction_rss`` on the maps' support, and 0 off it);
    6. both divided by the peak of the zero-filled image ``|A^H y|``, known from the measurements alone.

    ESPIRiT takes about a second a 320² slice, so an item is computed once and kept in memory (per process).

    Shapes: y (n_coils, n, n) complex64; x (n, n) complex64; maps (n_coils, n, n) complex64; mask (n, n) float32,
    n = ``image_size``.
    """

    def __init__(self, source, *, image_size: int, n_coils: int, mask, calib_width: int = 24, seed: int = 0):
        if not callable(mask):
            raise TypeError(f"expected mask as a callable mask(shape, seed=...), got {type(mask).__name__}")
        if not calib_width <= image_size:
            raise ValueError(f"expected calib_width <= image_size ({image_size}), got {calib_width}")
        self.slices = FastMRISlices(source)
        for path, metadata in {path: metadata for path, _, metadata in self.slices.examples}.items():
            # a volume's own properties, from its header and shapes: named here, before any item or training
            if metadata["coils"] < n_coils:
                raise ValueError(f"expected at least n_coils = {n_coils} coils in {path.name}, got {metadata['coils']}")
            if metadata["stored_mask"]:
                raise ValueError(
                    f"expected fully sampled k-space in {path.name} (the items are under-sampled here), "
                    f"got a file with a stored mask (fastMRI's test split)"
                )
        self.shape, self.n_coils, self.mask, self.calib_width, self.seed = (
            (image_size, image_size),
            n_coils,
            mask,
            calib_width,
            seed,
        )
        self.cache = {}

    def __len__(self) -> int:
        return len(self.slices)

    def check(self, indices=None) -> None:
        """The stored k-space of the items ``indices`` (all by default) read slice by slice, a ValueError naming the
        first bad file and slice (`FastMRISlices.check`): cheap beside an item (no FFT, no ESPIRiT)."""
        self.slices.check(indices)

    def __getitem__(self, index: int) -> dict:
        if index not in self.cache:
            self.cache[index] = self._item(index)
        return dict(self.cache[index])

    def _item(self, index: int) -> dict:
        raw = self.slices[index]
        check_kspace_slice(raw["kspace"], f"{raw['fname']} slice {raw['slice']}")  # before the FFT and the SVD
        full = fft2c(crop_or_pad(ifft2c(raw["kspace"]), self.shape))
        mask = torch.as_tensor(self.mask(self.shape, seed=self.seed + zlib.crc32(raw["fname"].encode())))
        if tuple(mask.shape) != self.shape:
            raise ValueError(f"expected the mask function to return shape {self.shape}, got {tuple(mask.shape)}")
        mask = mask.to(torch.float32)
        centre = center_crop(mask, (self.calib_width, self.calib_width))
        if not bool((centre > 0).all()):
            raise ValueError(
                f"expected the mask to sample the calib_width = {self.calib_width} central lines "
                f"(the autocalibration region ESPIRiT reads), got {int((centre[0] > 0).sum())} of them"
            )
        full = compress_coils(full, center_crop(full * mask, (self.calib_width, self.calib_width)), self.n_coils)
        y = full * mask
        maps = espirit_maps(y, calib_width=self.calib_width)
        x = (maps.conj() * ifft2c(full)).sum(0)
        scale = (maps.conj() * ifft2c(y)).sum(0).abs().max().clamp_min(1e-30)
        return {"y": y / scale, "x": x / scale, "maps": maps, "mask": mask}
