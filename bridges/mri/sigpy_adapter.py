"""Any SigPy `Linop` as a `bridges.LinearOperator`, with SigPy's own adjoint as the backward.

Tensors reach SigPy without copies: CPU tensors as NumPy views (`Tensor.numpy`,
`torch.from_numpy`), CUDA tensors as CuPy arrays through DLPack on the same GPU.

Example::

    >>> import sigpy
    >>> F = from_sigpy(sigpy.linop.FFT((8, 8)))
    >>> x = torch.randn(8, 8, dtype=torch.complex64)
    >>> torch.allclose(F.H(F(x)), x, atol=1e-6)
    True
"""

from __future__ import annotations

import numpy as np
import torch

from ..operator import LinearOperator

_NUMPY = {
    torch.float32: np.float32,
    torch.float64: np.float64,
    torch.complex64: np.complex64,
    torch.complex128: np.complex128,
}


def _cupy():
    try:
        import cupy
    except ImportError as err:
        raise TypeError(
            "a CUDA tensor needs CuPy for SigPy's GPU path: expected a CPU tensor or CuPy installed "
            "(pip install cupy-cuda12x), got a CUDA tensor without CuPy"
        ) from err
    return cupy


def sigpy_device(t: torch.Tensor):
    """SigPy's device for ``t``: its GPU (CuPy's current device inside ``with``) or SigPy's CPU device.

    SigPy makes its work arrays on CuPy's current device, not on its input's: without this context a
    tensor on another GPU than the current one would meet arrays on the wrong device.
    """
    import sigpy

    if t.is_cuda:
        _cupy()
        return sigpy.Device(t.device.index if t.device.index is not None else torch.cuda.current_device())
    return sigpy.cpu_device


def to_array(t: torch.Tensor):
    """The tensor's memory as a NumPy (CPU) or CuPy (CUDA) array, without a copy."""
    t = t.detach()
    if t.is_cuda:
        return _cupy().from_dlpack(t)
    return t.numpy()


def to_tensor(a, dtype: torch.dtype) -> torch.Tensor:
    """A NumPy or CuPy array as a tensor of `dtype`; no copy when the dtype already matches."""
    if isinstance(a, np.ndarray):
        return torch.from_numpy(np.ascontiguousarray(a.astype(_NUMPY[dtype], copy=False)))
    return torch.from_dlpack(a.astype(_NUMPY[dtype], copy=False))


class SigpyOperator(LinearOperator):
    """A SigPy linop A as an operator: forward ``A(x)``, adjoint ``A.H(y)``.

    Real-to-complex linops (``domain_dtype=torch.float32``) are adjoint for Re<Ax, y>,
    so the adjoint returns Re(A^H y), PyTorch's gradient of a real input.

    The linop's own arrays (maps, coordinates, weights) stay where it was built: SigPy copies NumPy
    ones to the GPU at every call on a CUDA tensor, so for GPU use build it from CuPy arrays on that GPU.

    Shapes:
        forward: (*batch, *linop.ishape) -> (*batch, *linop.oshape); SigPy's linops
        take exact shapes, so a batch is applied item by item.
    """

    def __init__(self, linop, domain_dtype=torch.complex64, range_dtype=torch.complex64):
        import sigpy

        if not isinstance(linop, sigpy.linop.Linop):
            raise TypeError(f"expected a sigpy.linop.Linop, got {type(linop).__name__}")
        for dtype in (domain_dtype, range_dtype):
            if dtype not in _NUMPY:
                raise TypeError(f"expected dtypes among {list(_NUMPY)}, got {dtype}")
        super().__init__(linop.ishape, linop.oshape, domain_dtype, range_dtype)
        self.linop = linop

    def _forward(self, x):
        return self._call(self.linop, x, self.range_dtype)

    def _adjoint(self, y):
        out = self._call(self.linop.H, y, torch.promote_types(self.domain_dtype, self.range_dtype))
        return out if self.domain_dtype.is_complex else out.real.to(self.domain_dtype).contiguous()

    @staticmethod
    def _call(linop, x, dtype):
        a = to_array(x)
        with sigpy_device(x):
            out = linop(a)
        xp = _cupy() if x.is_cuda else np
        # some linops (Identity, Reshape) return their input: never hand back the caller's memory
        if xp.may_share_memory(out, a):
            out = out.copy()
        return to_tensor(out, dtype)

    def extra_repr(self) -> str:
        return f"{self.linop!r}, " + super().extra_repr()


def from_sigpy(linop, domain_dtype=torch.complex64, range_dtype=torch.complex64) -> SigpyOperator:
    """Wrap a SigPy ``Linop`` as a ``bridges.LinearOperator`` (see `SigpyOperator`).

    Shapes: (*batch, *linop.ishape) -> (*batch, *linop.oshape).

    Example::

        >>> import sigpy.mri
        >>> from bridges.mri import birdcage_maps, radial
        >>> A = from_sigpy(sigpy.mri.linop.Sense(birdcage_maps((8, 8), 4).numpy(), coord=radial(6, 16, (8, 8)).numpy()))
        >>> A(torch.randn(2, 8, 8, dtype=torch.complex64)).shape          # (*batch, y, x) -> (*batch, coils, 6, 16)
        torch.Size([2, 4, 6, 16])
    """
    return SigpyOperator(linop, domain_dtype, range_dtype)
