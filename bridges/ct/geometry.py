"""CT acquisition geometries in physical units, and their conversion to ASTRA.

World coordinates are in mm with the isocentre at the origin; angles are in
radians. A geometry holds the reconstruction grid too, so that one object
fixes the operator.

Axes (DESIGN.md): 2D images ``(y, x)``, index increasing with the coordinate;
3D volumes ``(z, y, x)``; 2D sinograms ``(views, detector)``; 3D projections
``(detector rows, views, detector columns)``. A 2D image here is ODL's array
transposed (ODL indexes ``(x, y)``).

Rotation conventions follow ODL, so that the same parameters give the same data:
at angle θ a parallel beam travels along ``(-sin θ, cos θ)`` onto a detector whose
axis is ``(cos θ, sin θ)``; a fan-beam source sits at ``R_s (sin θ, -cos θ)``
and the detector centre at ``R_d (-sin θ, cos θ)``. In 3D the rotation axis is z
and detector rows run along z.
"""

from __future__ import annotations

from .circular_2d import FanBeam2D, ParallelBeam2D
from .circular_3d import ConeBeam3D, ParallelBeam3D
from .geometry_base import uniform_angles
from .vector_geometry import ConeVec3D, CylConeVec3D, FanVec2D, ParallelVec2D, ParallelVec3D

__all__ = [
    "ParallelBeam2D",
    "FanBeam2D",
    "ParallelVec2D",
    "FanVec2D",
    "ParallelBeam3D",
    "ConeBeam3D",
    "ParallelVec3D",
    "ConeVec3D",
    "CylConeVec3D",
    "uniform_angles",
]
