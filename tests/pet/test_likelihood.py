"""The Poisson NLL against torch and SciPy, its gradient against autograd, stability near ȳ = 0."""

import pytest
import scipy.stats
import torch
import torch.nn.functional as F

from bridges import pet
from experiments.validation.ct import CUDA_CPU_TOL
from tests.conftest import assert_gpu_resident, rel
from tests.pet.phantoms import cpu_and_cuda_models, ellipse_phantom, normalization


def counts_and_mean(seed=0, shape=(40, 30)):
    g = torch.Generator().manual_seed(seed)
    mean = 5 * torch.rand(shape, generator=g, dtype=torch.float64)
    return torch.poisson(mean, generator=g), mean


def test_nll_matches_torch_and_scipy():
    y, ybar = counts_and_mean()
    expected = F.poisson_nll_loss(ybar, y, log_input=False, full=False, eps=1e-8, reduction="mean")
    torch.testing.assert_close(pet.poisson_nll(ybar, y, reduction="mean"), expected)
    full = -scipy.stats.poisson.logpmf(y.numpy(), ybar.numpy()).sum()
    assert abs(float(pet.poisson_nll(ybar, y, eps=0.0, constant=True)) - full) < 1e-12 * abs(full)
    assert pet.poisson_nll(ybar, y, reduction="none").shape == y.shape


def test_nll_is_finite_where_the_mean_is_zero():
    y = torch.tensor([0.0, 0.0, 3.0])
    ybar = torch.tensor([0.0, 1e-30, 0.0], requires_grad=True)
    loss = pet.poisson_nll(ybar, y)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(ybar.grad).all()
    assert ybar.grad[0] == 1 and ybar.grad[2] < 0  # an empty bin pulls ȳ down, a filled one up


@pytest.mark.parametrize("mode", ["arc", "exact"])
def test_nll_gradient_through_the_model_equals_the_closed_form(preset, mode):
    """autograd of L(x) = Σ ȳ - y log ȳ with ȳ = A x + s equals A^T(1 - y / ȳ)."""
    image, mu = ellipse_phantom(preset)
    model = pet.SystemModel(preset, mu, normalization(preset), background=0.5, resolution_fwhm=10.0, mode=mode)
    y = torch.poisson(model.expected(image), generator=torch.Generator().manual_seed(0))
    x = (0.5 + torch.rand(image.shape, generator=torch.Generator().manual_seed(1))).requires_grad_()
    pet.poisson_nll(model.expected(x), y).backward()
    closed = pet.poisson_nll_gradient(model, x.detach(), y)
    assert torch.linalg.vector_norm(x.grad - closed) < 1e-5 * torch.linalg.vector_norm(closed)


def test_bad_counts_and_means_raise():
    y, ybar = counts_and_mean()
    with pytest.raises(ValueError, match="counts must be non-negative, got a minimum of -1"):
        pet.poisson_nll(ybar, y - 1 - y.max())
    with pytest.raises(ValueError, match="expected counts must be non-negative"):
        pet.poisson_nll(-ybar, y)
    with pytest.raises(ValueError, match="reduction"):
        pet.poisson_nll(ybar, y, reduction="max")
    with pytest.raises(TypeError, match="torch.Tensor"):
        pet.poisson_nll(ybar, y.numpy())


@pytest.mark.cuda
def test_nll_and_its_gradient_on_cuda_are_the_cpus_there():
    """The NLL of the same numbers agrees to double rounding; the gradient through the model, A^T(1 - y / (A x + s))
    at x = 1 (far from the data, so 1 - y/ȳ is not noise about zero), within 1.5 CUDA_CPU_TOL: it applies ASTRA's
    CUDA projector and backprojector, each within CUDA_CPU_TOL of the CPU's (experiments/validation/ct.py)."""
    cpu, gpu, x = cpu_and_cuda_models()
    ybar = cpu.expected(x)
    y = torch.poisson(ybar, generator=torch.Generator().manual_seed(0))
    nll = pet.poisson_nll(ybar.double().cuda(), y.double().cuda())
    assert nll.is_cuda and rel(nll, pet.poisson_nll(ybar.double(), y.double())) < 1e-10
    ones, yg = torch.ones_like(x).cuda(), y.cuda()
    grad = assert_gpu_resident(
        lambda a, b: pet.poisson_nll_gradient(gpu, a, b),
        ones,
        yg,
        data_bytes=2 * x.nbytes + y.nbytes,
        astra=lambda: (gpu.projector(ones), gpu.projector.adjoint(yg)),
    )
    assert grad.is_cuda and rel(grad, pet.poisson_nll_gradient(cpu, torch.ones_like(x), y)) < 1.5 * CUDA_CPU_TOL
