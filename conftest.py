"""Collection rules for the doctest run, ``python -m pytest --doctest-modules bridges learned``."""

import importlib.util

# bridges.deepinv wraps deepinv, which the main environment does not install (it needs a torchvision that does not
# load beside the CPU torch build; CI tests it in a separate environment, .ci/run): without deepinv, importing the
# module for its doctests would fail the whole collection.
collect_ignore = [] if importlib.util.find_spec("deepinv") else ["bridges/deepinv"]
