"""bridges.deepinv: our operators as deepinv physics and back, checked with deepinv's own tools and ours.

Runs where deepinv imports (CI's second environment, docs/deepinv.md); skipped elsewhere. The measured figures
that docs/deepinv.md quotes print with ``pytest tests/deepinv -s``.
"""

import pytest
import torch

deepinv = pytest.importorskip("deepinv")

from bridges import MatrixOperator, ct, solvers  # noqa: E402
from bridges.deepinv import from_channels, from_physics, to_channels, to_physics  # noqa: E402
from bridges.mri import CartesianSense, mask_equispaced  # noqa: E402
from bridges.testing import check_operator  # noqa: E402
from experiments.data.phantoms import shepp_logan  # noqa: E402
from tests.conftest import crandn, rel  # noqa: E402


def tiny_ct(n=8):
    return ct.Projector(ct.ParallelBeam2D(angles=6, n_detectors=2 * n + 1, detector_spacing=1.0, image_shape=(n, n)))


def scanner_ct():
    """The Siemens Definition AS fan beam (bridges.ct.scanner), scaled down: 64 views, 92 channels, 64² pixels."""
    return ct.Projector(ct.scanner("siemens-definition-as", view_step=36, detector_binning=8, image_shape=(64, 64)))


def sense(n=16, coils=4):
    maps = crandn(coils, n, n, seed=1)
    maps = maps / torch.linalg.vector_norm(maps, dim=0, keepdim=True)
    return CartesianSense(maps, mask_equispaced((n, n), 2, 0.25))


def test_shapes_forward_adjoint_and_noise():
    A = scanner_ct()
    g = torch.Generator().manual_seed(0)
    physics = to_physics(A, noise=deepinv.physics.GaussianNoise(0.1, rng=g))
    x = torch.rand(2, 1, 64, 64, generator=torch.Generator().manual_seed(1))
    y = physics.A(x)
    assert y.shape == (2, 1, 64, 92)
    assert torch.equal(y, A(x))
    assert torch.equal(physics.A_adjoint(y), A.T(y))
    noise = physics(x) - y  # deepinv's noise model on top of A x
    assert abs(float(noise.std()) - 0.1) < 0.005
    # a real operator takes deepinv's channels as batch items
    rgb = torch.rand(2, 3, 64, 64)
    assert torch.equal(physics.A(rgb)[:, 2], A(rgb[:, 2]))
    assert physics.img_size == (1, 64, 64)


def test_adjointness_test_deepinv():
    """deepinv's Monte Carlo adjoint test on to_physics of a float64 matrix, a CT projector, a SENSE operator."""
    torch.manual_seed(0)  # adjointness_test draws from the global generator
    matrix = to_physics(MatrixOperator(torch.randn(7, 5, dtype=torch.float64)))
    figures = {
        "matrix float64": float(matrix.adjointness_test(torch.zeros(1, 1, 5, dtype=torch.float64), num_samples=8)),
        # float64 input, float32 kernels: the projector computes in single precision
        "ct float32": float(to_physics(tiny_ct(16)).adjointness_test(torch.zeros(1, 1, 16, 16, dtype=torch.float64))),
        "sense complex64": float(to_physics(sense()).adjointness_test(torch.zeros(1, 2, 16, 16))),
    }
    print("\nadjointness_test:", {k: f"{v:.1e}" for k, v in figures.items()})
    assert figures["matrix float64"] < 1e-12
    assert figures["ct float32"] < 1e-5
    assert figures["sense complex64"] < 1e-5


def test_compute_norm_equals_ours():
    A = scanner_ct()
    physics = to_physics(A)
    theirs = float(physics.compute_norm(torch.zeros(1, 1, 64, 64), squared=False, verbose=False, tol=1e-6))
    ours = A.norm(n_iter=200, rtol=1e-7, recompute=True)
    print(f"\n||A||: deepinv compute_norm {theirs:.3f}, LinearOperator.norm {ours:.3f}")
    assert abs(theirs - ours) < 1e-3 * ours


def test_round_trip_ct():
    A = scanner_ct()
    B = from_physics(to_physics(A), A.domain_shape)
    assert (B.domain_shape, B.range_shape, B.domain_dtype) == (A.domain_shape, A.range_shape, A.domain_dtype)
    x, y = torch.rand(3, 64, 64), torch.rand(3, 64, 92)
    assert torch.equal(B(x), A(x))
    assert torch.equal(B.T(y), A.T(y))


def test_check_operator_on_deepinv_blur():
    """Our full operator check (adjoint, shapes, batching, linearity, gradcheck, jvp, vmap, jacrev, torch.compile) on
    deepinv's Blur in float64 with 'valid' padding (the range found by applying it once)."""
    kernel = torch.rand(1, 1, 3, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    B = from_physics(deepinv.physics.Blur(kernel / kernel.sum(), padding="valid"), (8, 8), dtype=torch.float64)
    assert B.range_shape == (6, 6)
    figures = check_operator(B)
    print("\ncheck_operator(from_physics(Blur)):", {k: v for k, v in figures.items() if isinstance(v, float)})
    assert figures["adjoint_error"] < 1e-12


def test_from_physics_inpainting_and_solvers():
    mask = (torch.rand(1, 16, 16, generator=torch.Generator().manual_seed(0)) > 0.5).float()
    P = deepinv.physics.Inpainting(img_size=(1, 16, 16), mask=mask)
    M = from_physics(P, (16, 16))
    check_operator(M, gradcheck=False, transforms=False)
    x = torch.rand(16, 16)
    # CGLS of bridges.solvers on deepinv's operator: the sampled pixels back, exactly
    out = solvers.cgls(M, M(x), 5)
    assert torch.allclose(out * mask[0], x * mask[0], atol=1e-6)


def test_autograd_through_physics():
    """gradcheck and gradgradcheck of to_physics(A).A and .A_adjoint in float64 on a tiny CT projector (float32
    kernels: atol 1e-5 ||A||, as bridges.testing.check_autograd), and exactly on a float64 matrix."""
    A = tiny_ct(4)
    physics = to_physics(A)
    kw = dict(eps=1.0, atol=1e-5 * A.norm(), rtol=1e-5)
    x = torch.randn(1, 1, 4, 4, dtype=torch.float64, requires_grad=True)
    y = torch.randn(1, 1, 6, 9, dtype=torch.float64, requires_grad=True)
    for fn, v in ((physics.A, x), (physics.A_adjoint, y)):
        assert torch.autograd.gradcheck(fn, (v,), **kw)
        assert torch.autograd.gradgradcheck(fn, (v,), **kw)
    exact = to_physics(MatrixOperator(torch.randn(4, 3, dtype=torch.float64)))
    assert torch.autograd.gradcheck(exact.A, (torch.randn(2, 1, 3, dtype=torch.float64, requires_grad=True),))
    # the gradient of deepinv's L2 data fidelity through our bridge is A^T (A x - y)
    x = torch.randn(2, 1, 4, 4, requires_grad=True)
    target = torch.randn(2, 1, 6, 9)
    deepinv.optim.L2()(x, target, physics).sum().backward()
    assert rel(x.grad, A.T(A(x.detach()) - target)) < 1e-6


def test_mri_complex_channels():
    """A complex operator meets deepinv on two real channels, deepinv's MRI layout: round trips, and equality with
    deepinv's own MRI and MultiCoilMRI on the same mask and maps."""
    A = sense()
    physics = to_physics(A)
    z = crandn(3, 16, 16, seed=2)
    x = to_channels(z, 2)
    assert x.shape == (3, 2, 16, 16) and torch.equal(from_channels(x, 2, True), z)
    y = physics.A(x)
    assert y.shape == (3, 2, 4, 16, 16)
    assert torch.equal(from_channels(y, 3, True), A(z))
    assert torch.equal(from_channels(physics.A_adjoint(y), 2, True), A.H(A(z)))
    B = from_physics(physics, (16, 16), dtype=torch.complex64)
    assert B.range_shape == (4, 16, 16) and B.range_dtype == torch.complex64
    k = crandn(3, 4, 16, 16, seed=3)
    assert rel(B(z), A(z)) < 1e-6 and rel(B.H(k), A.H(k)) < 1e-6

    # deepinv's MultiCoilMRI on our maps and mask is our operator: the same centred orthonormal FFT
    theirs = deepinv.physics.MultiCoilMRI(mask=A.mask.expand(16, 16), coil_maps=A.maps)
    errors = (rel(theirs.A(x), y), rel(theirs.A_adjoint(y), physics.A_adjoint(y)))
    print(f"\nMultiCoilMRI vs to_physics(CartesianSense): forward {errors[0]:.1e}, adjoint {errors[1]:.1e}")
    assert max(errors) < 1e-5
    # and deepinv's single-coil MRI as an operator is our single-coil CartesianSense
    mask = A.mask.expand(16, 16)
    single = from_physics(deepinv.physics.MRI(mask=mask), (16, 16), dtype=torch.complex64)
    assert rel(single(z), CartesianSense(mask=mask)(z)) < 1e-5
    check_operator(single, gradcheck=False, transforms=False)


def test_channel_errors():
    physics = to_physics(sense())
    with pytest.raises(ValueError, match="2 channels"):
        physics.A(torch.rand(1, 1, 16, 16))
    with pytest.raises(TypeError, match="LinearOperator"):
        to_physics(torch.eye(3))
    with pytest.raises(TypeError, match="LinearPhysics"):
        from_physics(tiny_ct(), (8, 8))
    with pytest.raises(ValueError, match="2 channels"):
        from_physics(to_physics(sense()), (16, 16))  # a complex physics read as real: 2 channels, not 1
    with pytest.raises(ValueError, match="channel_axis=False"):
        from_physics(deepinv.physics.Blur(torch.ones(1, 3, 3, 3) / 27, padding="circular"), (8, 8))


def psnr(estimate, truth) -> float:
    """PSNR in dB with the phantom's peak as the signal."""
    return float(10 * torch.log10(truth.max() ** 2 / (estimate - truth).pow(2).mean()))


def test_deepinv_tv_reconstruction_on_scanner_geometry():
    """deepinv's FISTA (accelerated proximal gradient) with its TVPrior on the Siemens Definition AS fan beam
    (64 views, 92 channels, 64² pixels of 7.8 mm) and Gaussian noise σ = 0.1 on line integrals of at most 2.7:
    better than FBP and the best early-stopped CGLS, and the same image as bridges.solvers.tv_pdhg on the same
    objective ½‖Ax − y‖² + λ TV(x) (unit spacing, isotropic TV)."""
    torch.manual_seed(0)
    A = scanner_ct()
    truth = shepp_logan((64, 64))[None, None]  # (1, 1, 64, 64), 1/mm
    physics = to_physics(A, noise=deepinv.physics.GaussianNoise(0.1, rng=torch.Generator().manual_seed(0)))
    y = physics(truth)
    baselines = {f"fbp {f}": psnr(ct.fbp(A, y, filter_type=f), truth) for f in ("ram-lak", "hann")}
    cgls = []
    solvers.cgls(A, y, 20, callback=lambda k, x: cgls.append(psnr(x, truth)))
    baselines["cgls best of 20"] = max(cgls)

    lam, x0 = 4.0, ct.fbp(A, y, filter_type="hann")
    model = deepinv.optim.optim_builder(
        "FISTA",
        max_iter=100,
        params_algo={"stepsize": 1 / A.norm() ** 2, "lambda": lam, "a": 3},
        data_fidelity=deepinv.optim.L2(),
        prior=deepinv.optim.TVPrior(n_it_max=100),
        custom_init=lambda y, physics: (x0.clone(), x0.clone()),
    )
    with torch.no_grad():
        x_deepinv = model(y, physics)
    x_ours = solvers.tv_pdhg(A, y, 400, lam=lam, step_ratio=0.03, x0=x0)
    tv_deepinv, tv_ours = psnr(x_deepinv, truth), psnr(x_ours, truth)
    difference = rel(x_deepinv, x_ours)
    print(
        "\nPSNR (dB):",
        {k: round(v, 2) for k, v in baselines.items()},
        f"deepinv FISTA+TV {tv_deepinv:.2f}, bridges tv_pdhg {tv_ours:.2f}, images differ by {difference:.2%}",
    )
    best = max(baselines.values())
    assert tv_deepinv > best + 5.0  # measured 28.89 dB against CGLS's 21.5 dB: +7.4 dB
    assert abs(tv_deepinv - tv_ours) < 0.5  # measured 0.06 dB
    assert difference < 0.03  # measured 0.9 %
