"""Coil maps: ESPIRiT recovers known smooth maps up to a common phase, agrees with SigPy's EspiritCalib (an
independent implementation of the same operator) and keeps its error against analytic maps; birdcage maps are
normalised."""

import numpy as np
import pytest
import torch

from bridges import mri
from bridges.mri import birdcage_maps, espirit_maps, fft2c
from tests.conftest import crandn


def test_recovers_true_maps(maps):
    y, x = torch.meshgrid(torch.linspace(-1, 1, 12), torch.linspace(-1, 1, 10), indexing="ij")
    image = ((y**2 + x**2) < 0.8).to(torch.complex64) * (1 + 0.3 * y)
    est = espirit_maps(fft2c(maps * image), calib_width=8, kernel_width=3, crop=0.8)
    assert est.shape == maps.shape and est.dtype == torch.complex64
    inside = (image.abs() > 0) & (est.abs().sum(0) > 0)
    alignment = (est.conj() * maps).sum(0).abs()[inside]  # |<s_est, s_true>| = 1 when equal up to phase
    assert inside.sum() > 0.5 * (image.abs() > 0).sum() and alignment.min() > 0.95


def smooth_problem(shape, coils, seed=0):
    """Smooth analytic maps (Gaussians with linear phases, Σ_c |S_c|² = 1), an ellipsoid object and the centred
    k-space of their product, in 2D or 3D."""
    g = torch.Generator().manual_seed(seed)
    axes = torch.meshgrid(*[torch.linspace(-1, 1, n) for n in shape], indexing="ij")
    centres, slopes = (torch.rand(coils, len(shape), generator=g) * 2 - 1 for _ in range(2))
    maps = torch.stack(
        [
            torch.exp(-sum((a - c) ** 2 for a, c in zip(axes, centre)) / 1.5)
            * torch.exp(1j * sum(a * k for a, k in zip(axes, slope)))
            for centre, slope in zip(centres, slopes)
        ]
    )
    maps = (maps / torch.linalg.vector_norm(maps, dim=0)).to(torch.complex64)
    image = (sum(a**2 for a in axes) < 0.7).to(torch.complex64) * (1 + 0.3 * axes[0])
    dims = tuple(range(-len(shape), 0))
    kspace = torch.fft.fftn(torch.fft.ifftshift(maps * image, dim=dims), dim=dims, norm="ortho")
    kspace = torch.fft.fftshift(kspace, dim=dims)
    return maps, image, kspace


def phase_aligned_error(est, maps, image):
    """‖est e^{iφ} - maps‖ / ‖maps‖ over the object's pixels, φ each pixel's best phase; and whether every
    object pixel is kept."""
    obj = image.abs() > 0
    e, m = est[:, obj].to(torch.complex128), maps[:, obj].to(torch.complex128)
    phase = (e.conj() * m).sum(0)
    phase = phase / phase.abs().clamp_min(1e-30)
    error = float(torch.linalg.vector_norm(e * phase - m) / torch.linalg.vector_norm(m))
    return error, bool((e.abs().sum(0) > 0).all())


@pytest.mark.parametrize(
    "shape, options",
    [((29, 26), dict(calib_width=16, kernel_width=5)), ((12, 11, 10), dict(calib_width=8, kernel_width=3, crop=0.9))],
)
def test_matches_sigpy_espiritcalib(shape, options):
    """SigPy's EspiritCalib (its SVD, per-kernel FFTs at the image size and 100 power iterations) is an
    independent reference: same support, and on the object the same maps (both take coil 0's phase) to
    float32 precision. Off the object the top eigenvalues can nearly tie and SigPy's power method stops short."""
    sigpy_app = pytest.importorskip("sigpy.mri.app")
    maps, image, kspace = smooth_problem(shape, 6)
    est = espirit_maps(kspace, **options)
    ref = torch.from_numpy(sigpy_app.EspiritCalib(kspace.numpy(), show_pbar=False, **options).run())
    assert est.shape == ref.shape and est.dtype == torch.complex64
    assert torch.equal(est.abs().sum(0) > 0, ref.abs().sum(0) > 0)
    obj = image.abs() > 0
    assert torch.linalg.vector_norm((est - ref)[:, obj]) < 1e-5 * torch.linalg.vector_norm(ref[:, obj])
    assert phase_aligned_error(est, maps, image)[0] < 0.02


def test_accuracy_against_analytic_maps():
    """The benchmark's problem (bench.mri --espirit): 8 birdcage coils, Shepp-Logan, 128², calibration 24, kernel 6.
    ESPIRiT's own model error (birdcage maps are not band-limited) is 4.79e-3, SigPy's figure as well;
    BART 0.8's ecalib gives 2.4e-2 and drops a tenth of the object."""
    sigpy = pytest.importorskip("sigpy")
    maps = birdcage_maps((128, 128), 8)
    image = torch.from_numpy(sigpy.shepp_logan((128, 128)).astype(np.complex64))
    est = espirit_maps(fft2c(maps * image))
    error, all_kept = phase_aligned_error(est, maps, image)
    assert all_kept and error < 4.9e-3
    support = est.abs().sum(0) > 0
    assert torch.allclose(est.abs().pow(2).sum(0)[support], torch.ones(()), atol=1e-5)  # Σ_c |S_c|² = 1
    assert torch.all(est[0][support].imag.abs() < 1e-6) and torch.all(est[0][support].real >= 0)  # coil 0's phase


def test_zero_calibration_gives_zero_maps_and_threads_are_restored():
    threads = torch.get_num_threads()
    assert torch.equal(
        espirit_maps(torch.zeros(4, 16, 16, dtype=torch.complex64), calib_width=8),
        torch.zeros(4, 16, 16, dtype=torch.complex64),
    )  # SigPy's power method gives NaN
    assert torch.get_num_threads() == threads


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_cuda_matches_cpu():
    maps, image, kspace = smooth_problem((40, 36), 8)
    cpu, gpu = espirit_maps(kspace, calib_width=20), espirit_maps(kspace.cuda(), calib_width=20)
    assert gpu.is_cuda and torch.equal(cpu.abs().sum(0) > 0, gpu.cpu().abs().sum(0) > 0)
    obj = image.abs() > 0
    assert torch.linalg.vector_norm((gpu.cpu() - cpu)[:, obj]) < 1e-5 * torch.linalg.vector_norm(cpu[:, obj])


def test_bad_input(maps):
    with pytest.raises(TypeError, match="expected k-space as a complex tensor"):
        espirit_maps(maps.abs())
    with pytest.raises(ValueError, match=r"expected calib_width <= the k-space size \(12, 10\), got 24"):
        espirit_maps(crandn(4, 12, 10))
    with pytest.raises(ValueError, match=r"expected k-space of shape \(coils, y, x\)"):
        espirit_maps(crandn(12, 10))


def test_birdcage_maps_have_unit_sum_of_squares():
    maps = birdcage_maps((24, 32), 8)
    assert maps.shape == (8, 24, 32) and maps.dtype == torch.complex64
    assert torch.allclose(maps.abs().pow(2).sum(0), torch.ones(24, 32), atol=1e-6)
    assert maps.abs().std(0).mean() > 0.01  # coils differ: not a trivial split


def test_normalised_maps_make_full_sense_an_isometry():
    maps = birdcage_maps((32, 32), 4)
    full = mri.CartesianSense(maps)
    x = crandn(32, 32)
    assert torch.allclose(full.H(full(x)), x, atol=1e-5)
    masked = mri.CartesianSense(maps, mri.mask_equispaced((32, 32), 4, 0.08))
    assert masked.norm() <= 1 + 1e-3


def test_birdcage_bad_input():
    with pytest.raises(ValueError, match="n_coils"):
        birdcage_maps((32, 32), 0)
    with pytest.raises(ValueError, match="radius"):
        birdcage_maps((32, 32), 4, radius=0.5)
