"""CT on the ASTRA toolbox: geometries in mm, the projector, FBP/FDK, scanner presets."""

from .geometry import (
    ConeBeam3D,
    ConeVec3D,
    CylConeVec3D,
    FanBeam2D,
    FanVec2D,
    ParallelBeam2D,
    ParallelBeam3D,
    ParallelVec2D,
    ParallelVec3D,
    uniform_angles,
)
from .projector import Projector

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
    "Projector",
]
from .fbp import fbp, fdk, ramp_filter
from .presets import PRESETS, scanner

__all__ += ["fbp", "fdk", "ramp_filter", "scanner", "PRESETS"]
