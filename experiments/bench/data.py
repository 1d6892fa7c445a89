"""What the data the quick jobs train on cost, and how far they lie from the reconstruction's own model.

    python -m experiments.bench.data [--items 16] [--markdown PATH]

For the ``ct-lpd``, ``mri-cascade``, ``pet-lpd`` and ``spect-lpd`` tasks, per data model ("continuous": the default, data the
reconstruction did not simulate; "discrete": the reconstruction's operator on the pixel-centre truth):
- ms per item: drawing the phantom, its truth and its noisy data, one thread, median over ``--items`` items;
- the gap ``‖clean − A x‖ / ‖clean‖``: the noiseless data against the reconstruction's (per-item) operator
  applied to the item's truth (0 for the discrete model: the inverse crime), mean over the items;
- the same gap in units of the noise: ``‖clean − A x‖ / ‖y − clean‖``.
Prints a markdown table.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from experiments.bench.markdown import add_markdown_option, markdown_output
from experiments.config import load_config
from experiments.data import item_generator
from experiments.report import markdown_table
from experiments.tasks import build_task

CONFIGS = {"ct": "ct-lpd", "mri": "mri-cascade", "pet": "pet-lpd", "spect": "spect-lpd"}


def measure(modality: str, data_model: str, n_items: int) -> dict:
    """One row of the table: the test split's first ``n_items`` items, generated afresh."""
    cfg = load_config(
        CONFIGS[modality],
        [
            f'data.model="{data_model}"',
            f"data.n_test={n_items}",
            "data.n_train=1",
            "data.n_val=1",
            "data.real_anatomy=false",
        ],
    )
    data = build_task(cfg).test
    seconds, gaps, noise_units = [], [], []
    for i in range(n_items):
        start = time.perf_counter()
        item = data.generate(i)
        seconds.append(time.perf_counter() - start)
        fields, clean = data.simulator(data.phantom(item_generator(data.seed, i))["object"])
        op = data.op if data.item_operator is None else data.item_operator(item)
        with torch.no_grad():
            gap = (clean - op(item["x"])).norm()
        gaps.append(float(gap / clean.norm()))
        noise_units.append(float(gap / (item["y"] - clean).norm()))
    return {
        "task": CONFIGS[modality],
        "data model": data_model,
        "ms / item": 1e3 * statistics.median(seconds),
        "gap to A x (relative)": f"{100 * statistics.mean(gaps):.2f} %",
        "gap / noise": statistics.mean(noise_units),
    }


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m experiments.bench.data",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--items", type=int, default=16)
    add_markdown_option(parser)
    args = parser.parse_args(argv)
    with markdown_output(args.markdown, "python -m experiments.bench.data", argv):
        threads = torch.get_num_threads()
        torch.set_num_threads(1)  # an item is drawn on one thread (in a DataLoader worker, or beside training)
        try:
            rows = [
                measure(modality, model, args.items) for modality in CONFIGS for model in ("continuous", "discrete")
            ]
        finally:
            torch.set_num_threads(threads)
        print(markdown_table(rows, decimals={"ms / item": 1}))


if __name__ == "__main__":
    main()
