"""python -m experiments evaluate RUN_DIR [section.key=value ...]

The trained model of a run folder against its modality's classical baselines (`experiments.evaluation`).

Example::

    python -m experiments train ct-lpd --out runs/ct-lpd && python -m experiments evaluate runs/ct-lpd
"""

from __future__ import annotations

import argparse
from pathlib import Path

from experiments.evaluation import evaluate, load_run


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m experiments evaluate", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("run_dir", type=Path, help="a folder written by `python -m experiments train`")
    parser.add_argument("overrides", nargs="*", help="section.key=value, e.g. data.n_test=32")
    args = parser.parse_intermixed_args(argv)
    cfg, task, model = load_run(args.run_dir, args.overrides)
    evaluate(task, model, cfg, args.run_dir)
