"""ODL's reference solvers against this project's: ``reference.X(A, y, n, **kw)`` vs ``solvers.X(A, y, n, **kw)``.

`bridges.odl.reference` runs ODL's own implementation (landweber, conjugate_gradient(_normal),
pdhg, mlem, osmlem) with the signature and meaning of `bridges.solvers`, so the same call on
both sides must give the same iterates, up to float32 rounding accumulated over the iterations.
"""

from __future__ import annotations

from . import Row, rel

ITERATIVE = 1e-5
ITERATIVE_NOTE = "float32 rounding accumulated over the iterations (the same updates in ODL and torch)"
# CG on the normal equations (ours) and ODL's CGLS / CG are the same iteration in exact arithmetic, but
# rounding grows with the conditioning: measured up to 1e-3 apart around iteration 7 on CT before both
# converge, 1e-7..1e-5 at iteration 4. So compare the first 4 iterations.
CG = 1e-4
CG_NOTE = "float32 rounding of two forms of CG on the normal equations (grows with the conditioning); 4 iterations"
CG_ITER = 4


def compare(modality, case, name, label, A, y, n_iter, tol, bounds, **options) -> Row:
    """One row: ODL's solver ``name`` against ours, the same call on both sides."""
    from bridges import solvers
    from bridges.odl import reference

    theirs = getattr(reference, name)(A, y, n_iter, **options)
    ours = getattr(solvers, name)(A, y, n_iter, **options)
    return Row(modality, case, f"{label}, ODL vs torch", rel(ours, theirs), tol, bounds)


def least_squares_rows(modality, case, A, y, n_iter, *, spacing=None, tv=True):
    """Landweber, CGLS (λ = 0 and λ = 0.01 ‖A‖²) and, for real operators, TV-PDHG (non-negative)."""
    yield compare(modality, case, "landweber", f"Landweber {n_iter} it", A, y, n_iter, ITERATIVE, ITERATIVE_NOTE)
    yield compare(modality, case, "cgls", f"CGLS {CG_ITER} it", A, y, CG_ITER, CG, CG_NOTE)
    lam = 0.01 * A.norm() ** 2  # a damping that changes the solution, on the operator's own scale
    yield compare(modality, case, "cgls", f"CGLS {CG_ITER} it, λ = 0.01‖A‖²", A, y, CG_ITER, CG, CG_NOTE, lam=lam)
    if tv:
        lam = 0.02 * float(y.abs().max())
        yield compare(
            modality,
            case,
            "tv_pdhg",
            f"TV-PDHG {n_iter} it, x ≥ 0",
            A,
            y,
            n_iter,
            ITERATIVE,
            ITERATIVE_NOTE,
            lam=lam,
            spacing=spacing,
            nonneg=True,
        )


def em_rows(modality, case, A, counts, n_iter, n_subsets, background=None):
    """MLEM and OSEM with a background (``background``, else the operator's own ``A.background``)."""
    options = {} if background is None else {"background": background}
    what = "background s" if background is not None or A.background is not None else "no background"
    yield compare(
        modality, case, "mlem", f"MLEM {n_iter} it ({what})", A, counts, n_iter, ITERATIVE, ITERATIVE_NOTE, **options
    )
    n_osem = max(2, n_iter // n_subsets)  # about MLEM's number of updates, and more than one pass
    yield compare(
        modality,
        case,
        "osem",
        f"OSEM {n_osem} it × {n_subsets} subsets ({what})",
        A,
        counts,
        n_osem,
        ITERATIVE,
        ITERATIVE_NOTE,
        n_subsets=n_subsets,
        **options,
    )
