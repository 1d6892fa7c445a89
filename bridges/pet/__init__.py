"""PET on ASTRA's line integrals: scanner geometry and presets, the system model, simulation,
Poisson likelihood, and MLEM/OSEM."""
from .em import em_step, mlem, osem, sensitivity
from .likelihood import poisson_nll, poisson_nll_gradient
from .scanner import PETScanner
from .simulate import PETData, simulate
from .system_model import SystemModel

__all__ = ["PETScanner", "SystemModel", "simulate", "PETData", "poisson_nll", "poisson_nll_gradient",
           "sensitivity", "em_step", "mlem", "osem"]
