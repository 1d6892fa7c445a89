"""`python -m experiments validate`: the quick run (CI) measures every modality and passes; skips are not passes."""

import contextlib
import io

import pytest
import torch

from experiments import validation
from experiments.__main__ import main as dispatch
from experiments.commands import validate
from experiments.validation import Row, exit_code, format_table, summary


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    """One quick run for the module's tests: (exit code, printed output, the written validate.md)."""
    out, buffer = tmp_path_factory.mktemp("validate"), io.StringIO()
    with contextlib.redirect_stdout(buffer):
        code = dispatch(["validate", "--quick", "--out", str(out)])
    return code, buffer.getvalue(), (out / "validate.md").read_text()


def table_rows(text, modality):
    return [line for line in text.splitlines() if line.startswith(f"| {modality} |")]


def test_quick_run_passes_and_writes_the_table(quick_run):
    code, out, written = quick_run
    assert code == 0, out
    assert "| FAIL |" not in out and " 0 FAILED" in out
    assert written.startswith(
        "| modality | preset/case | check | measured | tolerance | result | what the tolerance bounds |"
    )
    assert written.count("\n| ") == out.count("\n| ")  # the same rows as printed


def test_quick_run_measures_every_modality(quick_run):
    _, out, _ = quick_run
    ct, mri, pet, matrix = (table_rows(out, m) for m in ("CT", "MRI", "PET", "matrix"))
    assert ct and mri and pet and matrix
    assert any("forward vs ODL RayTransform" in r for r in ct) and any("TV-PDHG" in r for r in ct)
    assert any("FBP (Ram-Lak) vs truth" in r for r in ct) and any("ODL fbp_op (Ram-Lak) vs truth" in r for r in ct)
    assert sum("vs sigpy" in r.lower() for r in mri) >= 6, mri
    assert any("vs SigPy SenseRecon" in r and "| pass |" in r for r in mri)
    assert any("MLEM" in r and "ODL" in r and "| pass |" in r for r in pet)
    assert any("OSEM" in r and "ODL" in r and "| pass |" in r for r in pet)
    assert any("exact chords" in r and ", exact |" in r for r in pet)
    # on a CPU nothing of MRI or PET may be skipped: every row there is a measurement
    assert not [r for r in mri + pet if "SKIPPED" in r]
    assert all("| pass |" in r for r in mri + pet)


def test_skipped_rows_print_as_skipped_with_their_reason(quick_run):
    _, out, _ = quick_run
    skipped = [line for line in out.splitlines() if line.startswith("|") and "| SKIPPED: " in line]
    assert all(line.split("| SKIPPED: ")[1].split("|")[0].strip() for line in skipped)  # each with its reason
    assert all("| - | - |" in line for line in skipped)  # nothing measured, nothing to meet
    assert f"{len(skipped)} skipped" in out
    if not torch.cuda.is_available():
        assert any("varian-truebeam-cbct" in line and "needs CUDA" in line for line in skipped)


def test_a_skip_is_not_a_pass(monkeypatch, capsys):
    def one_pass_one_skip(quick):
        yield Row("CT", "case", "measured", 1e-7, 1e-5, "float32 rounding")
        yield Row.skip("CT", "case", "on the GPU", "needs CUDA")

    monkeypatch.setitem(validation.CHECKS, "ct", one_pass_one_skip)
    assert validate.main(["--quick", "--only", "ct"]) == 0
    out = capsys.readouterr().out
    assert "1 passed, 0 FAILED, 1 skipped" in out
    assert "| SKIPPED: needs CUDA |" in out


@pytest.mark.parametrize("measured", [0.5, float("nan"), float("inf"), None])
def test_a_failing_or_unmeasured_row_fails_the_command(monkeypatch, capsys, measured):
    def broken(quick):
        yield Row("CT", "case", "fine", 1e-7, 1e-5)
        yield Row("CT", "case", "broken", measured, 1e-5, "float32 rounding")

    monkeypatch.setitem(validation.CHECKS, "ct", broken)
    assert validate.main(["--only", "ct"]) == 1
    out = capsys.readouterr().out
    assert out.count("| FAIL |") == 1 and "1 passed, 1 FAILED, 0 skipped" in out


def test_a_check_that_raises_is_a_failed_row(monkeypatch, capsys):
    def crashes(quick):
        yield Row("MRI", "case", "fine", 1e-7, 1e-5)
        raise RuntimeError("reference unavailable")

    monkeypatch.setitem(validation.CHECKS, "mri", crashes)
    assert validate.main(["--only", "mri"]) == 1
    out = capsys.readouterr().out
    assert "reference unavailable" in out and "1 passed, 1 FAILED, 0 skipped" in out


def test_row_status_and_summary_directly():
    rows = [
        Row("PET", "c", "a", 2e-6, 1e-5),
        Row.skip("PET", "c", "b", "needs CUDA"),
        Row("PET", "c", "d", 1e-5, 1e-5),
    ]  # at the tolerance passes
    assert [r.status for r in rows] == ["pass", "SKIPPED", "pass"]
    assert not rows[1].passed and not rows[1].failed
    assert summary(rows) == "2 passed, 0 FAILED, 1 skipped" and exit_code(rows) == 0
    assert exit_code([Row.skip("CT", "c", "x", "needs CUDA")]) == 0
    table = format_table([Row("matrix", "a|b", "c", 1.0, 0.5, "bounds")]).splitlines()
    assert table[2] == "| matrix | a\\|b | c | 1.0e+00 | 5.0e-01 | FAIL | bounds |"  # a '|' in a cell is escaped
