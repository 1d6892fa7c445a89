"""Learned primal-dual reconstruction (Adler & Öktem, IEEE TMI 37(6), 2018)."""
from __future__ import annotations

import torch
from torch import nn

from bridges.operator import LinearOperator

from .base import OperatorModel, expected_measurements, seeded
from .complex_channels import conv_block


class LearnedPrimalDual(OperatorModel):
    """Learned primal-dual: unrolled dual and primal updates by small CNNs, the operator inside each.

    Adler & Öktem, "Learned primal-dual reconstruction", IEEE TMI 2018, algorithm 3:

        h_i = h_{i-1} + Γ_θi(h_{i-1}, K(f_{i-1}^(1)), g)
        f_i = f_{i-1} + Λ_θi(f_{i-1}, K*(h_i^(1)))

    with ``n_primal`` primal and ``n_dual`` dual memory channels started at zero, and
    Γ, Λ three 3x3 convolutions of ``width`` channels with PReLU between; the output is f^(1).
    A complex space (MRI) carries each memory slot as two real channels.

    As in the paper's code, the networks see the operator normalised, ``K = A / ||A||``, and the
    data as ``g / ||A||`` (``op.norm()``, computed once): the unrolled iterates then keep the image's
    scale whatever the units of the operator (a CT projector in mm has ``||A||`` in the hundreds,
    and ten unnormalised iterations blow up at initialisation).

    ``poisson=True`` is the PET variant: the dual step sees the expected counts
    ``K f + s`` (``s`` the operator's ``background``, e.g. ``pet.SystemModel.background``;
    zero without one), the Poisson data ``g`` and the likelihood's measurement-space
    gradient ``1 - g / (K f + s)`` in place of the plain ``K f`` and ``g``; the output is
    the primal image through a ReLU (activity is non-negative).

    Shapes: g (*batch, *op.range_shape) -> f (*batch, *op.domain_shape).

    Example::

        model = LearnedPrimalDual(ct.Projector(geometry), n_iter=10)
        f = model(sinogram)                               # (B, y, x)
        loss = (f - phantom).pow(2).mean(); loss.backward()
    """

    def __init__(self, op: LinearOperator, n_iter: int = 10, n_primal: int = 5, n_dual: int = 5, width: int = 32,
                 poisson: bool = False, seed: int | None = 0):
        super().__init__(op)
        self.n_iter, self.n_primal, self.n_dual, self.poisson = n_iter, n_primal, n_dual, poisson
        ci, cd = self.image.channels, self.data.channels
        dual_inputs = n_dual + (3 if poisson else 2)
        with seeded(seed):
            self.dual_nets = nn.ModuleList(conv_block(self.data, cd * dual_inputs, cd * n_dual, width)
                                           for _ in range(n_iter))
            self.primal_nets = nn.ModuleList(conv_block(self.image, ci * (n_primal + 1), ci * n_primal, width)
                                             for _ in range(n_iter))

    def forward(self, g: torch.Tensor) -> torch.Tensor:
        g, batch = self.flat_measurements(g)
        n, ci, cd = g.shape[0], self.image.channels, self.data.channels
        f = g.new_zeros(n, ci * self.n_primal, *self.image.spatial, dtype=_real(g))
        h = g.new_zeros(n, cd * self.n_dual, *self.data.spatial, dtype=_real(g))
        scale = 1 / self.op.norm()
        g_channels = self.data.to_channels(g * scale)
        for dual_net, primal_net in zip(self.dual_nets, self.primal_nets):
            primal = self.image.from_channels(f[:, :ci])
            if self.poisson:
                expected = expected_measurements(self.op, primal)
                ratio = 1 - g / expected.clamp_min(1e-6)
                inputs = [h, self.data.to_channels(expected * scale), g_channels, self.data.to_channels(ratio)]
            else:
                inputs = [h, self.data.to_channels(self.op(primal) * scale), g_channels]
            h = h + dual_net(torch.cat(inputs, dim=1))
            back = self.image.to_channels(self.op.adjoint(self.data.from_channels(h[:, :cd])) * scale)
            f = f + primal_net(torch.cat([f, back], dim=1))
        out = self.image.from_channels(f[:, :ci])
        if self.poisson:
            out = torch.relu(out)
        return out.reshape(*batch, *self.op.domain_shape)


def _real(t: torch.Tensor) -> torch.dtype:
    return t.real.dtype if t.is_complex() else t.dtype
