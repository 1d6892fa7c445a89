"""Simulated data: count level, scatter and randoms fractions as defined, Poisson noise, seeds."""

import pytest
import torch

from bridges import pet
from experiments.validation.ct import CUDA_CPU_TOL
from tests.conftest import assert_gpu_resident, rel
from tests.pet.phantoms import cpu_and_cuda_models, ellipse_phantom, normalization


def test_count_level_and_fractions_hold_exactly_in_expectation(preset):
    image, mu = ellipse_phantom(preset)
    model = pet.SystemModel(preset, mu, normalization(preset))
    data = pet.simulate(
        model,
        torch.stack([image, 2 * image]),
        1e5,
        randoms_fraction=0.25,
        scatter_fraction=0.35,
        generator=torch.Generator().manual_seed(0),
    )
    T, S, R = (t.sum((-2, -1)).double() for t in (data.trues, data.scatter, data.randoms))
    torch.testing.assert_close(T, torch.full((2,), 1e5, dtype=torch.float64), rtol=1e-5, atol=0)
    torch.testing.assert_close(S / (S + T), torch.full((2,), 0.35, dtype=torch.float64), rtol=1e-5, atol=0)
    torch.testing.assert_close(R / (T + S + R), torch.full((2,), 0.25, dtype=torch.float64), rtol=1e-5, atol=0)
    torch.testing.assert_close(
        data.scale[1] * 2, data.scale[0] * 1.0, rtol=1e-5, atol=0
    )  # twice the image, half the scale
    torch.testing.assert_close(data.trues[0], model(data.scale[0] * image), rtol=1e-5, atol=1e-3)
    # Poisson: the prompts' total lies within 5 standard deviations of its mean
    mean = T + S + R
    assert ((data.prompts.sum((-2, -1)) - mean).abs() < 5 * mean.sqrt()).all()
    assert torch.equal(data.prompts, data.prompts.round()) and (data.prompts >= 0).all()
    # randoms follow the normalisation, scatter is smooth and wider than the trues
    torch.testing.assert_close(
        data.randoms / model.normalization, (data.randoms / model.normalization).mean().expand_as(data.randoms)
    )
    assert (data.scatter > 0).float().mean() > (data.trues > 0).float().mean()


def test_a_seed_reproduces_the_noise(preset):
    image, _ = ellipse_phantom(preset)
    model = pet.SystemModel(preset)
    run = lambda seed: pet.simulate(model, image, 1e4, 0.1, 0.2, generator=torch.Generator().manual_seed(seed))  # noqa: E731
    assert torch.equal(run(3).prompts, run(3).prompts)
    assert not torch.equal(run(3).prompts, run(4).prompts)


def test_a_seed_is_a_generator_on_the_datas_device(preset):
    image, _ = ellipse_phantom(preset)
    model = pet.SystemModel(preset)
    seeded = pet.simulate(model, image, 1e4, 0.1, 0.2, seed=3)
    assert torch.equal(
        seeded.prompts, pet.simulate(model, image, 1e4, 0.1, 0.2, generator=torch.Generator().manual_seed(3)).prompts
    )
    with pytest.raises(ValueError, match="a generator or a seed, got both"):
        pet.simulate(model, image, 1e4, generator=torch.Generator(), seed=3)


@pytest.mark.cuda
def test_simulates_on_cuda_from_a_seed_or_a_cuda_generator():
    """Trues, scatter and randoms within CUDA_CPU_TOL of the CPU's (ASTRA's CUDA projector against the CPU's,
    experiments/validation/ct.py); the Poisson draw on the GPU from its own generator, reproducible, its totals within 5 σ."""
    cpu, gpu, x = cpu_and_cuda_models()
    xg = x.cuda()
    sinogram_bytes = x.shape[0] * gpu.range_shape[0] * gpu.range_shape[1] * 4
    data = assert_gpu_resident(
        lambda img: pet.simulate(gpu, img, 1e5, 0.2, 0.3, seed=3),
        xg,
        data_bytes=x.nbytes + 4 * sinogram_bytes,
        astra=lambda: gpu.projector(xg),
    )
    ref = pet.simulate(cpu, x, 1e5, 0.2, 0.3, seed=3)
    for field in ("trues", "scatter", "randoms"):
        assert getattr(data, field).is_cuda and rel(getattr(data, field), getattr(ref, field)) < CUDA_CPU_TOL, field
    mean = (data.trues + data.scatter + data.randoms).sum((-2, -1))
    assert data.prompts.is_cuda and ((data.prompts.sum((-2, -1)) - mean).abs() < 5 * mean.sqrt()).all()
    cuda_generator = torch.Generator(device="cuda").manual_seed(3)
    assert torch.equal(pet.simulate(gpu, xg, 1e5, 0.2, 0.3, generator=cuda_generator).prompts, data.prompts)
    with pytest.raises(ValueError, match="Generator on the data's device cuda"):
        pet.simulate(gpu, xg, 1e5, generator=torch.Generator().manual_seed(3))


def test_bad_simulation_inputs_raise(preset):
    image, _ = ellipse_phantom(preset)
    model = pet.SystemModel(preset)
    with pytest.raises(ValueError, match="randoms_fraction must lie in"):
        pet.simulate(model, image, 1e4, randoms_fraction=1.0)
    with pytest.raises(ValueError, match="scatter_fraction must lie in"):
        pet.simulate(model, image, 1e4, scatter_fraction=-0.1)
    with pytest.raises(ValueError, match="total_counts must be positive"):
        pet.simulate(model, image, 0)
    with pytest.raises(ValueError, match="image .* non-negative"):
        pet.simulate(model, -image, 1e4)
    with pytest.raises(ValueError, match="no counts"):
        pet.simulate(model, torch.zeros_like(image), 1e4)
