"""The CI version of `python -m experiments validate`: small problems, every row must pass."""
from experiments import validate
from experiments.__main__ import main as dispatch


def test_validate_quick_passes(capsys, tmp_path):
    assert dispatch(["validate", "--quick", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "forward vs ODL RayTransform" in out and "TV-PDHG" in out and "FAIL" not in out
    assert (tmp_path / "validate.md").read_text().startswith("| modality |")


def test_a_failing_row_fails_the_command(monkeypatch, capsys):
    def broken(quick):
        yield validate.Row("CT", "broken", "adjoint test", 0.5, validate.ADJOINT_TOL)
        yield validate.Row("CT", "broken", "not computed", float("nan"), 1.0)
    monkeypatch.setitem(validate.CHECKS, "ct", broken)
    assert validate.main(["--quick", "--only", "ct"]) == 1
    out = capsys.readouterr().out
    assert out.count("| FAIL |") == 2 and "0 of 2 checks passed, 2 FAILED" in out
