"""python -m experiments COMMAND [args]: each command is a module of `experiments.commands` with main(argv)."""
import importlib
import sys

COMMANDS = {
    "run": "experiments.commands.run",            # a named quick job (README's first command)
    "validate": "experiments.commands.validate",  # every modality against independent references, a table
    "train": "experiments.commands.train",
    "evaluate": "experiments.commands.evaluate",
    "shift": "experiments.commands.shift",
}


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] not in COMMANDS:
        print(f"usage: python -m experiments {{{'|'.join(COMMANDS)}}} [args]", file=sys.stderr)
        return 2
    return importlib.import_module(COMMANDS[argv[0]]).main(argv[1:]) or 0


if __name__ == "__main__":
    sys.exit(main())
