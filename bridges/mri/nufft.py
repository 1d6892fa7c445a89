"""Non-uniform FFT as an operator, with FINUFFT, cuFINUFFT or SigPy computing it.

    y_j = (prod N)^(-1/2) Σ_r x[r] exp(-2πi Σ_d k_jd (r_d - N_d//2) / N_d)

with coordinates k in SigPy's convention: cycles per FOV, k[..., d] in [-N_d/2, N_d/2],
the last axis of ``coords`` ordered as the image axes (y, x). The scaling is SigPy's,
so with accurate settings the backends agree with ``sigpy.linop.NUFFT`` and with
the exact sum `ndft_matrix`.

Example::

    >>> from bridges.mri import radial
    >>> A, x = NUFFT((8, 8), radial(6, 16, (8, 8))), torch.randn(2, 8, 8, dtype=torch.complex64)
    >>> y = A(x)                      # (*batch, 8, 8) -> (*batch, 6 spokes, 16 samples)
    >>> y.shape, A.H(y).shape
    (torch.Size([2, 6, 16]), torch.Size([2, 8, 8]))
    >>> z = A.gram()(x)               # A^H A x by its Toeplitz embedding (module `toeplitz`)

Coordinates that require grad get gradients through autograd (module `trajectory_gradients`).
"""

from __future__ import annotations

import math
import numbers

import torch

from ..operator import LinearOperator
from . import nufft_backends as backends
from .toeplitz import DirectNormal, ToeplitzNormal, checked_weights, toeplitz_spectrum
from .trajectory_gradients import coordinate_vjp

BACKENDS = ("auto", "finufft", "cufinufft", "sigpy")


def check_coords(coords, image_shape) -> torch.Tensor:
    """Coordinates as float32 (..., ndim), checked against SigPy's range [-N/2, N/2] per axis."""
    c = torch.as_tensor(coords)
    if c.is_complex() or not c.is_floating_point():
        raise TypeError(f"expected real floating-point coordinates, got {c.dtype}")
    ndim = len(image_shape)
    if c.dim() < 2 or c.shape[-1] != ndim:
        raise ValueError(f"expected coordinates of shape (..., {ndim}) for a {ndim}D image, got {tuple(c.shape)}")
    check_coord_values(c, image_shape)
    return c.to(torch.float32).contiguous()


def check_coord_values(c: torch.Tensor, image_shape) -> None:
    """Raise unless `c` holds at least one point, all finite and in SigPy's range [-N/2, N/2] per axis.

    Run at construction and again whenever shared coordinates have changed in place (`NUFFT.kernel`): FINUFFT
    crashes the process (SIGSEGV) on a NaN or Inf point, and folds a far-out one back into range silently.
    """
    if c.shape[:-1].numel() == 0:
        raise ValueError(f"expected at least one k-space point, got coordinates of shape {tuple(c.shape)}")
    finite = torch.isfinite(c).all(dim=-1)
    if not finite.all():
        raise ValueError(
            f"expected finite coordinates, got NaN or Inf at {int((~finite).sum())} of "
            f"{finite.numel()} k-space points (an in-place update of a learned trajectory, e.g. an "
            "optimiser's step, can make them so)"
        )
    half = torch.tensor(image_shape, dtype=torch.float64, device=c.device) / 2
    worst = (c.double().abs() / half).amax()
    if not worst <= 1 + 1e-6:
        raise ValueError(
            f"expected coordinates in SigPy's range [-N/2, N/2] = "
            f"{[(-float(h), float(h)) for h in half]} per axis (cycles per FOV), got values up to "
            f"{float(worst):.3g} x N/2"
        )


def check_eps(eps: float) -> float:
    lo = torch.finfo(torch.float32).eps  # FINUFFT in single precision cannot do better than this
    if not lo <= eps < 1:
        raise ValueError(f"expected eps in [{lo:.3g}, 1) for single-precision NUFFT, got {eps}")
    return float(eps)


def check_n_threads(n_threads) -> int | None:
    if n_threads is not None and (
        isinstance(n_threads, bool) or not isinstance(n_threads, numbers.Integral) or n_threads < 1
    ):
        raise ValueError(f"expected n_threads a positive integer or None (follow torch's), got {n_threads!r}")
    return None if n_threads is None else int(n_threads)


def check_gridding(oversamp, width) -> tuple[float, float]:
    """SigPy's gridding settings, refused where ``sigpy.nufft`` would fail or silently be wrong.

    oversamp ≤ 1 puts the image on a grid no larger than itself (relative error 0.37 against the NDFT at 1.0,
    width 4); the Kaiser-Bessel shape β = π sqrt((width (oversamp - 1/2) / oversamp)² - 0.8) must be real.
    """
    for name, value in (("oversamp", oversamp), ("width", width)):
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
            raise ValueError(f"expected {name} a finite number, got {value!r}")
    if not oversamp > 1:
        raise ValueError(f"expected oversamp > 1 (SigPy's grid is oversamp times the image), got {oversamp!r}")
    least = math.sqrt(0.8) * oversamp / (oversamp - 0.5)
    if not width > least:
        raise ValueError(
            f"expected width > {least:.3g} at oversamp {oversamp:g} (SigPy's Kaiser-Bessel kernel needs "
            f"width (oversamp - 1/2) / oversamp > sqrt(0.8)), got {width!r}"
        )
    return float(oversamp), width


def ndft_matrix(image_shape, coords) -> torch.Tensor:
    """The exact non-uniform DFT as a dense complex128 matrix (reference for small problems).

    Shapes: coords (..., ndim) -> matrix (prod coords.shape[:-1], prod image_shape).
    """
    k = torch.as_tensor(coords, dtype=torch.float64).reshape(-1, len(image_shape))
    grids = torch.meshgrid(*[torch.arange(n, dtype=torch.float64) - n // 2 for n in image_shape], indexing="ij")
    r = torch.stack([g.reshape(-1) / n for g, n in zip(grids, image_shape)], dim=1)
    return torch.exp(-2j * math.pi * (k @ r.T)) / math.sqrt(math.prod(image_shape))


def values_version(t: torch.Tensor) -> int:
    """A number that changes whenever `t`'s values change in place (an optimiser's step on shared coordinates).

    It is torch's version counter, the one record of in-place writes it keeps: comparing values at each call
    would cost a pass over the points, and copying the coordinates would end their sharing with the optimiser.
    """
    return t._version


class NUFFT(LinearOperator):
    """Non-uniform FFT y = F x (formula in the module docstring), on any leading batch.

    Args:
        image_shape: (y, x) or (z, y, x).
        coords: (..., ndim) k-space points, SigPy's convention; converted once here.
        backend: "auto" (FINUFFT on CPU / cuFINUFFT on CUDA where installed, else SigPy), "finufft",
            "cufinufft" or "sigpy".
        eps: FINUFFT accuracy, in [1.19e-7, 1).
        n_threads: FINUFFT threads, a positive integer; None follows ``torch.get_num_threads()`` at each call.
        oversamp, width: the SigPy backend's gridding settings (``backend="sigpy"``, or "auto" without
            FINUFFT): the grid is ``oversamp`` times the image, the Kaiser-Bessel kernel ``width`` grid points
            wide; oversamp > 1 and width large enough for the kernel (`check_gridding`). The default (2, 6) is
            accurate to single precision; SigPy's own (1.25, 4) is 1000 times less accurate and about 2x
            faster (the table below).
        toeplitz: whether ``gram()`` is the Toeplitz embedding (default) or ``A.H @ A`` (False: no kernel on
            the 2N grid kept: a real array of 2^ndim times the image's size).

    Coordinates that require grad (a trajectory being learned) get gradients with respect to them through
    autograd, forward and adjoint, and through ``A.H``, ``A.gram()`` and compositions; build the operator from
    them at each step, or pass float32 ones, which the operator then shares (an in-place update re-plans on the
    next call, after checking the new values: a NaN, Inf or out-of-range point raises a ValueError rather than
    reaching the backend).

    What the SigPy settings cost and give: the relative error against the exact NUDFT (`ndft_matrix`, float64)
    on a Shepp-Logan phantom with radial spokes (N x N image, N spokes of 2N points), and the forward's time on
    a 2-core CPU (the adjoint's is alike):

    =========================  ============  ============  ============  ============
    settings                   error, 64²    error, 128²   time, 64²     time, 128²
    =========================  ============  ============  ============  ============
    (2, 6), the default        2.6e-6        3.5e-6        19 ms         79 ms
    (1.5, 6)                   1.3e-5        1.4e-5        18 ms         94 ms
    (2, 4)                     3.2e-4        3.2e-4        9 ms          42 ms
    (1.25, 4), SigPy's own     2.7e-3        2.7e-3        9 ms          37 ms
    FINUFFT, eps 1e-6          1.3e-6        2.5e-6        0.7 ms        5 ms
    =========================  ============  ============  ============  ============

    Shapes:
        forward: (*batch, *image_shape) -> (*batch, *coords.shape[:-1])
    """

    batched_kernels = True
    coords: torch.Tensor  # buffers (registered in __init__)
    spectrum: torch.Tensor | None

    def __init__(
        self,
        image_shape,
        coords,
        backend: str = "auto",
        eps: float = 1e-6,
        n_threads: int | None = None,
        oversamp: float = 2.0,
        width: float = 6,
        toeplitz: bool = True,
    ):
        image_shape = tuple(int(n) for n in image_shape)
        coords = check_coords(coords, image_shape)
        if backend not in BACKENDS:
            raise ValueError(f"expected backend in {BACKENDS}, got {backend!r}")
        if backend != "auto" and backend != "sigpy":
            backends.require(backend)
        super().__init__(image_shape, coords.shape[:-1], torch.complex64)
        self.backend, self.eps, self.n_threads = backend, check_eps(eps), check_n_threads(n_threads)
        (self.oversamp, self.width), self.toeplitz = check_gridding(oversamp, width), bool(toeplitz)
        self.register_buffer("coords", coords)
        # the Toeplitz kernel's spectrum, made by the first gram() (`toeplitz_spectrum`)
        self.register_buffer("spectrum", None, persistent=False)
        self._spectrum_version: int | None = None
        self._kernels: dict[str, tuple[int, backends.Kernel]] = {}  # device -> (coordinates' version, kernel)

    def kernel(self, device: torch.device):
        """The backend computing on `device`, made on first use and kept (with its plans) while the
        coordinates keep their values (an in-place update, as an optimiser's step, makes a new one)."""
        key, version = str(device), values_version(self.coords)
        if key not in self._kernels or self._kernels[key][0] != version:
            # shared coordinates may have changed in place since construction: check them again, once per
            # version (a NaN crashes FINUFFT); one pass over the points, next to a plan's set-up
            check_coord_values(self.coords.detach(), self.domain_shape)
            device = torch.device(device)
            kernel = backends.make(
                self.backend,
                self.domain_shape,
                self.coords,
                device,
                self.eps,
                self.n_threads,
                self.oversamp,
                self.width,
            )
            self._kernels[key] = (version, kernel)
        return self._kernels[key][1]

    def toeplitz_spectrum(self, weights=None) -> torch.Tensor:
        """The spectrum of A^H W A's Toeplitz embedding (`toeplitz.toeplitz_spectrum`), kept in the ``spectrum``
        buffer when unweighted, for the coordinates' current values (an in-place change of them makes a new one).

        Shapes: weights broadcastable to the k-space points, or None -> (2 N_1, ..., 2 N_ndim) float32.
        """
        version = values_version(self.coords)
        if weights is None and self.spectrum is not None and self._spectrum_version == version:
            return self.spectrum
        if torch.compiler.is_compiling():
            raise RuntimeError(
                "the Toeplitz kernel is made on the first gram() call, outside compiled code: "
                "call A.gram() once before compiling (the learned models do it at construction)"
            )
        # the kernel is a NUFFT of these points too: shared ones changed in place are checked first (`kernel`)
        check_coord_values(self.coords.detach(), self.domain_shape)
        if weights is not None:
            return toeplitz_spectrum(self, weights)
        self.spectrum, self._spectrum_version = toeplitz_spectrum(self), version
        return self.spectrum

    def _forward(self, x):
        return self.kernel(x.device).forward(x).reshape(x.shape[0], *self.range_shape)

    def _adjoint(self, y):
        return self.kernel(y.device).adjoint(y.reshape(y.shape[0], -1))

    def _normal(self, weights):
        """The Toeplitz embedding (`ToeplitzNormal`), its unweighted kernel made on the first call and kept
        (``.to()`` moves it; a weighted one is made at each call, so keep what ``gram`` returns); ``A.H @ A``
        computed as such (`DirectNormal`) with ``toeplitz=False`` or coordinates that require grad."""
        weights = None if weights is None else checked_weights(weights, self.range_shape)
        if self.coords.requires_grad or not self.toeplitz:
            return DirectNormal(self, weights)
        return ToeplitzNormal(self.toeplitz_spectrum(weights))

    def _tensor_inputs(self):
        return (("coordinates", self.coords),)

    def _tensor_inputs_vjp(self, x, grad, adjoint):
        images, points = (grad, x) if adjoint else (x, grad)
        vjp = coordinate_vjp(self.kernel(x.device), self.domain_shape, images, points)
        return (vjp.reshape(*self.range_shape, len(self.domain_shape)),)

    def __getstate__(self):
        # FINUFFT plans are C handles: a pickled copy (DataLoader worker, deepcopy) re-plans on first use
        state = super().__getstate__()
        state["_kernels"] = {}
        return state

    def extra_repr(self) -> str:
        return f"backend={self.backend!r}, eps={self.eps:g}, toeplitz={self.toeplitz}, " + super().extra_repr()
