"""The learned benchmark runs end to end on a tiny problem (its figures are not checked: timing is no test)."""
from experiments.bench import learned as bench_learned


def test_bench_learned_prints_a_row_per_batch(capsys):
    bench_learned.main(["--size", "16", "--views", "4", "--batches", "1", "2", "--steps", "1"])
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| ") and line[2].isdigit()]
    assert [row.split("|")[1].strip() for row in rows] == ["1", "2"]
    assert all(row.split("|")[5].strip() == "39" for row in rows)  # 10 forward, 10 adjoint, 19 in backward
