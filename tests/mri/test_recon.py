"""Reconstructions: CG-SENSE equal to SigPy's SenseRecon, gridding with DCF, L1-wavelet through SigPy."""

import pytest
import sigpy as sp
import sigpy.mri
import torch

from bridges.mri import (
    NUFFT,
    CartesianSense,
    Sense,
    cg_sense,
    density_compensation,
    l1_wavelet,
    mask_equispaced,
    radial,
    zero_filled,
)
from tests.conftest import assert_gpu_resident, crandn, rel


@pytest.fixture
def phantom():
    y, x = torch.meshgrid(torch.linspace(-1, 1, 12), torch.linspace(-1, 1, 10), indexing="ij")
    return (((y / 0.8) ** 2 + (x / 0.6) ** 2) < 1).to(torch.complex64) * (1 + 0.5j * x)


# 10 iterations: short of convergence to rounding level, where float32 CG (SigPy's too) drifts apart
@pytest.mark.parametrize("lam", [0.0, 0.01])
def test_cg_sense_equals_sigpy_sense_recon_cartesian(maps, phantom, lam):
    mask = mask_equispaced((12, 10), 2, 0.2)
    A = CartesianSense(maps, mask)
    y = A(phantom) + 0.01 * crandn(4, 12, 10) * mask
    ref = sp.mri.app.SenseRecon(y.numpy(), maps.numpy(), lamda=lam, max_iter=10, show_pbar=False).run()
    assert rel(cg_sense(A, y, 10, lam=lam), ref) < 1e-3


def test_cg_sense_equals_sigpy_sense_recon_radial(maps, phantom):
    coords = radial(16, 12, (12, 10))
    # SigPy's SenseRecon iterates with its own A^H A at gridding defaults (7e-3 from the exact NDFT); the Toeplitz
    # gram is the exact NDFT's, so the same iteration needs A^H A (tests/mri/test_toeplitz.py compares the two)
    A = Sense(maps, coords, backend="sigpy", oversamp=1.25, width=4, toeplitz=False)  # SigPy's defaults, as its app
    y = A(phantom)
    # 8 iterations: on this ill-conditioned radial problem float32 rounding is amplified near iteration 10, where
    # SigPy's float32 run is 4e-4 and ours 1e-3 from SigPy's float64 one (measured)
    ref = sp.mri.app.SenseRecon(y.numpy(), maps.numpy(), coord=coords.numpy(), max_iter=8, show_pbar=False).run()
    assert rel(cg_sense(A, y, 8), ref) < 1e-4  # measured 3.8e-5


def test_cg_sense_batches_and_converges(maps, phantom):
    A = CartesianSense(maps)  # fully sampled: A^H A = I, so one step solves it
    xs = torch.stack([phantom, 2 * phantom.conj()])
    assert rel(cg_sense(A, A(xs), 3), xs) < 1e-5
    assert rel(cg_sense(A, A(xs[0]) * 0, 3), xs[0]) == 1.0  # zero data: no NaN, zero image
    k = A(xs)
    with pytest.raises(ValueError, match="expected"):  # same size, other layout: no silent reshape
        cg_sense(A, k.transpose(-1, -3).contiguous() if k.shape[-1] != k.shape[-3] else k[..., :-1, :], 3)


def test_gridding_with_density_compensation_beats_plain_adjoint():
    n = 32
    coords = radial(64, 32, (n, n))
    A = NUFFT((n, n), coords)
    y_, x_ = torch.meshgrid(torch.linspace(-1, 1, n), torch.linspace(-1, 1, n), indexing="ij")
    truth = ((y_**2 + x_**2) < 0.5).to(torch.complex64)
    dcf = density_compensation(coords, (n, n))
    assert dcf.shape == coords.shape[:-1] and dcf.dtype == torch.float32

    def error(x):  # after the best complex scaling, so only the shape of the image counts
        scale = torch.vdot(x.reshape(-1), truth.reshape(-1)) / torch.vdot(x.reshape(-1), x.reshape(-1))
        return rel(scale * x, truth)

    assert error(zero_filled(A, A(truth), dcf)) < 0.5 * error(zero_filled(A, A(truth)))


def test_l1_wavelet_is_sigpys_and_fits_the_data(maps, phantom):
    mask = mask_equispaced((12, 10), 2, 0.2)
    A = CartesianSense(maps, mask)
    y = A(torch.stack([phantom, phantom]))
    got = l1_wavelet(A, y, 30, lam=1e-3, wave_name="haar")
    ref = sp.mri.app.L1WaveletRecon(
        y[0].numpy(), maps.numpy(), 1e-3, weights=mask.numpy(), wave_name="haar", max_iter=30, show_pbar=False
    ).run()
    assert got.shape == (2, 12, 10) and rel(got[1], ref) < 1e-5
    assert rel(A(got[0]), y[0]) < rel(A(zero_filled(A, y[0])), y[0])


def test_l1_wavelet_on_a_radial_sense_operator_is_sigpys(maps, phantom):
    coords = radial(16, 12, (12, 10))
    A = Sense(maps, coords)
    y = A(phantom)
    ref = sp.mri.app.L1WaveletRecon(
        y.numpy(), maps.numpy(), 1e-3, coord=coords.numpy(), wave_name="haar", max_iter=20, show_pbar=False
    ).run()
    assert rel(l1_wavelet(A, y, 20, lam=1e-3, wave_name="haar"), ref) < 1e-4


def test_l1_wavelet_bad_input(maps):
    with pytest.raises(ValueError, match=r"expected k-space of shape \(\.\.\., 4, 12, 10\), got \(3, 12, 10\)"):
        l1_wavelet(CartesianSense(maps), crandn(3, 12, 10), 5, lam=1e-3)
    with pytest.raises(TypeError, match="expects a bridges.mri.CartesianSense or Sense, got NUFFT"):
        l1_wavelet(NUFFT((12, 10), radial(4, 6, (12, 10))), crandn(4, 6), 5, lam=1e-3)


@pytest.mark.cuda
def test_density_compensation_of_cuda_coordinates_is_computed_there():
    """SigPy's Pipe-Menon iteration on CuPy: within 1e-3 of the CPU's (float32 gridding adds in another order on
    the GPU, over 30 multiplicative iterations; a wrong device or copy is off by far more)."""
    coords = radial(64, 256, (128, 128))
    cpu = density_compensation(coords, (128, 128))
    cg = coords.cuda()
    gpu = assert_gpu_resident(density_compensation, cg, (128, 128), data_bytes=cg.nbytes + cpu.nbytes)
    assert gpu.is_cuda and rel(gpu, cpu) < 1e-3


@pytest.mark.cuda
def test_l1_wavelet_of_cuda_kspace_returns_the_cpus_result_there(maps, phantom):
    """No copy test: SigPy's wavelet transform is PyWavelets on the host, so each iteration takes the image
    there and back (bridges/mri/recon.py). The rest runs on the GPU; within 1e-4 of the CPU run (float32)."""
    A = CartesianSense(maps, mask_equispaced((12, 10), 2, 0.2))
    y = A(torch.stack([phantom, phantom]))
    got = l1_wavelet(A.to("cuda"), y.cuda(), 20, lam=1e-3, wave_name="haar")
    ref = l1_wavelet(CartesianSense(maps, mask_equispaced((12, 10), 2, 0.2)), y, 20, lam=1e-3, wave_name="haar")
    assert got.is_cuda and rel(got, ref) < 1e-4


def test_per_item_operator_solves_each_item_as_its_own_problem(maps, phantom):
    """CG-SENSE and L1-wavelet on a per-item operator equal the solvers on each item's operator: each item keeps
    its own CG steps (not one CG on the stacked system) and its own SigPy problem."""
    item_maps = torch.stack([maps, maps.roll(3, dims=-1)])
    masks = torch.stack([mask_equispaced((12, 10), 2, 0.2), mask_equispaced((12, 10), 3, 0.2)])
    A = CartesianSense(item_maps, masks)
    images = torch.stack([phantom, 2 * phantom.flip(0)])
    y = A(images) + 0.01 * crandn(2, 4, 12, 10) * masks[:, None]
    singles = [CartesianSense(item_maps[i], masks[i]) for i in range(2)]
    together = cg_sense(A, y, 6, lam=0.01)
    wavelet = l1_wavelet(A, y, 10, lam=1e-3)
    for i, single in enumerate(singles):
        assert rel(together[i], cg_sense(single, y[i], 6, lam=0.01)) < 1e-5
        assert rel(wavelet[i], l1_wavelet(single, y[i], 10, lam=1e-3)) < 1e-5
