"""Generic rows: a complex dense matrix both ways through ODL, and CGLS on it against ODL's CG.

The operator-agnostic parts of the ODL bridge (`to_odl` on weighted spaces, `from_odl` of any ODL
operator) and the complex solver path, on an operator whose exact values are a matrix product.
"""

from __future__ import annotations

import torch

from . import FLOAT32, FLOAT32_NOTE, Row, rel
from .solvers import CG, CG_ITER, CG_NOTE, ITERATIVE, ITERATIVE_NOTE, compare

M = "matrix"


def checks(quick: bool):
    import odl

    from bridges import MatrixOperator
    from bridges.odl import from_odl, to_odl

    m, n = (48, 16) if quick else (192, 64)
    case = f"complex {m}x{n}"
    g = torch.Generator().manual_seed(0)

    def cplx(*shape):
        return torch.complex(torch.randn(*shape, generator=g), torch.randn(*shape, generator=g))

    matrix = cplx(m, n)
    A = MatrixOperator(matrix)
    exact = matrix.to(torch.complex128)
    x, y = cplx(n), cplx(m)
    yield Row(M, case, "adjoint test", A.adjoint_error(), FLOAT32, FLOAT32_NOTE)

    # to_odl on a weighted domain (cells of 0.25): ODL's adjoint must hold in ODL's own inner products
    B = to_odl(A, domain=odl.uniform_discr(0, n / 4, n, dtype="complex64"))
    u, v = B.domain.element(x.numpy()), B.range.element(y.numpy())
    mismatch = abs(B(u).inner(v) - u.inner(B.adjoint(v))) / (B(u).norm() * v.norm())
    yield Row(M, case, "to_odl adjoint in ODL's weighted inner products", float(mismatch), FLOAT32, FLOAT32_NOTE)

    F = from_odl(
        odl.MatrixOperator(matrix.numpy(), domain=odl.cn(n, dtype="complex64"), range=odl.cn(m, dtype="complex64"))
    )
    yield Row(
        M,
        case,
        "from_odl(MatrixOperator) forward vs M x (complex128)",
        rel(F(x), exact @ x.to(exact.dtype)),
        FLOAT32,
        FLOAT32_NOTE,
    )
    yield Row(
        M,
        case,
        "from_odl(MatrixOperator) adjoint vs Mᴴ y (complex128)",
        rel(F.adjoint(y), exact.conj().T @ y.to(exact.dtype)),
        FLOAT32,
        FLOAT32_NOTE,
    )

    data = A(cplx(n)) + 0.01 * cplx(m)
    yield compare(M, case, "cgls", f"CGLS {CG_ITER} it", A, data, CG_ITER, CG, CG_NOTE)
    yield compare(
        M, case, "cgls", f"CGLS {CG_ITER} it, λ = 0.01‖A‖²", A, data, CG_ITER, CG, CG_NOTE, lam=0.01 * A.norm() ** 2
    )
    yield compare(M, case, "landweber", "Landweber 20 it", A, data, 20, ITERATIVE, ITERATIVE_NOTE)
