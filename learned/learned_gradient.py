"""Learned proximal gradient with a fields-of-experts regulariser (LEARN, Chen et al. 2018)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from bridges.operator import LinearOperator

from .base import OperatorModel, seeded


class FieldsOfExperts(nn.Module):
    """One gradient step on a fields-of-experts regulariser, the learned proximal map of an iteration.

    Roth & Black 2005; as a learned step in Chen et al. 2015 (TNRD) and LEARN:

        prox_θ(z) = z - Σ_i K_iᵀ φ_i(K_i z),

    ``K_i`` ``n_filters`` zero-mean convolutions, ``φ_i`` the influence functions (derivatives of
    the experts' potentials), each a mixture of ``n_rbf`` Gaussians on a grid over [-scale, scale].

    Shapes: z (N, C, y, x) real -> (N, C, y, x).
    """

    def __init__(self, channels: int, n_filters: int = 24, kernel_size: int = 5, n_rbf: int = 31, scale: float = 1.0):
        super().__init__()
        self.filters = nn.Parameter(
            torch.randn(n_filters, channels, kernel_size, kernel_size) / (kernel_size * math.sqrt(channels))
        )
        self.register_buffer("centres", torch.linspace(-scale, scale, n_rbf))
        self.sigma = 2 * scale / (n_rbf - 1)
        # start near the identity map: small weights of a linear influence φ(t) ≈ 0.01 t
        self.weights = nn.Parameter(0.01 * self.centres.expand(n_filters, n_rbf).clone())

    def influence(self, t: torch.Tensor) -> torch.Tensor:
        """φ_i(t) = Σ_j w_ij exp(-(t - μ_j)² / 2σ²), per filter response channel i."""
        rbf = torch.exp(-((t.unsqueeze(-1) - self.centres) ** 2) / (2 * self.sigma**2))
        return torch.einsum("nfyxj,fj->nfyx", rbf, self.weights)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        k = self.filters - self.filters.mean(dim=(1, 2, 3), keepdim=True)
        pad = k.shape[-1] // 2
        response = F.conv2d(z, k, padding=pad)
        return z - F.conv_transpose2d(self.influence(response), k, padding=pad)


class LearnedGradient(OperatorModel):
    """LEARN: unrolled proximal gradient with a learned step size and a learned regulariser per iteration.

    Chen et al., "LEARN: Learned experts' assessment-based reconstruction network for
    sparse-data CT", IEEE TMI 37(6), 2018; in the unrolled form of the learned-reconstruction
    survey (Arridge, Maass, Öktem & Schönlieb, Acta Numerica 2019):

        x_{k+1} = prox_θk(x_k - α_k A^H(A x_k - y)),   prox_θk a `FieldsOfExperts` step,

    from ``x_0 = 0``; ``α_k`` starts at ``1 / ||A||²`` (``op.norm()``) and is learned (kept positive).
    Complex images run as two real channels.

    ``model(y, op=batch_op)`` takes the gradient with the call's operator (`OperatorModel`); the step sizes
    start from the constructing operator's ``1 / ||A||²``.

    Shapes: y (*batch, *op.range_shape) -> x (*batch, *op.domain_shape).

    Example::

        >>> from bridges import ct
        >>> A = ct.Projector(ct.ParallelBeam2D(angles=6, n_detectors=12, detector_spacing=1.0, image_shape=(8, 8)))
        >>> x = LearnedGradient(A, n_iter=2, n_filters=4)(A(torch.rand(2, 8, 8)))   # (B, y, x)
        >>> (x - torch.rand(2, 8, 8)).pow(2).mean().backward()
    """

    def __init__(
        self,
        op: LinearOperator,
        n_iter: int = 10,
        n_filters: int = 24,
        kernel_size: int = 5,
        n_rbf: int = 31,
        scale: float = 1.0,
        seed: int | None = 0,
    ):
        super().__init__(op)
        self.log_step = nn.Parameter(torch.full((n_iter,), -2 * math.log(op.norm())))
        with seeded(seed):
            self.prox = nn.ModuleList(
                FieldsOfExperts(self.image.channels, n_filters, kernel_size, n_rbf, scale) for _ in range(n_iter)
            )

    def forward(self, y: torch.Tensor, op: LinearOperator | None = None) -> torch.Tensor:
        y, batch = self.flat_measurements(y)
        op = self.call_operator(op, y.shape[0])
        x = y.new_zeros(y.shape[0], *self.op.domain_shape, dtype=self.op.domain_dtype)
        for step, prox in zip(self.log_step.exp(), self.prox):
            z = x - step * self.gradient(x, y, op)
            x = self.image.from_channels(prox(self.image.to_channels(z)))
        return x.reshape(*batch, *self.op.domain_shape)
