"""Real cameras and collimators, and the orbits they run.

Each entry gives the collimator's hole diameter, hole length and septal thickness (mm) and the camera's
intrinsic resolution (FWHM at 140 keV, mm), with where each number comes from. "SIMIND" means the collimator
table of the SIMIND Monte Carlo program (Ljungberg), as shipped in PyTomography 3.4
(``pytomography/data/collim.col``, read as data); "recalled" means a vendor data-sheet value given from
memory and not checked against the sheet here.
"""

from __future__ import annotations

import math
from typing import Any

from .collimator import Collimator, lead_mu
from .geometry import SPECTGeometry

__all__ = ["PRESETS", "collimator", "camera"]

PRESETS: dict[str, dict[str, Any]] = {
    "siemens-symbia-lehr": {
        "camera": "Siemens Symbia (S, T, Intevo), LEHR collimator",
        "hole_diameter": 1.11,
        "hole_length": 24.05,
        "septal_thickness": 0.16,  # SIMIND "SY-LEHR" (hex holes)
        "intrinsic_fwhm": 3.8,  # UFOV at 140 keV, Siemens Symbia data sheet (recalled)
        "source": "collimator: SIMIND SY-LEHR (0.111 cm, 2.405 cm, 0.016 cm), agreeing with the Siemens data "
        "sheet's 1.11 mm / 24.05 mm / 0.16 mm (recalled); intrinsic 3.8 mm: data sheet (recalled)",
    },
    "ge-discovery-670-lehr": {
        "camera": "GE Discovery NM/CT 670 (and Infinia), LEHR collimator",
        "hole_diameter": 1.5,
        "hole_length": 35.0,
        "septal_thickness": 0.2,  # SIMIND "GI-LEHR" / "G8-LEHR"
        "intrinsic_fwhm": 3.9,  # UFOV at 140 keV, GE data sheet (recalled)
        "source": "collimator: SIMIND GI-LEHR (GE Infinia) and G8-LEHR (GE 870 DR), 0.150 / 3.500 / 0.020 cm, the "
        "LEHR the Discovery 670 shares (recalled: hexagonal 1.5 mm holes, 35 mm, 0.2 mm septa); "
        "intrinsic 3.9 mm: data sheet (recalled)",
    },
}


def collimator(name: str, energy_kev: float = 140.5, gap: float = 0.0) -> Collimator:
    """The preset's collimator and intrinsic resolution at ``energy_kev`` (lead septa: μ from NIST XCOM; intrinsic
    resolution scaled as E^(−1/2) from 140 keV, the Anger camera's photon statistics). ``gap``: the distance c from
    the collimator's back face to the crystal mid-plane, not in the tables, 0 by default (as PyTomography).

    Example::

        >>> round(float(collimator("siemens-symbia-lehr").fwhm(150.0)), 1)   # mm at 15 cm
        9.1
    """
    if name not in PRESETS:
        raise ValueError(f"expected a preset among {sorted(PRESETS)}, got {name!r}")
    p = PRESETS[name]
    return Collimator(
        p["hole_diameter"],
        p["hole_length"],
        p["septal_thickness"],
        lead_mu(energy_kev),
        p["intrinsic_fwhm"] * math.sqrt(140.0 / energy_kev),
        gap,
        name,
    )


def camera(
    name: str,
    image_shape=(2, 128, 128),
    pixel_size: float = 4.42,
    n_views: int = 120,
    radius=250.0,
    heads: int = 2,
    **orbit,
) -> tuple:
    """A preset's collimator and a circular step-and-shoot orbit (`SPECTGeometry.circular`; 128 × 128 at 4.42 mm
    pixels, 120 views of two heads in H-mode at 25 cm by default): ``(geometry, collimator)``.

    Example::

        >>> geometry, lehr = camera("siemens-symbia-lehr")     # then Projector(geometry, lehr, attenuation=mu)
        >>> geometry.range_shape, lehr.name
        ((2, 120, 128), 'siemens-symbia-lehr')
    """
    energy = orbit.pop("energy_kev", 140.5)
    return SPECTGeometry.circular(image_shape, pixel_size, n_views, radius, heads=heads, **orbit), collimator(
        name, energy
    )
