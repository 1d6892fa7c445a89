"""ODL interop: this project's operators as ODL operators and back.

    A = to_odl(ct.Projector(geometry))        # an odl.Operator on RayTransform's spaces
    B = from_odl(odl_ray_transform)           # a LinearOperator (ASTRA Projector) in ODL's layout

The implementation lives in `bridges.odl_interop` (wrappers, geometry conversions).
"""
from .odl_interop import (BridgeOperator, OdlLayout, OdlOperator, data_space, from_odl, geometry_from_odl,
                          layout, odl_geometry, to_odl, volume_space)

__all__ = ["to_odl", "from_odl", "odl_geometry", "geometry_from_odl", "volume_space", "data_space", "layout",
           "BridgeOperator", "OdlLayout", "OdlOperator"]
