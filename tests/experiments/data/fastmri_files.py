"""Small multi-coil files in fastMRI's exact layout whose coil images are smooth coil maps times a phantom (as a
scanner's are), so that ESPIRiT finds the maps: what the fastMRI training tests read."""

import torch

from bridges.mri import birdcage_maps, fft2c
from experiments.data.fastmri import center_crop, rss
from experiments.data.fastmri_sense import crop_or_pad
from experiments.data.phantoms import mri_phantom
from tests.experiments.data.test_fastmri import header, write

READOUT, PHASE, RECON, COILS = 64, 36, 32, 6  # the readout 2x oversampled, as fastMRI's


def write_volume(path, n_slices: int = 2, seed: int = 0):
    """A volume of ``n_slices``: k-space (slices, coils, 64, 36), reconstruction_rss (slices, 32, 32), the header."""
    g = torch.Generator().manual_seed(seed)
    maps = birdcage_maps((READOUT, PHASE), COILS)
    images = torch.stack([crop_or_pad(mri_phantom((RECON, RECON), g), (READOUT, PHASE)) for _ in range(n_slices)])
    coil_images = maps * images[:, None]
    write(
        path,
        fft2c(coil_images).numpy(),
        center_crop(rss(coil_images), (RECON, RECON)).numpy(),
        xml=header(encoded=(READOUT, PHASE, 1), recon=(RECON, RECON, 1), center=PHASE // 2, maximum=PHASE - 1),
    )


def write_volumes(folder, n_volumes: int = 3):
    folder.mkdir(exist_ok=True)
    for k in range(n_volumes):
        write_volume(folder / f"file{1000 + k}.h5", seed=k)
    return folder
