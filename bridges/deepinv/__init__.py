"""deepinv interop: our operators as deepinv physics (`to_physics`), deepinv's physics as operators (`from_physics`).

Both ways autograd-aware. Needs deepinv, which runs in a second environment (docs/deepinv.md).

Shapes: deepinv's tensors are ``(B, C, *shape)``, ours ``(B, *shape)``: C is one channel for a real space, and
deepinv's two real channels (real, imaginary: the layout of ``deepinv.physics.MRI``) for a complex one::

    ours (B, *shape) float    <->  deepinv (B, 1, *shape)
    ours (B, *shape) complex  <->  deepinv (B, 2, *shape)    channel 0 the real part, 1 the imaginary part

A real operator takes any C, its channels as batch items (an RGB image through a CT projector or a blur).

Example (needs deepinv, hence skipped by doctest)::

    >>> import deepinv, torch                                               # doctest: +SKIP
    >>> from bridges import ct                                              # doctest: +SKIP
    >>> from bridges.deepinv import from_physics, to_physics                # doctest: +SKIP
    >>> A = ct.Projector(ct.scanner("siemens-definition-as", view_step=36, detector_binning=8, image_shape=(64, 64)))  # doctest: +SKIP
    >>> physics = to_physics(A, noise=deepinv.physics.GaussianNoise(0.05))  # doctest: +SKIP
    >>> physics(torch.rand(4, 1, 64, 64)).shape                             # doctest: +SKIP
    torch.Size([4, 1, 64, 92])
    >>> B = from_physics(deepinv.physics.Blur(deepinv.physics.blur.gaussian_blur(1.0)), (32, 32))  # doctest: +SKIP
    >>> B.range_shape                                                       # doctest: +SKIP
    (24, 24)
"""

from __future__ import annotations

import torch
from deepinv.physics import LinearPhysics
from deepinv.physics.noise import ZeroNoise

from ..operator import LinearOperator

__all__ = ["to_physics", "from_physics", "OperatorPhysics", "PhysicsOperator", "to_channels", "from_channels"]

_REAL = {torch.complex64: torch.float32, torch.complex128: torch.float64}
_COMPLEX = {torch.float32: torch.complex64, torch.float64: torch.complex128}


def to_channels(t: torch.Tensor, ndim: int) -> torch.Tensor:
    """Ours to deepinv's: a channel axis before the last ``ndim`` axes, 2 channels (real, imaginary) for a complex
    tensor, 1 for a real one.

    Shapes: (*batch, *shape) -> (*batch, C, *shape), C = 2 complex, 1 real.
    """
    axis = t.dim() - ndim
    if t.is_complex():
        return torch.stack([t.real, t.imag], dim=axis)
    return t.unsqueeze(axis)


def from_channels(t: torch.Tensor, ndim: int, complex: bool, what: str = "input") -> torch.Tensor:
    """deepinv's to ours: the inverse of `to_channels`, the channel axis before the last ``ndim`` axes removed
    (``complex``: its two channels made the real and imaginary parts).

    Shapes: (*batch, C, *shape) -> (*batch, *shape), C = 2 if ``complex``, else 1.
    """
    channels = 2 if complex else 1
    axis = t.dim() - ndim - 1
    if axis < 0 or t.shape[axis] != channels:
        kind = "2 channels (real, imaginary) for a complex space" if complex else "1 channel for a real space"
        raise ValueError(f"expected {what} of shape (B, {channels}, ...{ndim} axes), {kind}, got {tuple(t.shape)}")
    if complex:
        return torch.complex(t.select(axis, 0), t.select(axis, 1))
    return t.squeeze(axis)


# ------------------------------------------------------------------ ours to deepinv
class OperatorPhysics(LinearPhysics):
    """A `LinearOperator` as a ``deepinv.physics.LinearPhysics``: ``A`` is its forward, ``A_adjoint`` its adjoint
    (``op.H``), through this project's autograd bridge, so that deepinv's solvers, losses and trained models run on
    it and gradients flow back through the operator.

    Shapes: ``A``: (B, C, *op.domain_shape) -> (B, C', *op.range_shape), ``A_adjoint`` the reverse; C = 2 for a
    complex space (real, imaginary channels), else 1; a real operator also takes any C, its channels as batch items.
    Keyword arguments deepinv passes to ``A`` (a mask to update on the fly) are ignored: the operator is fixed.
    """

    def __init__(self, op: LinearOperator, noise_model=None, **kwargs):
        channels = 2 if op.domain_dtype.is_complex else 1
        super().__init__(
            noise_model=ZeroNoise() if noise_model is None else noise_model,
            img_size=(channels, *op.domain_shape),
            device=op.device,
            **kwargs,
        )
        self.op = op

    def _map(self, fn, t, in_shape, in_complex, out_shape, out_complex, what):
        # A real operator's (B, C, *shape) is its own batch (B, C): applied as it is, C channels as items
        if not in_complex and not out_complex:
            return fn(t)
        return to_channels(fn(from_channels(t, len(in_shape), in_complex, what)), len(out_shape))

    def A(self, x: torch.Tensor, **kwargs) -> torch.Tensor:
        """The operator's forward map on deepinv's tensors: (B, C, *domain_shape) -> (B, C', *range_shape)."""
        op = self.op
        return self._map(
            op.forward,
            x,
            op.domain_shape,
            op.domain_dtype.is_complex,
            op.range_shape,
            op.range_dtype.is_complex,
            "input",
        )

    def A_adjoint(self, y: torch.Tensor, **kwargs) -> torch.Tensor:
        """The operator's adjoint on deepinv's tensors: (B, C', *range_shape) -> (B, C, *domain_shape)."""
        op = self.op
        return self._map(
            op.adjoint,
            y,
            op.range_shape,
            op.range_dtype.is_complex,
            op.domain_shape,
            op.domain_dtype.is_complex,
            "adjoint input",
        )

    def __repr__(self):
        return f"to_physics({self.op!r})"


def to_physics(A: LinearOperator, noise=None, **kwargs) -> OperatorPhysics:
    """``A`` as a ``deepinv.physics.LinearPhysics`` whose ``A``/``A_adjoint`` are ``A(x)``/``A.H(y)``.

    ``noise``: a deepinv noise model (``deepinv.physics.GaussianNoise(sigma)``, ``PoissonNoise``), deepinv's
    ``noise_model``: ``physics(x)`` is then ``noise(A x)``, ``physics.A(x)`` stays ``A x``. ``kwargs`` go to
    ``LinearPhysics`` (``max_iter``, ``tol``, ``solver`` of its ``A_dagger``).

    Shapes: deepinv's (B, 1, *A.domain_shape) -> (B, 1, *A.range_shape) for a real operator (any number of
    channels C instead of 1: each is an item); a complex space as deepinv's two real channels (real, imaginary),
    (B, 2, *shape), as ``deepinv.physics.MRI`` and ``MultiCoilMRI`` (``bridges.mri.CartesianSense`` with maps
    (coils, y, x): (B, 2, y, x) -> (B, 2, coils, y, x)).

    Example::

        physics = to_physics(ct.Projector(geometry), noise=deepinv.physics.GaussianNoise(0.05))
        y = physics(x)                                  # x (B, 1, *image_shape) -> y (B, 1, views, detectors)
    """
    if not isinstance(A, LinearOperator):
        raise TypeError(f"expected a bridges LinearOperator, got {type(A).__name__}")
    return OperatorPhysics(A, noise, **kwargs)


# ------------------------------------------------------------------ deepinv to ours
def _physics_device(physics) -> torch.device:
    buffer = next(physics.buffers(), None)
    return torch.device("cpu") if buffer is None else buffer.device


class PhysicsOperator(LinearOperator):
    """A ``deepinv.physics.LinearPhysics`` as a `LinearOperator`: its ``A`` the forward kernel, its ``A_adjoint``
    the adjoint one, applied to a whole batch at once (outside autograd: the bridge differentiates them). Its noise
    model is not part of the operator.

    ``channel_axis`` True: deepinv sees (N, 1, *domain_shape) for a real space, (N, 2, *domain_shape) for a
    complex one (`to_channels`); False: (N, *domain_shape) as it is (real only), for a physics whose channels are
    part of the image (an RGB blur with a (1, 3, h, w) filter: domain_shape (3, H, W)).
    """

    batched_kernels = True

    def __init__(self, physics, domain_shape, range_shape, dtype=torch.float32, channel_axis: bool = True):
        super().__init__(domain_shape, range_shape, dtype)
        if not channel_axis and dtype.is_complex:
            raise ValueError("a complex space is deepinv's two channels (real, imaginary): it needs channel_axis=True")
        self.physics, self.channel_axis = physics, channel_axis

    def _physics_call(self, fn, t, in_shape, out_shape, what):
        if self.channel_axis:
            t = to_channels(t, len(in_shape))
        out = fn(t)
        if not isinstance(out, torch.Tensor):
            raise TypeError(f"{what} of {type(self.physics).__name__} gave a {type(out).__name__}, expected a tensor")
        if self.channel_axis:
            out = from_channels(out, len(out_shape), self.range_dtype.is_complex, f"the output of {what}")
        if tuple(out.shape) != (t.shape[0], *out_shape):
            raise ValueError(
                f"{what} of {type(self.physics).__name__} gave shape {tuple(out.shape)}, expected "
                f"{(t.shape[0], *out_shape)}"
            )
        return out.contiguous()

    def _forward(self, x):
        return self._physics_call(self.physics.A, x, self.domain_shape, self.range_shape, "A")

    def _adjoint(self, y):
        return self._physics_call(self.physics.A_adjoint, y, self.range_shape, self.domain_shape, "A_adjoint")

    def extra_repr(self) -> str:
        return f"{type(self.physics).__name__}, {super().extra_repr()}"


def from_physics(P, domain_shape, range_shape=None, dtype=torch.float32, channel_axis: bool = True) -> LinearOperator:
    """A ``deepinv.physics.LinearPhysics`` as a `LinearOperator` (``PhysicsOperator``): forward ``P.A``, adjoint
    ``P.A_adjoint``, so that `bridges.testing`'s checks and `bridges.solvers` run on it.

    ``domain_shape``: the image without deepinv's batch and channel axes, ``(H, W)``; ``dtype``: float32 or
    float64 as ``P``'s own tensors (a blur filter) are, or complex64/complex128 for a physics on deepinv's two
    real channels (``deepinv.physics.MRI``: ``from_physics(MRI(mask=m), (H, W), dtype=torch.complex64)``).
    ``range_shape``: the measurements' shape, likewise without batch and channel axes; by default found by applying
    ``P`` once to zeros. ``channel_axis``: see `PhysicsOperator` (False for a physics whose image channels
    interact; its shapes then include them).

    Shapes: forward (*batch, *domain_shape) -> (*batch, *range_shape); deepinv sees (N, C, *domain_shape), C = 1 real,
    2 complex.

    Example::

        B = from_physics(deepinv.physics.Blur(deepinv.physics.blur.gaussian_blur(1.0)), (32, 32))
        bridges.testing.check_operator(B)
    """
    if not isinstance(P, LinearPhysics):
        raise TypeError(f"expected a deepinv LinearPhysics, got {type(P).__name__}")
    if dtype not in _REAL and dtype not in _COMPLEX:
        raise TypeError(f"dtype must be float32, float64, complex64 or complex128, got {dtype}")
    if range_shape is None:
        shape = tuple(int(s) for s in domain_shape)
        channels = (2 if dtype.is_complex else 1) if channel_axis else 0
        lead = (channels,) if channel_axis else ()
        zeros = torch.zeros(1, *lead, *shape, dtype=_REAL.get(dtype, dtype), device=_physics_device(P))
        try:
            with torch.no_grad():
                out = P.A(zeros)
        except (RuntimeError, AssertionError, ValueError) as e:  # deepinv asserts its shapes
            raise ValueError(
                f"A of {type(P).__name__} failed on {tuple(zeros.shape)}: {e}; a physics whose image has channels of "
                "its own needs channel_axis=False and them in domain_shape"
            ) from e
        if not isinstance(out, torch.Tensor):
            raise TypeError(f"A of {type(P).__name__} gave a {type(out).__name__}, expected a tensor")
        if channel_axis:
            if out.dim() < 2 or out.shape[1] != channels:
                raise ValueError(
                    f"A of {type(P).__name__} on (1, {channels}, *{shape}) gave shape {tuple(out.shape)}: expected "
                    f"{channels} channel(s); pass channel_axis=False for a physics whose channels are the image's"
                )
            range_shape = tuple(out.shape[2:])
        else:
            range_shape = tuple(out.shape[1:])
    return PhysicsOperator(P, domain_shape, range_shape, dtype, channel_axis)
