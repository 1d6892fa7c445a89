"""Parallel-hole SPECT: orbit geometry, collimator-detector response, camera presets, the attenuated and blurred
rotate-and-sum projector, simulation and triple-energy-window scatter; MLEM and OSEM are `bridges.solvers`'."""

from ..solvers import em_step, mlem, osem
from .collimator import Collimator, lead_mu
from .geometry import SPECTGeometry
from .presets import PRESETS, camera, collimator
from .projector import Projector
from .simulate import SPECTData, simulate, tew_scatter

__all__ = [
    "SPECTGeometry",
    "Collimator",
    "lead_mu",
    "PRESETS",
    "camera",
    "collimator",
    "Projector",
    "simulate",
    "SPECTData",
    "tew_scatter",
    "em_step",
    "mlem",
    "osem",
]
