"""The system model: operator checks, attenuation against a closed form, resolution against SciPy,
multi-slice, subsets, and each bad input."""

import math
import re

import numpy as np
import pytest
import scipy.ndimage
import torch

from bridges import LinearOperator, pet
from bridges.testing import adjoint_error, check_least_squares_gradient, check_operator
from experiments.validation.ct import CUDA_CPU_TOL
from tests.conftest import assert_operator_on_gpu, rel
from tests.pet.phantoms import cpu_and_cuda_models, ellipse_phantom, normalization


@pytest.mark.parametrize("mode", ["arc", "exact"])
def test_tiny_model_passes_operator_checks(tiny, mode):
    """Adjoint, shapes, batching, linearity, gradcheck and gradgradcheck (float32 kernels, float64 input)."""
    _, mu = ellipse_phantom(tiny)
    model = pet.SystemModel(tiny, mu, normalization(tiny), background=2.0, resolution_fwhm=10.0, mode=mode)
    check_operator(model, adjoint_rtol=1e-6)
    check_least_squares_gradient(model, rtol=1e-5)


@pytest.mark.parametrize("mode", ["arc", "exact"])
def test_preset_adjoint_at_float32_precision(preset, mode):
    _, mu = ellipse_phantom(preset)
    model = pet.SystemModel(preset, mu, normalization(preset), resolution_fwhm=12.0, mode=mode)
    assert adjoint_error(model) < 1e-6
    assert adjoint_error(model.T) < 1e-6


def test_norm_matches_the_dense_matrix(tiny):
    _, mu = ellipse_phantom(tiny)
    model = pet.SystemModel(tiny, mu, normalization(tiny), resolution_fwhm=10.0)
    eye = torch.eye(math.prod(tiny.image_shape)).reshape(-1, *tiny.image_shape)
    dense = model(eye).reshape(len(eye), -1).T.double()
    assert math.isclose(model.norm(n_iter=200, rtol=1e-7), float(torch.linalg.matrix_norm(dense, 2)), rel_tol=1e-3)


def test_attenuation_of_a_uniform_disk_matches_exp_of_the_chord():
    """-log a(s) = μ 2 sqrt(ρ² - s²) for a disk of radius ρ: within 3 % of its peak (2.2 % measured on
    6.3 mm pixels) on lines that stay off the pixelised edge, |s| < 0.9 ρ."""
    preset = pet.scanner("biograph-mmr", downsample=3)
    ny, nx = preset.image_shape
    p, mu_water = preset.pixel_size, 0.0096
    yy, xx = np.meshgrid((np.arange(ny) - (ny - 1) / 2) * p, (np.arange(nx) - (nx - 1) / 2) * p, indexing="ij")
    rho = 0.4 * nx * p
    mu = torch.tensor(mu_water * (np.hypot(yy, xx) < rho), dtype=torch.float32)
    model = pet.SystemModel(preset, attenuation=mu)
    s = preset.radial_positions("arc")
    expected = mu_water * 2 * np.sqrt(np.clip(rho**2 - s**2, 0, None))
    got = -np.log(model.attenuation_factors.numpy())
    inside = np.abs(s) < 0.9 * rho
    assert np.abs(got[:, inside] - expected[inside]).max() < 0.03 * expected.max()
    # the same model built from the factors themselves
    again = pet.SystemModel(preset, attenuation=model.attenuation_factors)
    image, _ = ellipse_phantom(preset)
    torch.testing.assert_close(again(image), model(image))


def test_resolution_is_scipys_gaussian_filter(preset):
    """h * x with zero padding equals scipy.ndimage.gaussian_filter (σ = FWHM / 2.355, truncated at 3σ)."""
    sigma_px = 1.5
    fwhm = sigma_px * 2 * math.sqrt(2 * math.log(2)) * preset.pixel_size
    image, _ = ellipse_phantom(preset)
    image = image + torch.rand(image.shape, generator=torch.Generator().manual_seed(0))
    blurred = scipy.ndimage.gaussian_filter(image.double().numpy(), sigma_px, mode="constant", truncate=3.0)
    sharp = pet.SystemModel(preset)
    torch.testing.assert_close(
        pet.SystemModel(preset, resolution_fwhm=fwhm)(image),
        sharp(torch.tensor(blurred, dtype=torch.float32)),
        rtol=1e-5,
        atol=1e-4,
    )


def test_factors_and_background_enter_as_the_formula_says(preset):
    image, mu = ellipse_phantom(preset)
    n, s = normalization(preset), torch.full(preset.sinogram_shape, 3.0)
    model = pet.SystemModel(preset, mu, n, s)
    geometric = pet.SystemModel(preset)(image)
    a = torch.exp(-pet.SystemModel(preset)(mu))
    torch.testing.assert_close(model.expected(image), n * a * geometric + s)
    torch.testing.assert_close(model.background, s)
    torch.testing.assert_close(
        pet.SystemModel(preset, normalization=0.5, background=1.0).expected(image), 0.5 * geometric + 1.0
    )  # numbers are uniform sinograms
    assert isinstance(model, LinearOperator) and model.domain_shape == preset.image_shape


def test_slices_without_per_slice_inputs_are_batch_dimensions(preset):
    image, mu = ellipse_phantom(preset)
    model = pet.SystemModel(preset, mu)
    stack = torch.stack([image, 2 * image, image.flip(0)])
    out = model(stack)
    assert out.shape == (3, *preset.sinogram_shape)
    torch.testing.assert_close(out[2], model(image.flip(0)))


def test_per_slice_mu_map_makes_slices_part_of_the_spaces(preset):
    image, mu = ellipse_phantom(preset)
    mus = torch.stack([mu, 0.5 * mu, mu.flip(1)])
    bg = torch.stack([torch.full(preset.sinogram_shape, float(k)) for k in range(3)])
    model = pet.SystemModel(preset, mus, background=bg, resolution_fwhm=10.0)
    assert model.domain_shape == (3, *preset.image_shape) and model.range_shape == (3, *preset.sinogram_shape)
    slices = torch.stack([image, image.flip(0), 2 * image])
    out = model.expected(slices.expand(2, -1, -1, -1))  # a batch of two 3-slice volumes
    for k in range(3):
        single = pet.SystemModel(preset, mus[k], background=bg[k], resolution_fwhm=10.0)
        torch.testing.assert_close(out[1, k], single.expected(slices[k]))
    assert adjoint_error(model) < 1e-6


def test_with_attenuation_per_item_equals_each_items_own_model(preset):
    """A batch's μ-maps (B, y, x) make one per-item model, equal to the B models built one by one."""
    image, mu = ellipse_phantom(preset)
    norm = normalization(preset)
    base = pet.SystemModel(preset, normalization=norm, background=2.0, resolution_fwhm=10.0)
    mus = torch.stack([mu, 0.5 * mu.flip(0)])
    batch = base.with_attenuation(mus)
    assert (base.item_axes, batch.item_axes) == (0, 1) and batch.domain_shape == (2, *preset.image_shape)
    images, counts = torch.stack([image, image.flip(1)]), batch.expected(torch.stack([image, image.flip(1)]))
    for k in range(2):
        own = pet.SystemModel(preset, mus[k], norm, 2.0, resolution_fwhm=10.0)
        torch.testing.assert_close(counts[k], own.expected(images[k]))
        torch.testing.assert_close(batch.adjoint(counts)[k], own.adjoint(counts[k]))
    assert batch.projector is base.projector  # ASTRA set up once for every batch's model
    with pytest.raises(ValueError, match="projector of this scanner's 'exact' geometry"):
        pet.SystemModel(preset, mode="exact", projector=base.projector)


@pytest.mark.parametrize("extra", [(2, 3), ()], ids=["4-D mu", "3-D mu, wrong size"])
def test_with_attenuation_of_a_wrong_shape_names_what_came_and_both_expected_shapes(preset, extra):
    """A 4-D μ-map was told "factors of shape (33, 33)": the image's shape given as the sinogram's."""
    image, sino = preset.image_shape, preset.sinogram_shape
    mu = torch.zeros(*extra, *image) if extra else torch.zeros(3, image[0], image[1] + 1)
    expected = (
        rf"expected attenuation as a μ-map of shape {re.escape(str(image))} or factors of shape "
        rf"{re.escape(str(sino))} \(optionally with a leading slice or item axis\), got "
        rf"{re.escape(str(tuple(mu.shape)))}"
    )
    base = pet.SystemModel(preset, background=2.0)
    with pytest.raises(ValueError, match=expected):
        base.with_attenuation(mu)
    with pytest.raises(ValueError, match=expected):
        pet.SystemModel(preset, mu)


@pytest.mark.parametrize("mode", ["arc", "exact"])
def test_subset_is_the_model_on_those_views(preset, mode):
    image, mu = ellipse_phantom(preset)
    model = pet.SystemModel(preset, mu, normalization(preset), background=1.0, mode=mode)
    sub = model.subset(slice(2, None, 3))
    torch.testing.assert_close(sub.expected(image), model.expected(image)[2::3])
    torch.testing.assert_close(sub.subset([0, 1])(image), model(image)[[2, 5]])


def test_osem_subsets_whose_sinogram_has_the_images_shape():
    """A subset of 8 views x 8 bins on an 8 x 8 image is not mistaken for a model given a μ-map."""
    scanner = pet.PETScanner(
        ring_radius=100.0,
        crystals_per_ring=64,
        crystal_pitch=4.0,
        n_rings=1,
        ring_spacing=4.0,
        n_radial_bins=8,
        image_shape=(8, 8),
        pixel_size=3.0,
        bin_size=4.0,
    )
    model = pet.SystemModel(scanner, background=0.1)
    counts = model.expected(torch.ones(8, 8))
    x = pet.osem(model, counts, 1, n_subsets=4)
    assert x.shape == (8, 8) and torch.isfinite(x).all()
    torch.testing.assert_close(model.subset(slice(0, None, 4))(torch.ones(8, 8)), model(torch.ones(8, 8))[::4])


def test_autograd_through_expected(tiny):
    """The affine model is differentiable: d/dx Σ w·(A x + s) = A^T w."""
    model = pet.SystemModel(tiny, background=1.0)
    x = torch.rand(tiny.image_shape, dtype=torch.float64, requires_grad=True)
    w = torch.rand(tiny.sinogram_shape, dtype=torch.float64)
    (model.expected(x) * w).sum().backward()
    torch.testing.assert_close(x.grad, model.adjoint(w))


def test_bad_inputs_raise_clear_errors(preset):
    image_shape, sino = preset.image_shape, preset.sinogram_shape
    with pytest.raises(ValueError, match=r"μ-map of shape .* or factors of shape .* got \(7, 7\)"):
        pet.SystemModel(preset, torch.zeros(7, 7))
    with pytest.raises(ValueError, match="attenuation .*non-negative"):
        pet.SystemModel(preset, -0.01 * torch.ones(image_shape))
    with pytest.raises(ValueError, match="background must be non-negative, got a minimum of -1"):
        pet.SystemModel(preset, background=-torch.ones(sino))
    with pytest.raises(ValueError, match="background must be non-negative"):
        pet.SystemModel(preset, background=-2.0)
    with pytest.raises(ValueError, match=r"expected background of shape"):
        pet.SystemModel(preset, background=torch.ones(sino[0] + 1, sino[1]))
    with pytest.raises(ValueError, match="normalization must be non-negative"):
        pet.SystemModel(preset, normalization=-torch.ones(sino))
    with pytest.raises(ValueError, match="not their inverse"):
        pet.SystemModel(preset, 2 * torch.ones(sino))
    with pytest.raises(ValueError, match="disagree on the number of slices"):
        pet.SystemModel(preset, torch.zeros(2, *image_shape), background=torch.ones(3, *sino))
    with pytest.raises(ValueError, match="finite"):
        pet.SystemModel(preset, torch.full(image_shape, float("nan")))
    with pytest.raises(ValueError, match="resolution_fwhm"):
        pet.SystemModel(preset, resolution_fwhm=-3.0)
    with pytest.raises(ValueError, match="n_threads must be a positive integer, or None .*got -1"):
        pet.SystemModel(preset, n_threads=-1)  # returned NaNs
    with pytest.raises(TypeError, match="PETScanner"):
        pet.SystemModel(object())
    with pytest.raises(ValueError, match=r"expected input of shape"):
        pet.SystemModel(preset)(torch.zeros(5, 5))


def test_kept_osem_subsets_stay_while_the_model_stays_on_its_device(preset):
    """`subsets` keeps its parts (one ASTRA set-up each) across calls and a ``.to()`` to the device it is on."""
    model = pet.SystemModel(preset, background=0.5, resolution_fwhm=10.0)
    parts = model.subsets(3)
    assert model.subsets(3) is parts
    model.to("cpu")
    assert model.subsets(3) is parts


@pytest.mark.cuda
def test_model_moved_to_cuda_computes_the_cpu_results_there():
    """Within CUDA_CPU_TOL: the factors are the same numbers (made on the CPU, then moved), but the projectors are
    ASTRA's CUDA and CPU ones (experiments/validation/ct.py)."""
    cpu, gpu, x = cpu_and_cuda_models()
    assert gpu.device.type == "cuda" and all(b.is_cuda for b in gpu.buffers())
    assert_operator_on_gpu(
        cpu, gpu, x, cpu(x), CUDA_CPU_TOL, astra=lambda xg, yg: (gpu.projector(xg), gpu.projector.adjoint(yg))
    )


@pytest.mark.cuda
def test_model_built_from_cuda_inputs_and_its_subsets_live_on_cuda():
    """A μ-map on the GPU is projected there; every buffer joins it, the blur kernel and the uniform factors too,
    and so do the subsets cut from it, and the kept subsets of a model moved there are cut again there."""
    scanner = pet.scanner("biograph-mmr", downsample=2)
    _, mu = ellipse_phantom(scanner)
    cpu = pet.SystemModel(scanner, mu, background=0.5, resolution_fwhm=6.0)
    gpu = pet.SystemModel(scanner, mu.cuda(), background=0.5, resolution_fwhm=6.0)
    assert all(b.is_cuda for b in gpu.buffers()) and all(b.is_cuda for b in gpu.subset(slice(0, None, 7)).buffers())
    assert rel(gpu.attenuation_factors, cpu.attenuation_factors) < CUDA_CPU_TOL
    parts = cpu.subsets(3)
    cpu.to("cuda")
    moved = cpu.subsets(3)
    assert moved is not parts and all(b.is_cuda for part in moved for b in part.buffers())
    counts = cpu.expected(torch.ones(cpu.domain_shape, device="cuda"))
    assert rel(pet.osem(cpu, counts, 1, n_subsets=3), pet.osem(gpu, counts, 1, n_subsets=3)) < CUDA_CPU_TOL
