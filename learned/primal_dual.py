"""Learned primal-dual reconstruction (Adler & Öktem, IEEE TMI 37(6), 2018)."""

from __future__ import annotations

import torch
from torch import nn

from bridges.operator import LinearOperator

from .base import OperatorModel, seeded
from .complex_channels import conv_block


class LearnedPrimalDual(OperatorModel):
    """Learned primal-dual: unrolled dual and primal updates by small CNNs, the operator inside each.

    Adler & Öktem, "Learned primal-dual reconstruction", IEEE TMI 2018, algorithm 3:

        h_i = h_{i-1} + Γ_θi(h_{i-1}, K(f_{i-1}^(1)), g)
        f_i = f_{i-1} + Λ_θi(f_{i-1}, K*(h_i^(1)))

    with ``n_primal`` primal and ``n_dual`` dual memory channels started at zero, and
    Γ, Λ three 3x3 convolutions of ``width`` channels with PReLU between; the output is f^(1).
    A complex space (MRI) carries each memory slot as two real channels.

    As in the paper's code, the networks see the operator normalised, ``K = A / ||A||`` (``op.norm()``),
    and work in units of ``image_scale`` (a typical image value, e.g. water's attenuation 0.0192 /mm
    for CT in 1/mm): the data enter as ``g / (||A|| image_scale)`` and the output is scaled back. The
    paper's images lie in [0, 1]; in physical units the iterates would otherwise be far from the
    networks' natural scale (a CT projector in mm has ``||A||`` in the hundreds, and images in 1/mm
    are about 0.02), and training stalls.

    ``initial`` (a classical reconstruction ``initial(A, g)`` in the solvers' form, run with the call's operator:
    ``bridges.ct.fbp``, ``partial(bridges.solvers.osem, n_iter=2, n_subsets=7)``) starts every primal memory
    channel at a classical reconstruction instead of zero, as dival's LoDoPaB learned primal-dual does
    (``init_fbp``): the networks then learn a correction, which short trainings reach much sooner.
    ``zero_init=True`` zeroes the last convolution of every update (the "zero-γ" start of residual
    networks, Goyal et al. 2017), so that the untrained model returns its ``initial`` image exactly
    instead of a random perturbation of it.

    ``dropout`` (0: none) drops activations in Γ and Λ with that probability while training; kept on at test time
    it gives Monte Carlo dropout samples (`experiments.uncertainty`). It adds no weights.

    ``model(g, op=batch_op)`` applies the call's operator (`OperatorModel`), e.g. a PET `SystemModel` with each
    item's μ-map; ``K`` stays normalised by the constructing operator's ``||A||``.

    Shapes: g (*batch, *op.range_shape) -> f (*batch, *op.domain_shape).

    Example::

        >>> from bridges import ct
        >>> A = ct.Projector(ct.ParallelBeam2D(angles=6, n_detectors=12, detector_spacing=1.0, image_shape=(8, 8)))
        >>> f = LearnedPrimalDual(A, n_iter=2, width=8)(A(torch.rand(2, 8, 8)))   # (B, y, x)
        >>> (f - torch.rand(2, 8, 8)).pow(2).mean().backward()
    """

    def __init__(
        self,
        op: LinearOperator,
        n_iter: int = 10,
        n_primal: int = 5,
        n_dual: int = 5,
        width: int = 32,
        poisson: bool = False,
        image_scale: float = 1.0,
        initial=None,
        zero_init: bool = False,
        dropout: float = 0.0,
        seed: int | None = 0,
    ):
        super().__init__(op)
        if not image_scale > 0:
            raise ValueError(f"expected a positive image_scale, got {image_scale!r}")
        self.n_primal, self.n_dual, self.poisson = n_primal, n_dual, poisson
        self.image_scale, self.initial = float(image_scale), initial
        ci, cd = self.image.channels, self.data.channels
        dual_inputs = n_dual + (3 if poisson else 2)
        with seeded(seed):
            self.dual_nets = nn.ModuleList(
                conv_block(self.data, cd * dual_inputs, cd * n_dual, width, dropout=dropout) for _ in range(n_iter)
            )
            self.primal_nets = nn.ModuleList(
                conv_block(self.image, ci * (n_primal + 1), ci * n_primal, width, dropout=dropout)
                for _ in range(n_iter)
            )
        if zero_init:
            for net in (*self.dual_nets, *self.primal_nets):
                nn.init.zeros_(net[-1].weight)
                nn.init.zeros_(net[-1].bias)

    def forward(self, g: torch.Tensor, op: LinearOperator | None = None) -> torch.Tensor:
        g, batch = self.flat_measurements(g)
        op = self.call_operator(op, g.shape[0])
        n, ci, cd = g.shape[0], self.image.channels, self.data.channels
        if self.initial is None:
            f = g.new_zeros(n, ci * self.n_primal, *self.image.spatial, dtype=g.real.dtype)
        else:
            with torch.no_grad():
                start = self.image.to_channels(self.initial(op, g).reshape(n, *self.op.domain_shape)) / self.image_scale
            f = start.repeat(1, self.n_primal, *([1] * len(self.image.spatial)))
        h = g.new_zeros(n, cd * self.n_dual, *self.data.spatial, dtype=g.real.dtype)
        norm = self.op.norm()
        scale = 1 / (norm * self.image_scale)  # data to the networks' units
        g_channels = self.data.to_channels(g * scale)
        for dual_net, primal_net in zip(self.dual_nets, self.primal_nets):
            primal = self.image.from_channels(f[:, :ci]) * self.image_scale
            if self.poisson:
                # Expected counts of the non-negative part: intermediate iterates may dip below zero,
                # and A f + s near zero would blow the ratio g / (A f + s) up.
                expected = op.expected(torch.relu(primal))
                ratio = 1 - g / expected.clamp_min(1e-6)
                inputs = [h, self.data.to_channels(expected * scale), g_channels, self.data.to_channels(ratio)]
            else:
                inputs = [h, self.data.to_channels(op(primal) * scale), g_channels]
            h = h + dual_net(torch.cat(inputs, dim=1))
            back = self.image.to_channels(op.adjoint(self.data.from_channels(h[:, :cd])) / norm)
            f = f + primal_net(torch.cat([f, back], dim=1))
        out = self.image.from_channels(f[:, :ci]) * self.image_scale
        if self.poisson:
            out = torch.relu(out)
        return out.reshape(*batch, *self.op.domain_shape)
