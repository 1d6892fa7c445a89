"""The collimator-detector response of a parallel-hole gamma camera: a Gaussian whose width grows with the
source's distance from the collimator face.

Geometric resolution of a parallel-hole collimator (Cherry, Sorenson & Phelps, *Physics in Nuclear Medicine*,
4th ed., Elsevier 2012, ch. 14 "The Gamma Camera: Performance Characteristics", section on collimator
resolution, eqs. 14-6 and 14-7; section and equation numbers recalled)::

    R_col(d) = D · (L_eff + d + c) / L_eff,        L_eff = L − 2 / μ

with D the hole diameter, L the hole length, μ the linear attenuation coefficient of the septa material at the
photon energy (septal penetration shortens the effective length), d the distance from the source to the
collimator face and c the distance from the collimator's back face to the mid-plane of the crystal. The
system resolution adds the intrinsic resolution R_int in quadrature (same chapter, "system resolution")::

    FWHM(d) = sqrt(R_int² + R_col(d)²)

PyTomography's ``get_psfmeta_from_scanner_params`` uses the same model with c = 0.
Lengths in mm, μ in 1/mm.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = ["Collimator", "lead_mu", "FWHM_PER_SIGMA"]

FWHM_PER_SIGMA = 2 * math.sqrt(2 * math.log(2))

# NIST XCOM (Berger et al., NIST Standard Reference Database 8), lead: photon energy (keV) -> total mass
# attenuation with coherent scattering (cm²/g); density 11.35 g/cm³. Read from the copy PyTomography 3.4 ships
# (pytomography/data/NIST_attenuation_data/lead.csv), the rows from 100 to 800 keV (above lead's K edge, 88 keV).
_LEAD_XCOM = (
    (100.0, 5.549),
    (150.0, 2.014),
    (200.0, 0.9985),
    (300.0, 0.4031),
    (400.0, 0.2323),
    (500.0, 0.1614),
    (600.0, 0.1248),
    (800.0, 0.0887),
)
_LEAD_DENSITY = 11.35  # g/cm³


def lead_mu(energy_kev: float) -> float:
    """Linear attenuation coefficient of lead in 1/mm at ``energy_kev`` (100-800 keV), log-log interpolation
    of NIST XCOM (2.692/mm at 140.5 keV, Tc-99m; PyTomography 3.4 interpolates the same table to 2.834)."""
    e, m = np.log(np.array(_LEAD_XCOM)).T
    if not _LEAD_XCOM[0][0] <= energy_kev <= _LEAD_XCOM[-1][0]:
        raise ValueError(f"expected an energy in [100, 800] keV (above lead's K edge), got {energy_kev!r}")
    return float(np.exp(np.interp(math.log(energy_kev), e, m))) * _LEAD_DENSITY / 10.0


@dataclass(frozen=True)
class Collimator:
    """A parallel-hole collimator on a camera: its depth-dependent Gaussian response ``fwhm(d)``.

    Fields (mm, μ in 1/mm): ``hole_diameter`` D, ``hole_length`` L, ``septal_thickness`` (kept for the record and
    the geometric efficiency; the resolution model does not use it), ``septa_mu`` μ of the septa at the imaged
    energy, ``intrinsic_fwhm`` R_int of the camera at that energy, ``gap`` c (collimator back face to crystal
    mid-plane), ``name`` for printing.

    Example::

        >>> lehr = Collimator(hole_diameter=1.11, hole_length=24.05, septal_thickness=0.16, septa_mu=lead_mu(140.5),
        ...                   intrinsic_fwhm=3.8)
        >>> round(float(lehr.fwhm(100.0)), 1)     # mm at 10 cm
        7.0
    """

    hole_diameter: float
    hole_length: float
    septal_thickness: float
    septa_mu: float
    intrinsic_fwhm: float = 0.0
    gap: float = 0.0
    name: str = ""

    def __post_init__(self):
        for field in ("hole_diameter", "hole_length", "septa_mu"):
            value = getattr(self, field)
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"expected a positive {field}, got {value!r}")
        for field in ("septal_thickness", "intrinsic_fwhm", "gap"):
            value = getattr(self, field)
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"expected a non-negative {field}, got {value!r}")
        if self.effective_length <= 0:
            raise ValueError(
                f"effective hole length L − 2/μ = {self.effective_length:.3g} mm is not positive: "
                f"expected hole_length > 2/septa_mu"
            )

    @property
    def effective_length(self) -> float:
        """L_eff = L − 2/μ in mm."""
        return self.hole_length - 2.0 / self.septa_mu

    def collimator_fwhm(self, distance):
        """R_col(d) = D (L_eff + d + c) / L_eff in mm, for d (mm, ≥ 0) a number or an array."""
        d = np.asarray(distance, dtype=float)
        return self.hole_diameter * (self.effective_length + d + self.gap) / self.effective_length

    def fwhm(self, distance):
        """System FWHM sqrt(R_int² + R_col(d)²) in mm at distance d (mm) from the collimator face."""
        return np.sqrt(self.intrinsic_fwhm**2 + self.collimator_fwhm(distance) ** 2)

    def sigma(self, distance):
        """The Gaussian's standard deviation, FWHM / (2 sqrt(2 ln 2)), in mm."""
        return self.fwhm(distance) / FWHM_PER_SIGMA

    def geometric_efficiency(self, hex_holes: bool = True) -> float:
        """g ≈ K² (D / L_eff)² D² / (D + t)², K = 0.26 for hexagonal holes (0.28 square), the same chapter (recalled)."""
        k = 0.26 if hex_holes else 0.28
        d, t = self.hole_diameter, self.septal_thickness
        return k**2 * (d / self.effective_length) ** 2 * d**2 / (d + t) ** 2
