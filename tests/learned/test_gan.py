"""Adversarial training through the physics: DAGAN's measurement term and WGAN-GP's double backward."""

import pytest
import torch

import learned
from tests.learned.operators import MODALITIES, ToyPET, make_operator, measure, phantoms


@pytest.mark.parametrize("modality", MODALITIES)
def test_discriminator_forward_and_backward(modality):
    op = make_operator(modality)
    D = learned.PatchDiscriminator(op, width=4, n_layers=2)
    x = phantoms(op, 3).requires_grad_()
    logits = D(x, measure(op, x.detach()))
    assert logits.shape == (3, 4, 4)
    logits.sum().backward()
    assert x.grad.abs().sum() > 0 and all(p.grad is not None for p in D.parameters())
    with pytest.raises(ValueError, match="needs the measurements"):
        D(x)


@pytest.mark.parametrize("modality", MODALITIES)
def test_dagan_measurement_term_is_the_data_gradient_through_the_operator(modality):
    """d/dx ||A x + s - y||² / ||y||² (one item) = 2 A^H(A x + s - y) / ||y||²: the gradient runs through A^H."""
    op = make_operator(modality)
    x_true = phantoms(op, 1)
    y = measure(op, x_true)
    x = (0.5 * x_true).requires_grad_()
    learned.measurement_consistency(op, x, y).backward()
    residual = op.expected(x.detach()) - y
    expected = 2 * op.adjoint(residual) / y.abs().pow(2).sum()
    assert x.grad.abs().sum() > 0
    torch.testing.assert_close(x.grad, expected, rtol=1e-4, atol=1e-6 * float(expected.abs().max()))


def test_dagan_generator_gets_gradients_from_every_term():
    op = make_operator("ct")
    G = learned.FBPConvNet(op, width=4, depth=1)
    loss = learned.DAGANLoss(op, learned.PatchDiscriminator(op, width=4, n_layers=2))
    x = phantoms(op, 2)
    y = measure(op, x)
    for weights in [
        dict(image_weight=0, adversarial_weight=0),
        dict(image_weight=0, measurement_weight=0),
        dict(measurement_weight=0, adversarial_weight=0),
    ]:
        G.zero_grad()
        term = learned.DAGANLoss(op, loss.discriminator, **weights)
        term.generator_loss(G(y), x, y).backward()
        assert sum(float(p.grad.abs().sum()) for p in G.parameters()) > 0, f"no gradient with {weights}"


def test_wgan_gp_critic_double_backward_through_the_operator():
    """The penalty differentiates D's input gradient, which contains A^T A: gradgradcheck in float64."""
    g = torch.Generator().manual_seed(0)
    op = ToyPET(torch.rand(6 * 10, 64, generator=g, dtype=torch.float64), (8, 8), (6, 10), background=0.5)
    D = learned.PatchDiscriminator(op, width=2, n_layers=1).double()
    x = torch.rand(1, 8, 8, generator=g, dtype=torch.float64, requires_grad=True)
    y = measure(op, torch.rand(1, 8, 8, generator=g, dtype=torch.float64))
    assert torch.autograd.gradgradcheck(lambda v: D(v, y), (x,))
    loss = learned.WGANGPLoss(op, D, generator=torch.Generator().manual_seed(1))
    critic = loss.discriminator_loss(x.detach(), x.detach() + 0.1, y)
    critic.backward()
    assert all(torch.isfinite(p.grad).all() for p in D.parameters())
    assert D.net[0].weight.grad.abs().sum() > 0  # the last bias cancels in D(x̂) - D(x) and in ∇D


def test_wgan_gp_penalty_sees_the_measurements():
    """A conditional critic sees the data residual A^H(A x - y): its penalty changes with the measurements."""
    op = make_operator("ct")
    D = learned.PatchDiscriminator(op, width=4, n_layers=2)
    x = phantoms(op, 2)
    y = measure(op, x)

    def penalty(data):
        loss = learned.WGANGPLoss(op, D, generator=torch.Generator().manual_seed(0))
        return float(loss.gradient_penalty(x * 0.5, x, data).detach())

    # ∇_x of the residual A^H(A x - y) does not depend on y; the penalty does, through the critic's activations
    assert penalty(y) != pytest.approx(penalty(torch.zeros_like(y)), rel=1e-3)


def test_dagan_training_lowers_the_image_error():
    op = make_operator("ct")
    G = learned.FBPConvNet(op, width=8, depth=2)
    D = learned.PatchDiscriminator(op, width=4, n_layers=2)
    loss = learned.DAGANLoss(op, D)
    x = phantoms(op, 4)
    y = measure(op, x)
    opt_g, opt_d = torch.optim.Adam(G.parameters(), 3e-3), torch.optim.Adam(D.parameters(), 1e-4)
    with torch.no_grad():
        start = learned.gan.relative_error(G(y), x)
    for _ in range(200):
        fake = G(y)
        opt_d.zero_grad()
        loss.discriminator_loss(fake, x, y).backward()
        opt_d.step()
        opt_g.zero_grad()
        loss.generator_loss(fake, x, y).backward()
        opt_g.step()
    with torch.no_grad():
        end = learned.gan.relative_error(G(y), x)
    assert end < start / 10, f"relative image error {float(start):.3g} -> {float(end):.3g}"
