"""ODL interop: `to_odl`, `from_odl` and the CT geometry conversions (see `bridges.odl`)."""
from .geometry import data_space, geometry_from_odl, layout, odl_geometry, volume_space
from .wrap import BridgeOperator, OdlLayout, OdlOperator, from_odl, to_odl

__all__ = ["to_odl", "from_odl", "odl_geometry", "geometry_from_odl", "volume_space", "data_space", "layout",
           "BridgeOperator", "OdlLayout", "OdlOperator"]
