"""The CT forward model: X-ray line integrals through ASTRA, as a `LinearOperator`."""

from __future__ import annotations

import numbers

import torch

from ..operator import LinearOperator
from .astra_backend import CPUMatrix2D, CPUProjector2D, CUDAProjector, matrix_bytes_bound
from .geometry import ParallelBeam3D, ParallelVec3D

# matrix="auto" stores ASTRA's CPU projector as a sparse matrix when its bound (`matrix_bytes_bound`) is at
# most this: 64² to 128² training problems (tens of MB), not a clinical 512² sinogram (gigabytes).
MATRIX_AUTO_BYTES = 256 * 2**20


class Projector(LinearOperator):
    """Ray transform ``(A f)(ray) = ∫_ray f(r) dr``, a line integral in mm of an image in 1/mm.

    The adjoint is the exact matrix transpose of the forward on CPU (ASTRA's CPU
    projectors: Joseph's ``linear`` kernel for parallel beams, ``line_fanflat`` for
    fan beams, as ODL's ``astra_cpu`` backend), and ASTRA's matched backprojector on CUDA.

    Shapes:
        2D: image (*batch, y, x) -> sinogram (*batch, views, detectors)
        3D: volume (*batch, z, y, x) -> projections (*batch, rows, views, columns)

    CPU tensors run on ASTRA's 2D CPU projectors in place through DLPack (3D parallel
    beams whose rays lie in axial planes, slice by slice); a batch is spread over
    ``n_threads`` threads. With ``matrix`` True (or "auto", the default, when the matrix is bound to
    fit in `MATRIX_AUTO_BYTES`) the CPU applies ASTRA's own sparse matrix of that projector instead,
    one sparse product per batch: the same weights, 5-7x faster on 128² images (`bench.ct`).
    CUDA tensors run on ASTRA's 3D CUDA projectors on their own GPU, in place: a batch of
    2D images as one call (`astra_layout`), 3D volumes one per call. Other 3D geometries
    (cone beams, helical) need CUDA.

    Example::

        >>> from bridges.ct import ParallelBeam2D
        >>> A = Projector(ParallelBeam2D(angles=6, n_detectors=12, detector_spacing=1.0, image_shape=(8, 8)))
        >>> sino = A(torch.rand(4, 8, 8))
        >>> sino.shape, A.T(sino).shape
        (torch.Size([4, 6, 12]), torch.Size([4, 8, 8]))
    """

    batched_kernels = True

    def __init__(self, geometry, n_threads: int | None = None, matrix: bool | str = "auto"):
        super().__init__(geometry.image_shape, geometry.sinogram_shape, torch.float32)
        self.geometry = geometry
        if matrix not in (True, False, "auto"):
            raise ValueError(f"matrix must be True, False or 'auto', got {matrix!r}")
        self.matrix = matrix
        if n_threads is not None and (
            isinstance(n_threads, bool) or not isinstance(n_threads, numbers.Integral) or n_threads < 1
        ):
            # ASTRA is handed this many projectors: 0 or fewer leaves the output uninitialised
            raise ValueError(f"n_threads must be a positive integer, or None for one per core, got {n_threads!r}")
        self.n_threads = n_threads or max(1, torch.get_num_threads())
        self._slices = None  # the 2D geometry of one slice when a 3D parallel beam runs slice by slice
        if isinstance(geometry, (ParallelBeam3D, ParallelVec3D)) and geometry.to_vec().axial_slices():
            self._slices = geometry.to_vec().central_slice()
        self._cpu: CPUMatrix2D | CPUProjector2D | None = None
        self._cuda: dict[torch.device, CUDAProjector] = {}

    def _default_device(self) -> torch.device:
        """The CPU, or CUDA for a geometry that only ASTRA's CUDA projectors run (3D, except parallel beams
        whose rows are the volume's slices): where `norm`, `sensitivity` and the learned models apply it."""
        needs_cuda = self.geometry.is_3d and self._slices is None
        return (
            torch.device("cuda", torch.cuda.current_device())
            if needs_cuda and torch.cuda.is_available()
            else torch.device("cuda" if needs_cuda else "cpu")
        )

    def _subset(self, views) -> Projector:
        """The projector of some of the geometry's views (an ordered subset); ASTRA projectors are made anew."""
        return Projector(self.geometry[views], self.n_threads, self.matrix)

    def _backend(self, device: torch.device):
        if device.type == "cuda":
            if device not in self._cuda:
                self._cuda[device] = CUDAProjector(self.geometry, device)
            return self._cuda[device]
        if device.type != "cpu":
            raise ValueError(f"{type(self).__name__}: expected a CPU or CUDA tensor, got one on {device}")
        if self._cpu is None:
            if self.geometry.is_3d and self._slices is None:
                raise ValueError(
                    f"{type(self.geometry).__name__} on a CPU tensor: ASTRA's 3D projectors need "
                    "CUDA, and only 3D parallel beams whose detector rows match the volume's "
                    "slices run slice by slice on the CPU; move the input to a GPU"
                )
            plane = self._slices or self.geometry
            if self.matrix is True or (self.matrix == "auto" and matrix_bytes_bound(plane) <= MATRIX_AUTO_BYTES):
                self._cpu = CPUMatrix2D(plane)
            else:
                self._cpu = CPUProjector2D(plane, self.n_threads)
        return self._cpu

    def _forward(self, x):
        out = torch.empty(x.shape[0], *self.range_shape, dtype=torch.float32, device=x.device)
        self._run("forward", x, out, self.domain_shape, self.range_shape)
        return out

    def _adjoint(self, y):
        out = torch.empty(y.shape[0], *self.domain_shape, dtype=torch.float32, device=y.device)
        self._run("adjoint", y, out, self.range_shape, self.domain_shape)
        return out

    def _run(self, which, x, out, in_shape, out_shape):
        if len(x) == 0:
            return  # an empty batch: nothing for ASTRA to do
        backend = self._backend(x.device)
        if self._slices is not None and x.device.type == "cpu":
            # (B, z, y, x) and (B, rows, views, cols) are B*z contiguous 2D problems
            x, out = x.reshape(-1, *in_shape[1:]), out.view(-1, *out_shape[1:])
        getattr(backend, which)(x, out)
