"""Every modality's operators and solvers against independent references: the rows of `python -m experiments validate`.

A check is a function ``checks(quick) -> iterable of Row`` in one module per modality
(`ct`, `mri`, `pet`, `matrix`), registered in `CHECKS`. Each `Row` carries what it measured,
the tolerance it must meet and a note saying what that tolerance bounds and why it has that
size. A row that cannot run here (no CUDA, no counterpart in the reference) is SKIPPED with
its reason: it is counted apart and never as a pass. The independent references are ODL
(``RayTransform``, ``fbp_op`` and its solvers through `bridges.odl.reference`), SigPy's linops
and apps, SciPy, and closed forms (`analytic`: disks and the rays written from first principles).

Example::

    rows = run_checks(["ct"], quick=True)
    print(format_table(rows)); print(summary(rows)); exit_code(rows)
"""

from __future__ import annotations

import importlib
import math
import traceback
from dataclasses import dataclass

import numpy as np
import torch

__all__ = [
    "CHECKS",
    "FLOAT32",
    "FLOAT32_NOTE",
    "ODL_NOTE",
    "ODL_TOL",
    "Row",
    "exit_code",
    "format_table",
    "rel",
    "run_checks",
    "summary",
]

FLOAT32 = 1e-5  # float32 rounding (ε = 6e-8) grown over the sums and stages of one operator application
FLOAT32_NOTE = "float32 rounding"
# Our projector against ODL's on the same geometry: the same ASTRA kernel, but ODL hands ASTRA angles
# for parallel beams ("parallel") where we hand ray vectors ("parallel_vec"), so the float32 ray
# parameters round apart: measured 3e-6..6e-6 overall (up to 3e-5 in single views); flat fans agree exactly.
ODL_TOL = 3e-5
ODL_NOTE = "float32 rounding, in ASTRA's ray parameters too (ODL gives parallel beams as angles, we as vectors)"

COLUMNS = ("modality", "preset/case", "check", "measured", "tolerance", "result", "what the tolerance bounds")


@dataclass(frozen=True)
class Row:
    """One measurement: ``measured`` (a relative difference) must be at most ``tol``.

    ``bounds`` says what the tolerance bounds and why that size. A skipped row has ``measured``
    and ``tol`` None and the reason in ``skipped``; it is neither passed nor failed.
    """

    modality: str
    case: str
    check: str
    measured: float | None
    tol: float | None
    bounds: str = ""
    skipped: str | None = None

    @classmethod
    def skip(cls, modality: str, case: str, check: str, reason: str) -> Row:
        return cls(modality, case, check, None, None, "", reason)

    @property
    def status(self) -> str:
        """ "SKIPPED", "pass", or "FAIL" (a NaN or infinite measurement fails)."""
        if self.skipped is not None:
            return "SKIPPED"
        ok = self.measured is not None and math.isfinite(self.measured) and self.measured <= self.tol
        return "pass" if ok else "FAIL"

    @property
    def passed(self) -> bool:
        return self.status == "pass"

    @property
    def failed(self) -> bool:
        return self.status == "FAIL"


def rel(a, b) -> float:
    """``‖a − b‖ / ‖b‖`` in double precision (complex128), for tensors or arrays of one shape."""
    a, b = (torch.as_tensor(np.asarray(t.detach().cpu() if isinstance(t, torch.Tensor) else t)) for t in (a, b))
    if a.shape != b.shape:
        raise ValueError(f"rel: expected arrays of one shape, got {tuple(a.shape)} and {tuple(b.shape)}")
    a, b = a.to(torch.complex128), b.to(torch.complex128)
    return float(torch.linalg.vector_norm(a - b) / torch.linalg.vector_norm(b))


# ------------------------------------------------------------------ the table
def _cell(text) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def format_table(rows) -> str:
    """The rows as a markdown table (the README's), one line per row."""
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for r in rows:
        if r.status == "SKIPPED":
            measured, tol, result = "-", "-", f"SKIPPED: {r.skipped}"
        else:
            measured = "nan" if r.measured is None else f"{r.measured:.1e}"
            tol, result = f"{r.tol:.1e}", r.status
        cells = (r.modality, r.case, r.check, measured, tol, result, r.bounds)
        lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    return "\n".join(lines)


def summary(rows) -> str:
    """``"N passed, M FAILED, K skipped"``: skipped rows count apart, never as passed."""
    rows = list(rows)
    counts = {s: sum(r.status == s for r in rows) for s in ("pass", "FAIL", "SKIPPED")}
    return f"{counts['pass']} passed, {counts['FAIL']} FAILED, {counts['SKIPPED']} skipped"


def exit_code(rows) -> int:
    """1 if any row failed, else 0 (skipped rows do not fail the run)."""
    return 1 if any(r.failed for r in rows) else 0


# ------------------------------------------------------------------ the registry
def _module_checks(name: str):
    """The ``checks(quick)`` of module `name`, imported on first call (ODL, SigPy, ASTRA load only when asked)."""

    def checks(quick: bool):
        return importlib.import_module(f"{__name__}.{name}").checks(quick)

    checks.__qualname__ = checks.__name__ = f"{name}.checks"
    return checks


MODALITIES = {
    "ct": "CT",
    "mri": "MRI",
    "pet": "PET",
    "spect": "SPECT",
    "matrix": "matrix",
}  # key -> the table's modality column
CHECKS = {key: _module_checks(key) for key in MODALITIES}


def run_checks(keys, quick: bool, log=None) -> list[Row]:
    """All rows of the modalities ``keys`` in order. A check that raises becomes a FAIL row naming the
    error, so that the table still prints and the run exits non-zero. ``log(row)`` sees each row as it comes."""
    rows = []
    for key in keys:
        try:
            for row in CHECKS[key](quick):
                rows.append(row)
                if log is not None:
                    log(row)
        except Exception as err:  # noqa: BLE001 - any error is a failed check, reported in the table
            last = traceback.extract_tb(err.__traceback__)[-1]
            rows.append(
                Row(
                    MODALITIES.get(key, key),
                    "-",
                    "check raised an exception",
                    float("nan"),
                    0.0,
                    f"{type(err).__name__}: {err} ({last.filename}:{last.lineno})",
                )
            )
            if log is not None:
                log(rows[-1])
    return rows
