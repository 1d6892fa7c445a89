"""bench.mri's normal-operator table runs end to end on a tiny problem (its timings are not checked)."""

from experiments.bench import mri as bench_mri


def test_normal_operator_rows_and_note():
    rows, note = bench_mri.normal_operator(reps=1, n=16, coils=2, spokes=8, samples=16, n_iter=3)
    assert [row[0] for row in rows] == ["A^H A x", "CG-SENSE, 3 iterations"]
    assert all(t_fast > 0 and t_direct > 0 and ratio == t_direct / t_fast for _, t_fast, t_direct, ratio in rows)
    gram_diff = float(note.split("A^H A x ")[1].split(";")[0])
    assert gram_diff < 1e-4  # the two normal operators agree, as tests/mri/test_toeplitz.py checks in detail


def test_per_item_rows_and_note():
    rows, note = bench_mri.per_item(reps=1, n_items=3, n=16, coils=2)
    assert [row[0] for row in rows] == ["one per-item operator", "loop over the items' operators"]
    assert all(f > 0 and a > 0 for _, f, a in rows)
    assert float(note.split("difference ")[1]) < 1e-6  # the same numbers, one call or eight
