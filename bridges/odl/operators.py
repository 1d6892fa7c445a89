"""Operators both ways between this project and ODL: `to_odl` and `from_odl`.

Weighting (the choice made here): ODL's ``uniform_discr`` spaces weight inner
products by the cell volume w, so ``<x, y> = w Σ x̄ y``. `to_odl` keeps ODL's
weighted spaces (for CT exactly those of ODL's ``RayTransform`` on the same
geometry) and takes the adjoint in them::

    to_odl(A).adjoint = (w_range / w_domain) · A^H        (A^H: this project's plain transpose)

so that ODL's solvers, functionals and operator norms behave as on ODL's own
operators: TV-PDHG on ``to_odl(A)`` and on ``RayTransform`` run the same iterates.
`from_odl` goes the other way with odl.contrib.torch's semantics: the result's
adjoint is the plain transpose, ``from_odl(R).adjoint = (w_domain / w_range) · R.adjoint``,
i.e. the gradient of ``sum(R(x) * y)``, which is what autograd needs.
Operators without a geometry get spaces of unit cells (w = 1: both adjoints coincide).
"""

from __future__ import annotations

import numpy as np
import odl
import torch
from odl.applications import tomo
from odl.core.space.base_tensors import TensorSpace

from ..ct.projector import Projector
from ..operator import LinearOperator
from .geometry import data_space, geometry_from_odl, layout, odl_geometry, volume_space

_DTYPES = {
    np.dtype(k): v
    for k, v in [
        ("float32", torch.float32),
        ("float64", torch.float64),
        ("complex64", torch.complex64),
        ("complex128", torch.complex128),
    ]
}


def _inverse(perm):
    return tuple(int(i) for i in np.argsort(perm))


def _identity(n):
    return tuple(int(i) for i in np.arange(n))


def _permute(t: torch.Tensor, perm) -> torch.Tensor:
    """Permute the trailing ``len(perm)`` axes of `t`, leading (batch) axes untouched."""
    lead = t.dim() - len(perm)
    return t.permute(*range(lead), *(lead + p for p in perm))


def weight(space, op=None) -> float:
    """The constant weighting of an ODL tensor space (``TypeError`` for any other space)."""
    where = f" of {op!r}" if op is not None else ""
    if not isinstance(space, TensorSpace):
        raise TypeError(
            f"expected an ODL tensor space (uniform_discr, rn, cn){where}, got {space!r}: "
            "only tensor spaces map to tensors"
        )
    if np.dtype(space.dtype) not in _DTYPES:
        raise TypeError(f"expected a float32/64 or complex64/128 space{where}, got dtype {space.dtype}")
    try:
        return float(space.weighting.const)
    except AttributeError:
        raise TypeError(f"expected a space with constant weighting{where}, got {space.weighting!r}") from None


def torch_dtype(space) -> torch.dtype:
    return _DTYPES[np.dtype(space.dtype)]


def as_tensor(element) -> torch.Tensor:
    """An ODL element (or array) as a tensor; NumPy-backed data are shared, not copied."""
    data = getattr(element, "data", element)
    return torch.from_numpy(data) if isinstance(data, np.ndarray) else torch.as_tensor(data)


def as_array(space, t: torch.Tensor):
    """A tensor as the array type of an ODL space's backend (NumPy, or torch on its device)."""
    return t.detach().cpu().numpy() if space.impl == "numpy" else t.detach().to(space.device)


# ------------------------------------------------------------------ to ODL
class BridgeOperator(odl.Operator):
    """A `LinearOperator` as a linear ``odl.Operator`` (see the module docstring for the weighting).

    ``perms`` take this project's arrays to ODL's (``odl = ours.permute(p)``); ``geometry``
    is the ODL geometry of a CT operator (so that ``fbp_op`` accepts it), else None.
    """

    def __init__(self, op: LinearOperator, domain, range, perms, scale: float = 1.0, geometry=None):
        super().__init__(domain, range, linear=True)
        self.op, self.perms, self.scale, self.geometry = op, tuple(perms), scale, geometry
        self._adjoint: BridgeOperator | None = None

    def _call(self, x):
        with torch.no_grad():
            out = self.op(self.tensor(x, self.domain).to(self.op.device))
        if self.scale != 1.0:
            out = out * self.scale
        return as_array(self.range, _permute(out, self.perms[1]).contiguous())

    def element(self, t: torch.Tensor, space):
        """A tensor in this project's layout as an element of ``space`` (``self.domain`` or ``self.range``)."""
        perm = self.perms[0] if space is self.domain else self.perms[1]
        return space.element(as_array(space, _permute(t, perm).contiguous()))

    def tensor(self, x, space) -> torch.Tensor:
        """An element (or array) of ``space`` (``self.domain`` or ``self.range``) as a tensor in this project's layout."""
        perm = self.perms[0] if space is self.domain else self.perms[1]
        return _permute(as_tensor(x), _inverse(perm)).contiguous()

    @property
    def adjoint(self) -> BridgeOperator:
        if self._adjoint is None:
            scale = weight(self.range) / weight(self.domain) / self.scale
            adjoint = BridgeOperator(self.op.H, self.range, self.domain, self.perms[::-1], scale, self.geometry)
            adjoint._adjoint, self._adjoint = self, adjoint
        return self._adjoint

    def __repr__(self):
        return f"to_odl({self.op!r})" if self.scale == 1.0 else f"to_odl({self.op.H!r}).adjoint"


def _unit_space(shape, dtype):
    half = np.asarray(shape, dtype=float) / 2
    return odl.uniform_discr(-half, half, shape, dtype=str(dtype).replace("torch.", ""))


def to_odl(op: LinearOperator, domain=None, range=None) -> BridgeOperator:
    """``op`` as a linear ``odl.Operator`` with adjoint, on ODL's weighted spaces.

    ``to_odl(A)(x) = A x``, ``to_odl(A).adjoint(y) = (w_range / w_domain) A^H y``.
    A CT `Projector` gets ODL's spaces and layout for its geometry (the domain and range
    of ``RayTransform`` on it: extents in mm, images (x, y), see `bridges.odl.geometry`);
    an operator made by `from_odl` gets back its ODL spaces; any other operator keeps its
    layout on spaces of unit cells, unless ``domain``/``range`` (ODL tensor spaces of the
    operator's shapes and dtypes, e.g. an MRI field of view in mm) are given.

    Shapes: ODL elements of ``domain.shape`` -> ``range.shape``.

    Example::

        >>> from bridges.ct import ParallelBeam2D
        >>> R = to_odl(Projector(ParallelBeam2D(angles=6, n_detectors=12, detector_spacing=1.0, image_shape=(8, 8))))
        >>> x = R.domain.zero()
        >>> odl.solvers.conjugate_gradient_normal(R, x, R(R.domain.one()), niter=10)   # x updated in place
        >>> x.shape
        (8, 8)
    """
    if not isinstance(op, LinearOperator):
        raise TypeError(f"to_odl expects a bridges.LinearOperator, got {type(op).__name__}")
    perms = _identity(len(op.domain_shape)), _identity(len(op.range_shape))
    geometry = None
    spaces = op.odl_spaces if isinstance(op, (OdlLayout, OdlOperator)) else None  # made by from_odl
    if spaces is None and isinstance(op, Projector):
        perms = layout(op.geometry)
        try:
            geometry = odl_geometry(op.geometry)
        except TypeError:  # vector geometries: spaces without an ODL geometry
            geometry = None
        spaces = volume_space(op.geometry), data_space(op.geometry, geometry)
    if spaces is None:
        spaces = _unit_space(op.domain_shape, op.domain_dtype), _unit_space(op.range_shape, op.range_dtype)
    domain = spaces[0] if domain is None else domain
    range = spaces[1] if range is None else range
    for space, perm, shape, dtype, what in (
        (domain, perms[0], op.domain_shape, op.domain_dtype, "domain"),
        (range, perms[1], op.range_shape, op.range_dtype, "range"),
    ):
        weight(space, op)
        expected = tuple(shape[p] for p in perm)
        if tuple(space.shape) != expected or torch_dtype(space) not in (
            dtype,
            {torch.float32: torch.float64, torch.complex64: torch.complex128}.get(dtype),
        ):
            raise ValueError(
                f"to_odl: expected a {what} space of shape {expected} and dtype {dtype}, "
                f"got {space.shape} {space.dtype}"
            )
    return BridgeOperator(op, domain, range, perms, geometry=geometry)


# ------------------------------------------------------------------ from ODL
class OdlLayout(LinearOperator):
    """One of our operators seen in ODL's array layout: ``x -> P_out A P_in^{-1} x``.

    ``projector`` is the operator in this project's layout; ``odl_spaces`` the ODL
    spaces it came from (so that `to_odl` restores them).
    """

    batched_kernels = True

    def __init__(self, op: LinearOperator, perms, odl_spaces=None):
        d, r = perms
        super().__init__(
            tuple(op.domain_shape[p] for p in d), tuple(op.range_shape[p] for p in r), op.domain_dtype, op.range_dtype
        )
        self.projector, self.perms, self.odl_spaces = op, perms, odl_spaces

    def _forward(self, x):
        return _permute(self.projector.forward(_permute(x, _inverse(self.perms[0]))), self.perms[1]).contiguous()

    def _adjoint(self, y):
        return _permute(self.projector.adjoint(_permute(y, _inverse(self.perms[1]))), self.perms[0]).contiguous()


class OdlOperator(LinearOperator):
    """Any linear ODL operator on tensor spaces as a `LinearOperator` (one ODL call per batch item).

    ``forward = op``; ``adjoint = (w_domain / w_range) op.adjoint``, the plain transpose (odl.contrib.torch's
    gradient), so that autograd and the dot-product test hold in plain sums.
    """

    def __init__(self, op):
        super().__init__(op.domain.shape, op.range.shape, torch_dtype(op.domain), torch_dtype(op.range))
        self.op, self.odl_spaces = op, (op.domain, op.range)
        self._scale = weight(op.domain, op) / weight(op.range, op)
        try:
            self._odl_adjoint = op.adjoint
        except NotImplementedError:  # ODL's OpNotImplementedError
            raise TypeError(f"from_odl: {op!r} has no adjoint; a LinearOperator needs one") from None

    def _forward(self, x):
        return as_tensor(self.op(as_array(self.op.domain, x))).to(x.device, self.range_dtype)

    def _adjoint(self, y):
        out = as_tensor(self._odl_adjoint(as_array(self.op.range, y))).to(y.device, self.domain_dtype)
        return out * self._scale if self._scale != 1.0 else out

    def extra_repr(self):
        return f"{self.op!r}"


def from_odl(op) -> LinearOperator:
    """A linear ``odl.Operator`` as a `LinearOperator` (batched, autograd both ways), in ODL's array layout.

    ``from_odl(R)(x) = R(x)``; ``from_odl(R).adjoint(y) = (w_domain / w_range) R.adjoint(y)``, the plain
    transpose. An ODL ``RayTransform`` becomes this project's ASTRA `Projector` on the same geometry
    (``.projector``, in this project's layout; ODL's flat detectors as vector geometries, its circular
    detector as an arc `FanBeam2D`); any other operator is called through ODL item by item.

    Shapes: (*batch, *op.domain.shape) -> (*batch, *op.range.shape).

    Example::

        >>> space = odl.uniform_discr([-4, -4], [4, 4], (8, 8), dtype="float32")
        >>> A = from_odl(tomo.RayTransform(space, tomo.parallel_beam_geometry(space, num_angles=6)))
        >>> A(torch.rand(2, *space.shape)).shape    # 2 sinograms, ODL's layout
        torch.Size([2, 6, 13])
        >>> type(A.projector.geometry).__name__
        'ParallelVec2D'
    """
    if not isinstance(op, odl.Operator):
        raise TypeError(f"from_odl expects an odl.Operator, got {type(op).__name__}")
    if not op.is_linear:
        raise TypeError(f"from_odl: {op!r} is not linear; only linear ODL operators map to a LinearOperator")
    for space in (op.domain, op.range):
        weight(space, op)
    if isinstance(op, tomo.RayTransform):
        geometry = geometry_from_odl(op.geometry, op.domain)
        return OdlLayout(Projector(geometry), layout(geometry), odl_spaces=(op.domain, op.range))
    return OdlOperator(op)
