"""python -m experiments keys

Every configuration key, as markdown: its section, default, what it allows and one line of documentation, generated
from the declaration in `experiments.config` (`config.reference`).

Example::

    python -m experiments keys > keys.md
"""

from __future__ import annotations

import argparse

from experiments.config import reference


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m experiments keys", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.parse_args(argv)
    print(reference(), end="")
