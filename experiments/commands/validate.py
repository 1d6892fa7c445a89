"""python -m experiments validate [--quick] [--only MODALITY ...] [--out DIR] [--markdown PATH]

Every modality's operators and solvers against independent references (ODL, SigPy, SciPy,
closed forms; the rows are `experiments.validation`'s). Prints the table (markdown: modality,
preset/case, check, measured, tolerance, result, what the tolerance bounds) and the summary
"N passed, M FAILED, K skipped"; with --out also writes the table and summary to DIR/validate.md;
with --markdown PATH writes them to PATH after a line naming the command, date and machine (the docs' table).

Exit status: 1 if any row FAILED (a NaN counts as a failure, as does a check that raised),
0 otherwise, even when rows were SKIPPED (e.g. "needs CUDA"): a skip is reported, never
counted as a pass, and does not fail the run.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

from experiments.bench.markdown import add_markdown_option, markdown_output
from experiments.validation import CHECKS, exit_code, format_table, run_checks, summary


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m experiments validate", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="small problems and few iterations (CI), every modality")
    parser.add_argument(
        "--only",
        choices=list(CHECKS),
        action="append",
        metavar="MODALITY",
        help=f"run only this modality ({', '.join(CHECKS)}); repeatable",
    )
    parser.add_argument("--out", type=Path, metavar="DIR", help="also write the table to DIR/validate.md")
    add_markdown_option(parser)
    args = parser.parse_args(argv)
    torch.manual_seed(0)
    start = time.perf_counter()
    rows = run_checks(args.only or list(CHECKS), args.quick)
    seconds = time.perf_counter() - start
    table, line = format_table(rows), summary(rows)
    with markdown_output(args.markdown, "python -m experiments validate", argv):
        print(table)
        print(f"\n{line} ({'quick' if args.quick else 'full'} run, {seconds:.0f} s)")
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "validate.md").write_text(f"{table}\n\n{line}\n")
    return exit_code(rows)


if __name__ == "__main__":
    sys.exit(main())
