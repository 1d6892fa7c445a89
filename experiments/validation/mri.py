"""MRI rows: the SigPy adapter, Cartesian SENSE, NUFFT and non-Cartesian SENSE against SigPy's own linops and an
exact DFT; CG-SENSE against ODL's conjugate gradients and SigPy's ``SenseRecon``.

The references: SigPy's linops (``sigpy.linop.FFT``, ``Multiply``, ``NUFFT`` at oversampling 2 and
kernel width 6, ``sigpy.mri.linop.Sense``), run in complex128; the exact (non-uniform) DFT summed
here in float64, ``y_j = N^(-1/2) Σ_r x[r] exp(−2πi Σ_d k_jd (r_d − N_d//2) / N_d)`` (SigPy's
convention, separable over the axes so that it stays cheap); ODL's CG through
`bridges.odl.reference.cgls`; ``sigpy.mri.app.SenseRecon`` on the same data.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from . import FLOAT32, FLOAT32_NOTE, Row, rel
from .solvers import CG, CG_ITER, CG_NOTE

M = "MRI"
FINUFFT = 1e-5  # eps = 1e-6 requested (FINUFFT's relative l2 error), plus float32 rounding
FINUFFT_NOTE = "FINUFFT at eps 1e-6 (relative l2) plus float32 rounding"
# SigPy's Kaiser-Bessel gridding at oversampling 2, width 6 is itself ~1e-5 from the exact sum (its own row)
SIGPY_NUFFT = 3e-5
SIGPY_NUFFT_NOTE = "SigPy's NUFFT kernel error at oversamp 2, width 6, plus FINUFFT's eps"
SOLVER = 1e-4
SOLVER_NOTE = "float32 rounding of two implementations of CG on the normal equations, over the iterations"


def _complex(generator, *shape) -> torch.Tensor:
    return torch.complex(torch.randn(*shape, generator=generator), torch.randn(*shape, generator=generator))


def _wide(t: torch.Tensor) -> np.ndarray:
    """A tensor as complex128 / float64 NumPy: SigPy's references run in double precision."""
    return t.numpy().astype(np.complex128 if t.is_complex() else np.float64)


class ExactDFT:
    """The exact non-uniform DFT at points ``coords`` (..., 2) and its adjoint, in complex128."""

    def __init__(self, image_shape, coords):
        k = torch.as_tensor(coords, dtype=torch.float64).reshape(-1, 2)
        self.points = tuple(coords.shape[:-1])
        self.factors = [
            torch.exp(-2j * math.pi * torch.outer(k[:, d], (torch.arange(n, dtype=torch.float64) - n // 2) / n))
            for d, n in enumerate(image_shape)
        ]  # (points, n_d) per axis
        self.scale = 1 / math.sqrt(math.prod(image_shape))

    def forward(self, x):
        """(*batch, y, x) -> (*batch, *points)."""
        Ey, Ex = self.factors
        y = torch.einsum("jy,...yx,jx->...j", Ey, x.to(torch.complex128), Ex) * self.scale
        return y.reshape(*y.shape[:-1], *self.points)

    def adjoint(self, y):
        """(*batch, *points) -> (*batch, y, x)."""
        Ey, Ex = self.factors
        flat = y.to(torch.complex128).reshape(*y.shape[: y.dim() - len(self.points)], -1)
        return torch.einsum("jy,...j,jx->...yx", Ey.conj(), flat, Ex.conj()) * self.scale


class SigpyReference:
    """A SigPy linop applied in complex128 (the reference), item by item over a leading batch."""

    def __init__(self, linop):
        self.linop = linop

    def forward(self, x):
        return self._apply(self.linop, x, len(self.linop.ishape))

    def adjoint(self, y):
        return self._apply(self.linop.H, y, len(self.linop.oshape))

    @staticmethod
    def _apply(linop, t, ndim):
        items = t.reshape(-1, *t.shape[t.dim() - ndim :])
        out = np.stack([linop(_wide(item)) for item in items])
        return torch.from_numpy(out.reshape(*t.shape[: t.dim() - ndim], *out.shape[1:]))


class SenseModel:
    """``y_c = M ⊙ F(S_c x)`` and its adjoint around an exact transform F (the reference SENSE model)."""

    def __init__(self, transform, maps, mask=None):
        self.F, self.maps, self.mask = transform, maps.to(torch.complex128), mask

    def forward(self, x):
        y = self.F.forward(self.maps * x.to(torch.complex128))
        return y if self.mask is None else y * self.mask

    def adjoint(self, y):
        y = y if self.mask is None else y * self.mask
        return (self.F.adjoint(y) * self.maps.conj()).sum(0)


def cartesian_grid(image_shape) -> torch.Tensor:
    """The Cartesian k-space grid in SigPy's coordinates: k_d = −N_d/2 ... N_d/2 − 1, shape (y, x, 2)."""
    axes = torch.meshgrid(*[torch.arange(n, dtype=torch.float64) - n // 2 for n in image_shape], indexing="ij")
    return torch.stack(axes, dim=-1)


def sizes(quick: bool) -> dict:
    if quick:
        return {"n": 32, "coils": 4, "spokes": 16, "samples": 32, "n_iter": 8}
    return {"n": 64, "coils": 8, "spokes": 64, "samples": 128, "n_iter": 20}


# ------------------------------------------------------------------ rows
def checks(quick: bool):
    from bridges import mri

    s = sizes(quick)
    shape = (s["n"], s["n"])
    maps = mri.birdcage_maps(shape, s["coils"])
    mask = mri.mask_equispaced(shape, 4, 0.08)
    coords = mri.radial(s["spokes"], s["samples"], shape)
    g = torch.Generator().manual_seed(0)
    x = _complex(g, *shape)
    yield from adapter_rows(maps, g)
    yield from cartesian_rows(maps, mask, x, g)
    yield from nufft_rows(shape, coords, x, g)
    yield from sense_rows(maps, coords, x, g)
    yield from cg_sense_rows(maps, mask, coords, g, s["n_iter"])


def pair_rows(case, what, A, reference, x, y, tol, note):
    """Forward and adjoint of ``A`` against ``reference`` (an object with ``forward`` and ``adjoint``)."""
    yield Row(M, case, f"forward vs {what}", rel(A(x), reference.forward(x)), tol, note)
    yield Row(M, case, f"adjoint vs {what}", rel(A.H(y), reference.adjoint(y)), tol, note)


def adjoint_row(case, A):
    return Row(M, case, "adjoint test", A.adjoint_error(), FLOAT32, FLOAT32_NOTE)


def adapter_rows(maps, g):
    """`from_sigpy` on a composed SigPy linop, on a batch of two: the adapter must only move memory."""
    import sigpy

    from bridges.mri import from_sigpy

    shape = tuple(maps.shape[1:])
    linop = sigpy.linop.FFT(maps.shape, axes=(-2, -1)) * sigpy.linop.Multiply(shape, maps.numpy())
    A, case = from_sigpy(linop), "from_sigpy(FFT · Multiply(maps))"
    x, y = _complex(g, 2, *shape), _complex(g, 2, *maps.shape)
    wide = SigpyReference(sigpy.linop.FFT(maps.shape, axes=(-2, -1)) * sigpy.linop.Multiply(shape, _wide(maps)))
    yield from pair_rows(case, "the SigPy linop in complex128, batch of 2", A, wide, x, y, FLOAT32, FLOAT32_NOTE)
    yield adjoint_row(case, A)


def cartesian_rows(maps, mask, x, g):
    import sigpy.mri

    from bridges.mri import CartesianSense

    coils, shape = maps.shape[0], tuple(maps.shape[1:])
    A = CartesianSense(maps, mask)
    case = f"CartesianSense {coils} coils, 4x equispaced"
    y = _complex(g, coils, *shape) * mask
    sense = SigpyReference(sigpy.mri.linop.Sense(_wide(maps), weights=_wide(mask)))  # M^(1/2) F S, M is 0/1
    yield from pair_rows(case, "sigpy.mri.linop.Sense", A, sense, x, y, FLOAT32, FLOAT32_NOTE)
    exact = SenseModel(ExactDFT(shape, cartesian_grid(shape)), maps, mask)
    yield from pair_rows(case, "exact DFT sum", A, exact, x, y, FLOAT32, f"{FLOAT32_NOTE} of the FFT")
    yield adjoint_row(case, A)


def nufft_rows(shape, coords, x, g):
    import sigpy

    from bridges.mri import NUFFT

    case = f"NUFFT radial {coords.shape[0]}x{coords.shape[1]}"
    y = _complex(g, *coords.shape[:-1])
    exact = ExactDFT(shape, coords)
    sigpy_nufft = SigpyReference(sigpy.linop.NUFFT(shape, _wide(coords), oversamp=2.0, width=6))
    A = NUFFT(shape, coords, backend="finufft", eps=1e-6)
    yield from pair_rows(
        f"{case}, FINUFFT", "sigpy.linop.NUFFT (2, 6)", A, sigpy_nufft, x, y, SIGPY_NUFFT, SIGPY_NUFFT_NOTE
    )
    yield from pair_rows(f"{case}, FINUFFT", "exact NDFT", A, exact, x, y, FINUFFT, FINUFFT_NOTE)
    yield adjoint_row(f"{case}, FINUFFT", A)
    B = NUFFT(shape, coords, backend="sigpy", oversamp=2.0, width=6)
    yield from pair_rows(
        f"{case}, SigPy backend (2, 6)",
        "sigpy.linop.NUFFT (2, 6)",
        B,
        sigpy_nufft,
        x,
        y,
        FLOAT32,
        f"{FLOAT32_NOTE}: the same SigPy gridding, complex64 vs complex128",
    )
    # the reference itself: how far SigPy's gridding at (2, 6) is from the exact sum (bounds SIGPY_NUFFT)
    yield Row(
        M,
        case,
        "reference: sigpy.linop.NUFFT (2, 6) forward vs exact NDFT",
        rel(sigpy_nufft.forward(x), exact.forward(x)),
        SIGPY_NUFFT,
        "SigPy's Kaiser-Bessel gridding error at oversamp 2, width 6",
    )


def sense_rows(maps, coords, x, g):
    import sigpy

    from bridges.mri import Sense

    coils, shape = maps.shape[0], tuple(maps.shape[1:])
    A = Sense(maps, coords, backend="finufft", eps=1e-6)
    case = f"Sense {coils} coils, radial {coords.shape[0]}x{coords.shape[1]}"
    y = _complex(g, coils, *coords.shape[:-1])
    # sigpy.mri.linop.Sense(maps, coord) is NUFFT(maps.shape, coord) * Multiply(maps), with SigPy's default
    # (less accurate) gridding: the same composition at (2, 6)
    sense = SigpyReference(
        sigpy.linop.NUFFT(maps.shape, _wide(coords), oversamp=2.0, width=6) * sigpy.linop.Multiply(shape, _wide(maps))
    )
    yield from pair_rows(case, "SigPy NUFFT (2, 6) · Multiply(maps)", A, sense, x, y, SIGPY_NUFFT, SIGPY_NUFFT_NOTE)
    yield from pair_rows(
        case, "exact NDFT per coil", A, SenseModel(ExactDFT(shape, coords), maps), x, y, FINUFFT, FINUFFT_NOTE
    )
    yield adjoint_row(case, A)


def cg_sense_rows(maps, mask, coords, g, n_iter):
    """CG-SENSE on one noisy data set: ours, ODL's CG (same λ) and SigPy's SenseRecon (same lamda, max_iter)."""
    import sigpy.mri.app

    from bridges.mri import CartesianSense, Sense, cg_sense
    from bridges.odl import reference

    coils, shape = maps.shape[0], tuple(maps.shape[1:])
    x_true = _complex(g, *shape)
    A = CartesianSense(maps, mask)
    y = (A(x_true) + 0.05 * _complex(g, coils, *shape)) * mask
    case = f"CG-SENSE, CartesianSense {coils} coils, 4x"
    for lam in (0.0, 0.01):
        label = f"{n_iter} it, λ = {lam:g}"
        ours = cg_sense(A, y, n_iter, lam=lam)
        yield Row(
            M,
            case,
            f"{label}: vs ODL CG (reference.cgls)",
            rel(ours, reference.cgls(A, y, n_iter, lam=lam)),
            SOLVER,
            SOLVER_NOTE,
        )
        app = sigpy.mri.app.SenseRecon(
            y.numpy(), maps.numpy(), lamda=lam, weights=mask.numpy(), max_iter=n_iter, show_pbar=False
        )
        yield Row(M, case, f"{label}: vs SigPy SenseRecon", rel(ours, torch.from_numpy(app.run())), SOLVER, SOLVER_NOTE)
    # Radial SENSE without density compensation is ill-conditioned: CG's rounding then grows as on CT
    # (measured 1e-4 apart by 8 iterations), so compare the first CG_ITER as there.
    B = Sense(maps, coords)
    yb, lam = B(x_true), 0.01 * B.norm() ** 2
    case = f"CG-SENSE, Sense {coils} coils, radial"
    yield Row(
        M,
        case,
        f"{CG_ITER} it, λ = 0.01‖A‖²: vs ODL CG (reference.cgls)",
        rel(cg_sense(B, yb, CG_ITER, lam=lam), reference.cgls(B, yb, CG_ITER, lam=lam)),
        CG,
        CG_NOTE,
    )
