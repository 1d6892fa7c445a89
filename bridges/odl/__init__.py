"""ODL interop: this project's operators as ODL operators and back, and ODL's solvers as references.

Example (the reference solvers take this project's operators, as `bridges.solvers` does)::

    >>> import torch
    >>> from bridges import ct
    >>> P = ct.Projector(ct.ParallelBeam2D(angles=6, n_detectors=12, detector_spacing=1.0, image_shape=(8, 8)))
    >>> A = to_odl(P)                                   # an odl.Operator on RayTransform's spaces
    >>> B = from_odl(A)                                 # back: a LinearOperator in ODL's layout, images (x, y)
    >>> x = reference.cgls(P, P(torch.ones(8, 8)), 10)  # ODL's CGLS, bridges.solvers.cgls's signature

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
