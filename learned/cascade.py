"""Deep cascade of CNNs with data-consistency layers (Schlemper et al., IEEE TMI 2018; arXiv 2017)."""

from __future__ import annotations

import math

import torch
from torch import nn

from bridges.operator import LinearOperator, random_input
from bridges.solvers import cgls

from .base import OperatorModel, seeded
from .complex_channels import conv_block

DATA_CONSISTENCY = ("auto", "exact", "gradient", "cg")


class DataConsistency(nn.Module):
    """x ↦ argmin_z λ||A z - y||² + ||A||² ||z - x||², with a learned noise level λ (> 0).

    Modes:
        "exact": the closed form ``z = x + λ/(1+λ) A^H(y - A x)``, exact when A^H A is a projection
            (single-coil Cartesian MRI: k-space replacement, sampled entries ``(k + λ y)/(1 + λ)``,
            Schlemper et al. eq. 6);
        "cg": ``n_cg`` conjugate-gradient iterations on the normal equations from z = x (any operator);
        "gradient": one step ``z = x - η A^H(A x - y)`` with a learned step η, from ``1 / ||A||²``.

    Shapes: x (N, *op.domain_shape), y (N, *op.range_shape) -> (N, *op.domain_shape).
    """

    def __init__(self, op: LinearOperator, mode: str, noise_level: float = 10.0, n_cg: int = 10):
        super().__init__()
        if mode not in DATA_CONSISTENCY[1:]:
            raise ValueError(f"data consistency must be one of {DATA_CONSISTENCY[1:]}, got {mode!r}")
        self.mode, self.n_cg, self.scale = mode, n_cg, op.norm() ** 2
        if mode == "cg":
            op.gram()  # the normal operator's set-up (a Toeplitz kernel) here, not in a compiled forward
        start = noise_level if mode != "gradient" else 1.0 / self.scale
        self.log_weight = nn.Parameter(torch.tensor(math.log(start)))

    def forward(self, op, x, y):
        weight = self.log_weight.exp()
        if self.mode == "gradient":
            return x - weight * op.adjoint(op(x) - y)
        if self.mode == "exact":
            return x + weight / (1 + weight) * op.adjoint(y - op(x))
        # argmin_z ||A z - y||² + μ||z - x||², μ = ||A||²/λ: z = x + d with d = argmin ||A d - (y - A x)||² + μ||d||²
        return x + cgls(op, y - op(x), self.n_cg, lam=self.scale / weight)


def is_partial_isometry(op: LinearOperator, rtol: float = 1e-4, seed: int = 0) -> bool:
    """Whether A^H A is an orthogonal projection (A A^H A = A), tested on a random image."""
    x = random_input(op.domain_shape, op.domain_dtype, torch.Generator().manual_seed(seed), op.device)
    with torch.no_grad():
        p = op.adjoint(op(x))
        pp = op.adjoint(op(p))
    return bool(torch.linalg.vector_norm(pp - p) <= rtol * torch.linalg.vector_norm(p).clamp_min(1e-30))


class DeepCascade(OperatorModel):
    """Deep cascade: ``n_cascades`` residual CNNs, each followed by a data-consistency layer.

    Schlemper, Caballero, Hajnal, Price & Rueckert, "A deep cascade of convolutional neural
    networks for dynamic MR image reconstruction", IEEE TMI 37(2), 2018 (arXiv 1704.02422):

        x_0 = A^H y / ||A||²,   x_{k+1} = DC(x_k + CNN_k(x_k), y)

    with CNN_k ``n_layers`` 3x3 convolutions of ``width`` channels and ReLU, and `DataConsistency`:
    ``"exact"`` k-space replacement with a learned noise level for Cartesian MRI (any operator whose
    A^H A is a projection), ``"cg"`` or ``"gradient"`` for any other (CT, PET, multi-coil or
    non-Cartesian MRI); ``"auto"`` picks exact when `is_partial_isometry(op)` and CG otherwise.

    ``dropout`` (0: none) drops activations in each CNN with that probability while training; kept on at test
    time it gives Monte Carlo dropout samples (`experiments.uncertainty`). It adds no weights.

    ``model(y, op=batch_op)`` runs the data consistency with the call's operator (`OperatorModel`), e.g. per
    item; the exact or CG choice and the CG weight's scale are the constructing operator's.

    Shapes: y (*batch, *op.range_shape) -> x (*batch, *op.domain_shape).

    Example::

        >>> from bridges import mri
        >>> A = mri.CartesianSense(mri.birdcage_maps((8, 8), 4), mri.mask_equispaced((8, 8), 2, 0.25))
        >>> model = DeepCascade(A, n_cascades=2, n_layers=2, width=4)    # exact data consistency
        >>> x = model(A(torch.randn(2, 8, 8, dtype=torch.complex64)))    # (B, y, x) complex64
        >>> x.abs().pow(2).mean().backward()
    """

    def __init__(
        self,
        op: LinearOperator,
        n_cascades: int = 5,
        n_layers: int = 5,
        width: int = 32,
        data_consistency: str = "auto",
        noise_level: float = 10.0,
        n_cg: int = 10,
        dropout: float = 0.0,
        seed: int | None = 0,
    ):
        super().__init__(op)
        if data_consistency not in DATA_CONSISTENCY:
            raise ValueError(f"data_consistency must be one of {DATA_CONSISTENCY}, got {data_consistency!r}")
        if data_consistency == "auto":
            data_consistency = "exact" if is_partial_isometry(op) else "cg"
        self.data_consistency = data_consistency
        c = self.image.channels
        with seeded(seed):
            self.cnns = nn.ModuleList(
                conv_block(self.image, c, c, width, n_layers, nn.ReLU, dropout) for _ in range(n_cascades)
            )
        self.dcs = nn.ModuleList(DataConsistency(op, data_consistency, noise_level, n_cg) for _ in range(n_cascades))

    def forward(self, y: torch.Tensor, op: LinearOperator | None = None) -> torch.Tensor:
        y, batch = self.flat_measurements(y)
        op = self.call_operator(op, y.shape[0])
        x = self.scaled_adjoint(y, op)
        for cnn, dc in zip(self.cnns, self.dcs):
            x = x + self.image.from_channels(cnn(self.image.to_channels(x)))
            x = dc(op, x, y)
        return x.reshape(*batch, *self.op.domain_shape)
