"""NUFFT kernels behind `bridges.mri.NUFFT`: FINUFFT (CPU), cuFINUFFT (CUDA) and SigPy.

Every kernel computes, for images x of shape (n, *N) and points k_j in SigPy's
convention (cycles per FOV, k in [-N/2, N/2]),

    y_j = (prod N)^(-1/2) Σ_r x[r] exp(-2πi Σ_d k_jd (r_d - N_d//2) / N_d),

SigPy's scaling, and the adjoint of that map. Plans and coordinate conversions are
made once per kernel; an operator holds one kernel per device.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from typing import Any

import torch

from .sigpy_adapter import sigpy_device, to_array, to_tensor

_INSTALL = {"finufft": "pip install finufft", "cufinufft": "pip install cufinufft (needs CUDA and CuPy)"}
_MAX_PLANS = 8  # plans per n_trans and thread count; a few batch sizes are normal, hundreds are not
# Below this many points x transforms one thread wins: measured on 2 cores, a second thread costs
# ~5 ms of start-up per call (64x64 image, 4096 points: 0.75 ms on one thread, 6.7 ms on two).
# The same size decides FFTW's planning: FFTW_MEASURE (0) costs ~0.6 s once per grid size and
# n_trans in a process (FFTW keeps the wisdom) and halves the 8-coil 256x256 radial transform
# (36 -> 19 ms); for small problems FFTW_ESTIMATE (64, FINUFFT's default) is as fast.
_THREADED_WORK = 1 << 16
_FFTW_MEASURE, _FFTW_ESTIMATE = 0, 64


def available(name: str) -> bool:
    """Whether backend `name`'s package imports here."""
    if name == "sigpy":
        return True
    try:
        __import__(name)
    except (ImportError, OSError):  # cufinufft installed without a loadable CUDA library raises OSError
        return False
    return True


def require(name: str):
    """Import backend `name`'s package or raise an ImportError saying how to install it."""
    if not available(name):
        raise ImportError(f"NUFFT backend '{name}' is not installed or does not load: {_INSTALL[name]}")
    return __import__(name)


class SigpyNufft:
    """SigPy's Kaiser-Bessel gridding NUFFT (``sigpy.nufft``), on NumPy or CuPy views (CUDA tensors through
    DLPack: the coordinates and the data stay on the GPU)."""

    def __init__(self, image_shape, coords: torch.Tensor, oversamp: float = 2.0, width: float = 6):
        self.image_shape, self.oversamp, self.width = tuple(image_shape), oversamp, width
        self.coords = coords.reshape(-1, len(image_shape))  # flat points: SigPy's output is then (n, M)

    def forward(self, x):
        import sigpy

        with sigpy_device(x):
            out = sigpy.nufft(to_array(x), to_array(self.coords), oversamp=self.oversamp, width=self.width)
        return to_tensor(out, torch.complex64)

    def adjoint(self, y):
        import sigpy

        oshape = (y.shape[0], *self.image_shape)
        with sigpy_device(y):
            out = sigpy.nufft_adjoint(
                to_array(y), to_array(self.coords), oshape, oversamp=self.oversamp, width=self.width
            )
        return to_tensor(out, torch.complex64)


class FinufftNufft:
    """FINUFFT: type 2 forward, type 1 adjoint, all coils and batch items in one many-vector call.

    One plan per (type, n_trans, threads) is made and kept; ``plans_made`` counts them.
    Threads follow ``torch.get_num_threads()`` at call time unless fixed (one for small
    problems), so a DataLoader worker (one torch thread) gets a one-thread plan
    instead of oversubscribing.
    """

    package = "finufft"

    def __init__(self, image_shape, coords: torch.Tensor, eps=1e-6, n_threads=None):
        self.lib = require(self.package)
        self.image_shape, self.eps, self.n_threads = tuple(image_shape), eps, n_threads
        flat = coords.detach().double().reshape(-1, len(image_shape))
        # SigPy's cycles per FOV to FINUFFT's radians, once, in double precision before rounding
        self.points = [
            self._points(((2 * math.pi / n) * flat[:, d]).float().contiguous()) for d, n in enumerate(image_shape)
        ]
        self.n_points = flat.shape[0]
        self.scale = 1 / math.sqrt(math.prod(image_shape))
        self.plans: OrderedDict[tuple[int, int, int], Any] = OrderedDict()  # (type, n_trans, threads) -> plan
        self.plans_made = 0

    def _points(self, t):
        return t.cpu().numpy()

    def _threads(self, n_trans):
        if self.n_threads:
            return self.n_threads
        return torch.get_num_threads() if n_trans * self.n_points >= _THREADED_WORK else 1

    def _new_plan(self, kind, n_trans, threads):
        fftw = _FFTW_MEASURE if n_trans * self.n_points >= _THREADED_WORK else _FFTW_ESTIMATE
        # modeord=0: modes -N/2..N/2-1, i.e. r - N//2, SigPy's centring
        return self.lib.Plan(
            kind,
            self.image_shape,
            n_trans=n_trans,
            eps=self.eps,
            isign=-1 if kind == 2 else 1,
            dtype="complex64",
            nthreads=threads,
            modeord=0,
            fftw=fftw,
        )

    def plan(self, kind: int, n_trans: int):
        key = (kind, n_trans, self._threads(n_trans))
        if key not in self.plans:
            plan = self._new_plan(*key)
            plan.setpts(*self.points)
            self.plans[key], self.plans_made = plan, self.plans_made + 1
            if len(self.plans) > _MAX_PLANS:
                self.plans.popitem(last=False)
        self.plans.move_to_end(key)
        return self.plans[key]

    def forward(self, x):
        out = torch.empty(x.shape[0], self.n_points, dtype=torch.complex64)
        self.plan(2, x.shape[0]).execute(x.numpy(), out=out.numpy())
        return out.mul_(self.scale)

    def adjoint(self, y):
        out = torch.empty(y.shape[0], *self.image_shape, dtype=torch.complex64)
        self.plan(1, y.shape[0]).execute(y.numpy(), out=out.numpy())
        return out.mul_(self.scale)


class CufinufftNufft(FinufftNufft):
    """cuFINUFFT on one GPU; torch CUDA tensors go in and out directly (no host round-trip)."""

    package = "cufinufft"

    def __init__(self, image_shape, coords: torch.Tensor, eps=1e-6, device=None):
        self.device = torch.device(device)
        super().__init__(image_shape, coords, eps)

    def _points(self, t):
        return t.to(self.device)

    def _threads(self, n_trans):
        return 1

    def _new_plan(self, kind, n_trans, threads):
        with torch.cuda.device(self.device):
            return self.lib.Plan(
                kind,
                self.image_shape,
                n_trans=n_trans,
                eps=self.eps,
                isign=-1 if kind == 2 else 1,
                dtype="complex64",
                modeord=0,
            )

    def forward(self, x):
        with torch.cuda.device(x.device):
            return self.plan(2, x.shape[0]).execute(x).reshape(x.shape[0], -1) * self.scale

    def adjoint(self, y):
        with torch.cuda.device(y.device):
            return self.plan(1, y.shape[0]).execute(y).reshape(y.shape[0], *self.image_shape) * self.scale


Kernel = SigpyNufft | FinufftNufft  # cuFINUFFT's is a FinufftNufft


def make(
    backend: str,
    image_shape,
    coords: torch.Tensor,
    device: torch.device,
    eps: float = 1e-6,
    n_threads: int | None = None,
    oversamp: float = 2.0,
    width: float = 6,
) -> Kernel:
    """The kernel of `backend` for points `coords` (moved to `device` if not there) on `device`.

    "auto" takes FINUFFT on CPU / cuFINUFFT on CUDA where installed, else SigPy at ``oversamp``, ``width``
    (default 2, 6: SigPy's own defaults, 1.25 and 4, are 1000 times less accurate; `bridges.mri.NUFFT`).
    """
    name = backend
    if name == "auto":
        fast = "cufinufft" if device.type == "cuda" else "finufft"
        name = fast if available(fast) else "sigpy"
    if name == "finufft" and device.type != "cpu":
        raise ValueError(f"backend 'finufft' runs on CPU tensors, got a {device} tensor: use 'cufinufft' or 'auto'")
    if name == "cufinufft" and device.type != "cuda":
        raise ValueError(f"backend 'cufinufft' runs on CUDA tensors, got a {device} tensor: use 'finufft' or 'auto'")
    # no copy where the points are on `device`; else one, kept with the kernel (values only: the kernels are
    # constants, coordinate gradients come from `trajectory_gradients`)
    coords = coords.detach().to(device)
    if name == "finufft":
        return FinufftNufft(image_shape, coords, eps, n_threads)
    if name == "cufinufft":
        return CufinufftNufft(image_shape, coords, eps, device)
    return SigpyNufft(image_shape, coords, oversamp, width)
