"""python -m experiments COMMAND [args]: each command is a module of `experiments.commands` with main(argv)."""

import importlib
import os
import sys

# OpenMP threads that sleep at a barrier instead of spinning: set before torch (and with it libgomp) loads, and
# only where the user has not chosen. Under competing load a spinning thread that is preempted stalls its team:
# `python -m experiments.bench.threads` measured 8-coil SENSE at 128² at 234 ms instead of 23 ms with two busy
# processes, a learned primal-dual step at 1.9 s instead of 0.57 s; idle, SENSE pays 15 -> 19 ms and the LPD step
# gains 307 -> 228 ms (its threads no longer spin against ASTRA's).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

COMMANDS = {
    "run": "experiments.commands.run",  # a named quick job (README's first command)
    "validate": "experiments.commands.validate",  # every modality against independent references, a table
    "train": "experiments.commands.train",
    "evaluate": "experiments.commands.evaluate",
    "shift": "experiments.commands.shift",
    "keys": "experiments.commands.keys",  # every configuration key with its default, as markdown
    "recon": "experiments.commands.recon",  # one raw file (fastMRI, ISMRMRD, LoDoPaB, DICOM-CT-PD) to an image
    "uncertainty": "experiments.commands.uncertainty",  # calibrated per-pixel intervals of a trained job
}


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] not in COMMANDS:
        print(f"usage: python -m experiments {{{'|'.join(COMMANDS)}}} [args]", file=sys.stderr)
        return 2
    return importlib.import_module(COMMANDS[argv[0]]).main(argv[1:]) or 0


if __name__ == "__main__":
    sys.exit(main())
