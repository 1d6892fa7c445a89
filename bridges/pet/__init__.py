"""PET on ASTRA's line integrals: scanner geometry and presets, the system model, simulation,
Poisson likelihood; MLEM, OSEM and the EM step are `bridges.solvers`'."""

from ..solvers import em_step, mlem, osem
from .likelihood import poisson_nll, poisson_nll_gradient
from .scanner import PRESETS, PETScanner, scanner
from .simulate import PETData, simulate
from .system_model import SystemModel

__all__ = [
    "PETScanner",
    "scanner",
    "PRESETS",
    "SystemModel",
    "simulate",
    "PETData",
    "poisson_nll",
    "poisson_nll_gradient",
    "em_step",
    "mlem",
    "osem",
]
