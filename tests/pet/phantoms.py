"""Test images and scanners for the PET tests."""

import torch

from bridges import pet


def tiny_scanner():
    """A ring small enough for gradcheck's dense Jacobians: 8 x 8 image, 16 views of 15 bins."""
    return pet.PETScanner(
        ring_radius=60.0,
        crystals_per_ring=32,
        crystal_pitch=11.0,
        n_rings=2,
        ring_spacing=4.0,
        n_radial_bins=15,
        image_shape=(8, 8),
        pixel_size=7.0,
    )


def ellipse_phantom(scanner, lesion=3.0):
    """A water-like body ellipse (1) with a hot lesion, and its μ-map (0.0096 / mm in the body)."""
    ny, nx = scanner.image_shape
    yy, xx = torch.meshgrid(torch.arange(ny) - (ny - 1) / 2, torch.arange(nx) - (nx - 1) / 2, indexing="ij")
    body = ((yy / (0.32 * ny)) ** 2 + (xx / (0.4 * nx)) ** 2 < 1).float()
    hot = ((yy - 0.1 * ny) ** 2 + (xx + 0.12 * nx) ** 2 < (0.08 * nx) ** 2).float()
    return body + lesion * hot, 0.0096 * body


def normalization(scanner, seed=1):
    """Detector efficiencies uniform in [0.5, 1.5)."""
    g = torch.Generator().manual_seed(seed)
    return 0.5 + torch.rand(scanner.sinogram_shape, generator=g)


def cpu_and_cuda_models():
    """One SystemModel built twice, the second moved to CUDA, and 4 phantom slices (CPU): the Biograph mMR at 1/2
    (100² pixels, 126 views x 172 bins) with attenuation, normalisation, resolution and background, large
    enough that ASTRA's per-view geometry uploads stay small against the data."""
    scanner = pet.scanner("biograph-mmr", downsample=2)
    image, mu = ellipse_phantom(scanner)
    args = (scanner, mu, normalization(scanner), 0.5, 6.0)
    images = torch.stack([image * s for s in (1.0, 0.5, 2.0, 1.5)])
    return pet.SystemModel(*args), pet.SystemModel(*args).to("cuda"), images
