"""ODL interop: this project's operators as ODL operators and back, and ODL's solvers as references.

    A = to_odl(ct.Projector(geometry))        # an odl.Operator on RayTransform's spaces
    B = from_odl(odl_ray_transform)           # a LinearOperator (ASTRA Projector) in ODL's layout
    x = reference.cgls(A, y, 10)              # ODL's CGLS, bridges.solvers.cgls's signature

`operators` holds the two wrappers, `geometry` the CT geometry conversions, `reference` the solvers.
"""

from . import reference
from .geometry import data_space, geometry_from_odl, layout, odl_geometry, volume_space
from .operators import BridgeOperator, OdlLayout, OdlOperator, from_odl, to_odl

__all__ = [
    "to_odl",
    "from_odl",
    "odl_geometry",
    "geometry_from_odl",
    "volume_space",
    "data_space",
    "layout",
    "BridgeOperator",
    "OdlLayout",
    "OdlOperator",
    "reference",
]
