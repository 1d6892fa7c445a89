"""python -m experiments validate [--quick] [--out DIR]: every modality's operators against ODL / SigPy.

Per modality and preset: the dot-product adjoint test, forward and adjoint against the
independent implementation where one exists (ODL's RayTransform for CT, SigPy for MRI),
and each ODL reference solver (`bridges.reference`) against this project's torch-side
solver. Prints a table of relative differences with the tolerance each must meet and
exits 1 if any fails. Add a modality by adding a function to `CHECKS` that yields `Row`s;
MRI and PET rows appear once `bridges.mri` / `bridges.pet` provide ``validation_cases(quick)``.
"""
from __future__ import annotations

import argparse
import dataclasses
import math
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

ADJOINT_TOL = 1e-5   # float32 dot-product test (CPU)
ODL_TOL = 1e-5       # same ASTRA kernels on the same geometry: float32 rounding only
SOLVER_TOL = 1e-4    # same iteration in ODL and torch: rounding grows over the iterations
FBP_TOL = 0.1        # parallel: two discretisations of the ramp (ODL's FourierTransform vs ours), 3-8 % measured
FAN_FBP_TOL = 0.2    # fan: both approximate (ODL's is exact only as the fan angle -> 0), 14 % apart measured


@dataclass
class Row:
    modality: str
    preset: str
    check: str
    value: float | None  # None: skipped, with the reason in `note`
    tol: float
    note: str = ""

    @property
    def passed(self) -> bool:
        return self.value is None or (math.isfinite(self.value) and self.value < self.tol)


def rel(a, b) -> float:
    """‖a − b‖ / ‖b‖ in double precision, for tensors or arrays of the same shape."""
    a, b = (torch.as_tensor(np.asarray(t)).to(torch.complex128) for t in (a, b))
    return float((a - b).norm() / b.norm())


def solver_rows(modality, preset, A, y, x_true, spacing, quick):
    """Landweber, CGLS, TV-PDHG and MLEM: ODL's solver on to_odl(A) against bridges.solvers on A."""
    from bridges import reference, solvers
    n = 10 if quick else 30
    yield Row(modality, preset, f"Landweber {n} it, ODL vs torch",
              rel(reference.landweber(A, y, n), solvers.landweber(A, y, n)), SOLVER_TOL)
    # CGLS amplifies rounding (float32 vs float64 runs part after ~6 iterations): compare the first 4
    yield Row(modality, preset, "CGLS 4 it, ODL vs torch", rel(reference.cgls(A, y, 4), solvers.cgls(A, y, 4)),
              SOLVER_TOL)
    w_d, w_r = reference.weights(A)
    lam = 0.02 * float(y.abs().max())
    got = reference.tv_pdhg(A, y, n, lam=lam, nonneg=True)
    plain = solvers.tv_pdhg(math.sqrt(w_r / w_d) * A, math.sqrt(w_r) * y, n, lam=lam * math.sqrt(w_d),
                            spacing=spacing, nonneg=True) / math.sqrt(w_d)
    yield Row(modality, preset, f"TV-PDHG {n} it, ODL vs torch", rel(got, plain), SOLVER_TOL,
              "torch on the isometric plain problem (bridges.reference.tv_pdhg)")
    counts = y.clamp_min(0)
    yield Row(modality, preset, f"MLEM {n // 2} it, ODL vs torch",
              rel(reference.mlem(A, counts, n // 2), solvers.mlem(A, counts, n // 2)), SOLVER_TOL)


# ------------------------------------------------------------------ CT
def ct_presets(quick):
    from bridges.ct import scanner
    size = (32, 32) if quick else (64, 64)
    step = 4 if quick else 2
    siemens = scanner("siemens-definition-as", view_step=16 * step, detector_binning=4 * step, image_shape=size)
    return {
        "lodopab": scanner("lodopab", view_step=25 * step // 2, detector_binning=4 * step, image_shape=size),
        "siemens-definition-as": siemens,
        "siemens, flat detector": _flat(siemens),  # ODL can project this one
        "varian-truebeam-cbct": None,  # 3D cone: ASTRA's 3D projectors need CUDA
    }


def _flat(g):
    fields = {f.name: getattr(g, f.name) for f in dataclasses.fields(g)}
    return type(g)(**{**fields, "detector_curve": "flat"})


def ct_checks(quick):
    import odl
    from odl.applications import tomo

    from bridges import ct, reference
    from bridges.odl import from_odl, odl_geometry, to_odl
    for name, g in ct_presets(quick).items():
        if g is None:
            yield Row("CT", name, "all checks", None, 0, "needs CUDA (3D cone beam)")
            continue
        A = ct.Projector(g)
        yield Row("CT", name, "adjoint test", A.adjoint_error(), ADJOINT_TOL)
        B = to_odl(A)
        x_true = torch.from_numpy(odl.core.phantom.shepp_logan(B.domain, modified=True).asarray().T.copy()) * 0.02
        y = A(x_true)
        arc = getattr(g, "detector_curve", "flat") == "arc"
        if arc:
            yield Row("CT", name, "forward/adjoint vs ODL", None, ODL_TOL, "ODL's ASTRA backends have no arc detector")
        else:
            R = tomo.RayTransform(B.domain, odl_geometry(g), impl="astra_cpu")
            yield Row("CT", name, "forward vs ODL RayTransform", rel(y, R(x_true.numpy().T).asarray()), ODL_TOL)
            z = torch.rand(g.sinogram_shape, generator=torch.Generator().manual_seed(0))
            yield Row("CT", name, "adjoint vs ODL (weighted spaces)",
                      rel(B.adjoint(z.numpy()).asarray(), R.adjoint(z.numpy()).asarray()), ODL_TOL)
            F = from_odl(R)
            yield Row("CT", name, "from_odl(RayTransform) forward", rel(F(x_true.T.contiguous()), R(x_true.numpy().T).asarray()),
                      ODL_TOL)
            fan = isinstance(g, ct.FanBeam2D)
            yield Row("CT", name, "FBP, ODL fbp_op vs bridges.ct.fbp",
                      rel(reference.fbp(A, y, filter_type="Hann"), ct.fbp(A, y, filter="hann")),
                      FAN_FBP_TOL if fan else FBP_TOL, "approximate fan-beam FBP on both sides" if fan else "")
        yield from solver_rows("CT", name, A, y, x_true, g.pixel_size, quick)


# ------------------------------------------------------------------ generic (complex) operators
def generic_checks(quick):
    """A complex dense operator both ways through ODL, and CG-SENSE's normal equations."""
    import odl

    from bridges import MatrixOperator, reference, solvers
    from bridges.odl import from_odl, to_odl
    g = torch.Generator().manual_seed(0)
    M = torch.complex(torch.randn(48, 16, generator=g), torch.randn(48, 16, generator=g))
    A = MatrixOperator(M)
    yield Row("complex", "matrix 48x16", "adjoint test", A.adjoint_error(), ADJOINT_TOL)
    B = to_odl(A, domain=odl.uniform_discr(0, 4, 16, dtype="complex64"))  # weighted: the adjoint is scaled
    u, v = B.domain.element(np.ones(16, dtype="complex64")), B.range.element(M[:, 0].numpy())
    yield Row("complex", "matrix 48x16", "to_odl adjoint in ODL's inner products",
              abs(B(u).inner(v) - u.inner(B.adjoint(v))) / (B(u).norm() * v.norm()), ADJOINT_TOL)
    F = from_odl(odl.MatrixOperator(M.numpy(), domain=odl.cn(16, dtype="complex64"), range=odl.cn(48, dtype="complex64")))
    x = torch.complex(torch.randn(16, generator=g), torch.randn(16, generator=g))
    yield Row("complex", "matrix 48x16", "from_odl forward vs matmul", rel(F(x), M @ x), ODL_TOL)
    y = A(x)
    yield Row("complex", "matrix 48x16", "CG-SENSE 4 it, ODL vs torch CGLS",
              rel(reference.cg_sense(A, y, 4), solvers.cgls(A, y, 4)), SOLVER_TOL)


# ------------------------------------------------------------------ MRI, PET (hooks)
def _cases(module_name, quick):
    """``validation_cases(quick)`` of a modality package: [(preset, operator, independent reference or None)]."""
    import importlib
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError:
        return None
    hook = getattr(module, "validation_cases", None)
    return hook(quick) if hook is not None else []


def mri_checks(quick):
    """Adjoint, forward/adjoint against SigPy (the case's reference Linop), CG-SENSE ODL vs torch."""
    from bridges import reference, solvers
    cases = _cases("bridges.mri", quick)
    if cases is None:
        return
    if not cases:
        yield Row("MRI", "-", "all checks", None, 0, "bridges.mri has no validation_cases(quick) yet")
    for name, A, sp in cases:
        yield Row("MRI", name, "adjoint test", A.adjoint_error(), ADJOINT_TOL)
        g = torch.Generator().manual_seed(0)
        x = torch.complex(torch.randn(A.domain_shape, generator=g), torch.randn(A.domain_shape, generator=g))
        y = A(x)
        if sp is not None:
            yield Row("MRI", name, "forward vs SigPy", rel(y, sp(x.numpy())), ODL_TOL * 10)
            yield Row("MRI", name, "adjoint vs SigPy", rel(A.adjoint(y), sp.H(y.numpy())), ODL_TOL * 10)
        yield Row("MRI", name, "CG-SENSE 4 it, ODL vs torch",
                  rel(reference.cg_sense(A, y, 4), solvers.cgls(A, y, 4)), SOLVER_TOL)


def pet_checks(quick):
    """Adjoint, MLEM and OSEM (subsets from the case's operator list) ODL vs torch."""
    from bridges import reference, solvers
    cases = _cases("bridges.pet", quick)
    if cases is None:
        return
    if not cases:
        yield Row("PET", "-", "all checks", None, 0, "bridges.pet has no validation_cases(quick) yet")
    for name, A, subsets in cases:
        yield Row("PET", name, "adjoint test", A.adjoint_error(), ADJOINT_TOL)
        x = torch.ones(A.domain_shape)
        y = A(x)
        yield Row("PET", name, "MLEM 5 it, ODL vs torch", rel(reference.mlem(A, y, 5), solvers.mlem(A, y, 5)),
                  SOLVER_TOL)
        if subsets:
            ys = [S(x) for S in subsets]
            yield Row("PET", name, "OSEM 2 it, ODL vs torch",
                      rel(reference.osem(subsets, ys, 2), solvers.osem(subsets, ys, 2)), SOLVER_TOL)


CHECKS = {"ct": ct_checks, "complex": generic_checks, "mri": mri_checks, "pet": pet_checks}


def format_table(rows) -> str:
    lines = ["| modality | preset | check | rel. difference | tolerance | result |", "|---|---|---|---|---|---|"]
    for r in rows:
        value = "-" if r.value is None else f"{r.value:.1e}"
        result = f"skipped: {r.note}" if r.value is None else ("pass" if r.passed else "FAIL")
        lines.append(f"| {r.modality} | {r.preset} | {r.check} | {value} | {r.tol:.0e} | {result} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m experiments validate", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small problems and few iterations (CI)")
    parser.add_argument("--only", choices=sorted(CHECKS), action="append", help="run these modalities only")
    parser.add_argument("--out", type=Path, help="also write the table to DIR/validate.md")
    args = parser.parse_args(argv)
    torch.manual_seed(0)
    rows = []
    for key in args.only or CHECKS:
        rows.extend(CHECKS[key](args.quick))
    table = format_table(rows)
    print(table)
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "validate.md").write_text(table + "\n")
    failed = [r for r in rows if not r.passed]
    print(f"\n{len(rows) - len(failed)} of {len(rows)} checks passed" + (f", {len(failed)} FAILED" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
