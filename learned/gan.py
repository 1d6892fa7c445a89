"""Adversarial training against the physics: a patch discriminator, DAGAN's and WGAN-GP's losses.

The generator is any model of this package mapping measurements to images; `FBPConvNet` is the
U-Net with residual output of DAGAN. The losses hold no optimiser: a training loop calls
``loss.generator_loss(...)`` and ``loss.discriminator_loss(...)`` and steps its own optimisers.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from bridges.operator import LinearOperator

from .base import OperatorModel, seeded


def measurement_consistency(op: LinearOperator, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """||A x - y||² / ||y||², averaged over the batch: the data term through the bridge (gradients reach x
    through ``op.adjoint``)."""
    dims = tuple(range(y.dim() - len(op.range_shape), y.dim()))
    residual = (op.expected(x) - y).abs().pow(2).sum(dims)
    return (residual / y.abs().pow(2).sum(dims).clamp_min(1e-12)).mean()


class PatchDiscriminator(OperatorModel):
    """PatchGAN discriminator (Isola et al., CVPR 2017): a logit per overlapping image patch.

    ``n_layers`` 4x4 stride-2 convolutions with LeakyReLU(0.2), channels doubling from ``width``,
    then a 3x3 convolution to one channel; no batch normalisation (WGAN-GP's critic must not
    couple the items of a batch). With ``conditional=True`` it also sees the data residual
    ``A^H(A x - y) / ||A||²`` of the image against the measurements ``y``, so that it judges data
    consistency as well, and its gradient in ``x`` (WGAN-GP's penalty) runs through the operator.

    Shapes: x (*batch, *op.domain_shape), y (*batch, *op.range_shape) -> (*batch, h', w') logits.

    Example::

        >>> from bridges import ct
        >>> A = ct.Projector(ct.ParallelBeam2D(angles=6, n_detectors=12, detector_spacing=1.0, image_shape=(8, 8)))
        >>> D = PatchDiscriminator(A, width=4, n_layers=3)
        >>> D(torch.rand(2, 8, 8), A(torch.rand(2, 8, 8))).shape    # (B, y/8, x/8)
        torch.Size([2, 1, 1])
    """

    def __init__(
        self, op: LinearOperator, width: int = 32, n_layers: int = 3, conditional: bool = True, seed: int | None = 0
    ):
        super().__init__(op)
        self.conditional = conditional
        c = self.image.channels * (2 if conditional else 1)
        layers = []
        with seeded(seed):
            for i in range(n_layers):
                layers += [nn.Conv2d(c, width * 2**i, 4, stride=2, padding=1), nn.LeakyReLU(0.2)]
                c = width * 2**i
            layers.append(nn.Conv2d(c, 1, 3, padding=1))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        x, batch = self.flat_images(x)
        h = self.image.to_channels(x)
        if self.conditional:
            if y is None:
                raise ValueError(f"{type(self).__name__}(conditional=True) needs the measurements y")
            y, _ = self.flat_measurements(y)
            if y.shape[0] != x.shape[0]:
                raise ValueError(f"{type(self).__name__}: {x.shape[0]} images but {y.shape[0]} measurements")
            residual = self.scaled_adjoint(self.op.expected(x) - y)
            h = torch.cat([h, self.image.to_channels(residual)], dim=1)
        out = self.net(h)
        return out.reshape(*batch, *out.shape[-2:])


class DAGANLoss:
    """DAGAN's losses (Yang et al., "DAGAN: Deep de-aliasing generative adversarial networks for fast
    compressed sensing MRI reconstruction", IEEE TMI 37(6), 2018), with the data term through the bridge:

        generator:     L_G = w_img ||x̂ - x||² / ||x||² + w_meas ||A x̂ - y||² / ||y||² + w_adv BCE(D(x̂), 1)
        discriminator: L_D = BCE(D(x), 1) + BCE(D(x̂), 0)

    DAGAN's frequency-domain MSE is taken in the operator's range (k-space for MRI, sinograms for CT,
    expected counts for PET) against the measurements; its VGG perceptual term is left out (it needs
    pretrained ImageNet weights and is 2D-photograph specific). Default weights are the paper's
    (α = 15 image, β = 0.1 frequency, adversarial 1).

    Example::

        >>> from bridges import ct
        >>> A = ct.Projector(ct.ParallelBeam2D(angles=6, n_detectors=12, detector_spacing=1.0, image_shape=(8, 8)))
        >>> loss, x, y = DAGANLoss(A, PatchDiscriminator(A, width=4)), torch.rand(2, 8, 8), A(torch.rand(2, 8, 8))
        >>> x_hat = A.T(y).requires_grad_()                # a generator's output G(y)
        >>> loss.generator_loss(x_hat, x, y).backward()    # gradients reach G through A and D
        >>> loss.discriminator_loss(x_hat.detach(), x, y).backward()
    """

    def __init__(
        self,
        op: LinearOperator,
        discriminator: nn.Module,
        image_weight: float = 15.0,
        measurement_weight: float = 0.1,
        adversarial_weight: float = 1.0,
    ):
        self.op, self.discriminator = op, discriminator
        self.image_weight, self.measurement_weight = image_weight, measurement_weight
        self.adversarial_weight = adversarial_weight

    def _logits(self, x, y):
        return self.discriminator(x, y) if getattr(self.discriminator, "conditional", False) else self.discriminator(x)

    def generator_loss(self, fake: torch.Tensor, real: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        logits = self._logits(fake, y)
        adversarial = F.binary_cross_entropy_with_logits(logits, torch.ones_like(logits))
        return (
            self.image_weight * relative_error(fake, real)
            + self.adversarial_weight * adversarial
            + self.measurement_weight * measurement_consistency(self.op, fake, y)
        )

    def discriminator_loss(self, fake: torch.Tensor, real: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        real_logits, fake_logits = self._logits(real, y), self._logits(fake.detach(), y)
        return F.binary_cross_entropy_with_logits(
            real_logits, torch.ones_like(real_logits)
        ) + F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits))


class WGANGPLoss(DAGANLoss):
    """Wasserstein GAN with gradient penalty (Gulrajani et al., NeurIPS 2017), same image and data terms:

        critic:    L_D = D(x̂) - D(x) + λ (||∇_x̃ D(x̃)|| - 1)²,  x̃ = ε x + (1 - ε) x̂,  ε ~ U(0, 1) per item
        generator: L_G = -w_adv D(x̂) + w_img ||x̂ - x||² / ||x||² + w_meas ||A x̂ - y||² / ||y||²

    With a conditional critic the penalty's gradient runs through the operator, so the critic's
    update differentiates through A twice (double backward through the bridge).

    Example::

        >>> from bridges import ct
        >>> A = ct.Projector(ct.ParallelBeam2D(angles=6, n_detectors=12, detector_spacing=1.0, image_shape=(8, 8)))
        >>> loss = WGANGPLoss(A, PatchDiscriminator(A, width=4), generator=torch.Generator().manual_seed(0))
        >>> x, y = torch.rand(2, 8, 8), A(torch.rand(2, 8, 8))
        >>> loss.discriminator_loss(A.T(y), x, y).backward()   # A.T(y) in place of a generator's G(y).detach()
    """

    def __init__(
        self,
        op: LinearOperator,
        discriminator: nn.Module,
        image_weight: float = 15.0,
        measurement_weight: float = 0.1,
        adversarial_weight: float = 1.0,
        penalty_weight: float = 10.0,
        generator: torch.Generator | None = None,
    ):
        super().__init__(op, discriminator, image_weight, measurement_weight, adversarial_weight)
        self.penalty_weight, self.generator = penalty_weight, generator

    def generator_loss(self, fake, real, y):
        return (
            -self.adversarial_weight * self._logits(fake, y).mean()
            + self.image_weight * relative_error(fake, real)
            + self.measurement_weight * measurement_consistency(self.op, fake, y)
        )

    def gradient_penalty(self, fake, real, y):
        shape = (*real.shape[: real.dim() - len(self.op.domain_shape)], *([1] * len(self.op.domain_shape)))
        eps = torch.rand(shape, generator=self.generator).to(real.device)
        mix = (eps * real + (1 - eps) * fake.detach()).requires_grad_()
        (grad,) = torch.autograd.grad(self._logits(mix, y).sum(), mix, create_graph=True)
        dims = tuple(range(grad.dim() - len(self.op.domain_shape), grad.dim()))
        return ((grad.abs().pow(2).sum(dims) + 1e-12).sqrt() - 1).pow(2).mean()

    def discriminator_loss(self, fake, real, y):
        return (
            self._logits(fake.detach(), y).mean()
            - self._logits(real, y).mean()
            + self.penalty_weight * self.gradient_penalty(fake, real, y)
        )


def relative_error(x: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """||x - reference||² / ||reference||² over the whole batch (DAGAN's normalised image MSE)."""
    return (x - reference).abs().pow(2).sum() / reference.abs().pow(2).sum().clamp_min(1e-12)
