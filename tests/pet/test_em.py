"""MLEM against ODL's odl.solvers.mlem, OSEM, count conservation, the EM step as a layer, bad input."""

import math

import numpy as np
import odl
import pytest
import torch
from odl.applications import tomo

from bridges import pet
from tests.pet.phantoms import ellipse_phantom, normalization


def odl_operator(scanner, factors):
    """ODL's own ray transform (astra_cpu) on the arc-corrected geometry, times the same factors.

    ODL indexes images (x, y), so its arrays are ours transposed; its uniform angle partition is shifted
    half a step so that its angles are ours exactly. An odd number of radial bins puts the central bin
    at 0 without a detector offset (ODL's astra_cpu parallel-beam path ignores a shifted detector partition).
    """
    (ny, nx), p = scanner.image_shape, scanner.pixel_size
    (V, K), b = scanner.sinogram_shape, scanner.bin_size
    assert K % 2 == 1
    space = odl.uniform_discr([-nx * p / 2, -ny * p / 2], [nx * p / 2, ny * p / 2], (nx, ny), dtype="float32")
    step = math.pi / V
    geometry = tomo.Parallel2dGeometry(
        odl.uniform_partition(-step / 2, math.pi - step / 2, V), odl.uniform_partition(-K * b / 2, K * b / 2, K)
    )
    np.testing.assert_allclose(geometry.angles, scanner.view_angles, atol=1e-12)
    ray = tomo.RayTransform(space, geometry, impl="astra_cpu")
    weights = odl.MultiplyOperator(ray.range.element(factors.numpy()), domain=ray.range, range=ray.range)
    return weights * ray


@pytest.fixture
def problem():
    """Discovery 690 at 1/8 (odd bin count), attenuation and normalisation, 5e4 counts, no background."""
    scanner = pet.scanner("discovery-690", downsample=8)
    image, mu = ellipse_phantom(scanner)
    model = pet.SystemModel(scanner, mu, normalization(scanner))
    y = pet.simulate(model, image, 5e4, generator=torch.Generator().manual_seed(0)).prompts
    return scanner, model, y


def test_mlem_equals_odl_after_20_iterations(problem):
    scanner, model, y = problem
    op = odl_operator(scanner, model.factors)
    image, _ = ellipse_phantom(scanner)
    ours_fp = model(image).numpy()
    assert np.abs(op(image.numpy().T).data - ours_fp).max() < 1e-4 * np.abs(ours_fp).max()
    x = op.domain.one()
    odl.solvers.mlem(op, x, op.range.element(y.numpy()), 20)
    ours = pet.mlem(model, y, 20).numpy()
    assert np.linalg.norm(x.data.T - ours) < 1e-3 * np.linalg.norm(ours)  # 3e-6 measured


def test_osem_with_one_subset_equals_mlem(problem):
    _, model, y = problem
    model = pet.SystemModel(
        model.scanner, model.attenuation_factors, model.normalization, background=0.2, resolution_fwhm=15.0
    )
    torch.testing.assert_close(pet.osem(model, y, 5, n_subsets=1), pet.mlem(model, y, 5), rtol=1e-6, atol=1e-6)


def test_em_conserves_counts_without_background(problem):
    """MLEM without background and with sensitivity A^T 1: Σ_i (A x_k)_i = Σ_i y_i after every iteration
    k ≥ 1 (to 1e-4 relative in float32), since Σ A x⁺ = Σ_j x_j [A^T(y / A x)]_j = Σ_i y_i. Checked with
    attenuation, normalisation and resolution modelling, in both sinogram modes."""
    scanner, model, y = problem
    totals = []
    for mode in ("arc", "exact"):
        m = pet.SystemModel(
            scanner,
            model.attenuation_factors if mode == "arc" else ellipse_phantom(scanner)[1],
            model.normalization,
            resolution_fwhm=20.0,
            mode=mode,
        )
        pet.mlem(m, y, 10, callback=lambda k, x, m=m: totals.append(float(m(x).double().sum())))
    np.testing.assert_allclose(totals, float(y.sum()), rtol=1e-4)
    assert len(totals) == 20


def test_em_with_background_decreases_the_nll_and_osem_gets_there_sooner(problem):
    scanner, model, _ = problem
    image, mu = ellipse_phantom(scanner)
    data = pet.simulate(model, image, 5e4, 0.2, 0.3, generator=torch.Generator().manual_seed(1))
    recon = pet.SystemModel(scanner, mu, model.normalization, background=data.background)
    nll = []
    pet.mlem(
        recon,
        data.prompts,
        8,
        callback=lambda k, x: nll.append(float(pet.poisson_nll(recon.expected(x), data.prompts))),
    )
    assert all(b <= a + 1e-3 * abs(a) for a, b in zip(nll, nll[1:]))
    osem = pet.osem(recon, data.prompts, 2, n_subsets=scanner.n_views // 6)
    assert float(pet.poisson_nll(recon.expected(osem), data.prompts)) < nll[1]


def test_multi_slice_em_is_slice_by_slice(problem):
    scanner, model, y = problem
    image, mu = ellipse_phantom(scanner)
    mus = torch.stack([mu, 0.5 * mu])
    stacked = pet.SystemModel(scanner, mus)
    ys = torch.stack([y, y.flip(-1)])
    x = pet.osem(stacked, ys, 3, n_subsets=2)
    for k in range(2):
        torch.testing.assert_close(
            x[k], pet.osem(pet.SystemModel(scanner, mus[k]), ys[k], 3, n_subsets=2), rtol=1e-5, atol=1e-6
        )


def test_em_step_is_a_differentiable_layer(tiny):
    """gradcheck of two unrolled EM steps in x (float32 kernels: a large step, loose tolerance)."""
    image, mu = ellipse_phantom(tiny)
    model = pet.SystemModel(tiny, mu, background=0.5)
    y = torch.poisson(model.expected(image * 20), generator=torch.Generator().manual_seed(0))
    x = 1 + torch.rand(tiny.image_shape, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    two_steps = lambda v: pet.em_step(model, pet.em_step(model, v, y), y)  # noqa: E731
    assert torch.autograd.gradcheck(two_steps, (x.requires_grad_(),), eps=1e-2, atol=2e-3, rtol=1e-2)


def test_bad_em_inputs_raise(problem):
    _, model, y = problem
    with pytest.raises(ValueError, match=r"n_subsets must be at most the number of views \(36\), got 37"):
        pet.osem(model, y, 1, n_subsets=37)
    with pytest.raises(ValueError, match="counts must be non-negative"):
        pet.mlem(model, y - 1e6, 1)
    with pytest.raises(ValueError, match=r"expected counts of shape \(\.\.\., 36, 41\), got \(36, 40\)"):
        pet.mlem(model, y[:, :40], 1)
    with pytest.raises(ValueError, match="x0 must be non-negative"):
        pet.mlem(model, y, 1, x0=-torch.ones(model.domain_shape))
    with pytest.raises(ValueError, match="n_iter"):
        pet.mlem(model, y, -1)
