"""ASTRA kernels on torch memory: CPU projectors through DLPack, CUDA projectors on the tensor's GPU.

Every ASTRA projector made here is deleted by a finaliser when its owner is
collected, so operators may cache projectors without leaking them.
"""
from __future__ import annotations

import os
import queue
import weakref
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch

import astra
from astra import experimental as astra_direct

# ASTRA's 2D CPU kernels release the GIL, so threads over a batch use every core.
_POOL = ThreadPoolExecutor(max_workers=os.cpu_count() or 1, thread_name_prefix="astra")

_CPU_KERNEL = {"parallel_vec": "linear", "fanflat_vec": "line_fanflat"}  # ODL's choices on astra_cpu


def _delete_projectors(ids):
    for pid in ids:
        astra.projector.delete(pid)
    ids.clear()


class CPUProjector2D:
    """A pool of identical ASTRA 2D CPU projectors, one per worker, lent out through a queue so
    that concurrent calls never share one."""

    def __init__(self, geometry, n_threads: int):
        vol, proj, self.astra_shape = geometry.to_astra()
        kind = _CPU_KERNEL[proj["type"]]
        self.ids: list[int] = []
        self._finalizer = weakref.finalize(self, _delete_projectors, self.ids)
        self._free: queue.SimpleQueue = queue.SimpleQueue()
        for _ in range(n_threads):
            pid = astra.create_projector(kind, proj, vol)
            self.ids.append(pid)
            self._free.put(pid)

    def forward(self, images: torch.Tensor, out: torch.Tensor):
        """images (N, y, x) -> out (N, *sinogram), both contiguous float32 on CPU."""
        self._run(lambda pid, i: astra_direct.direct_FP2D(pid, images[i], out[i].view(self.astra_shape)), len(images))

    def adjoint(self, sinograms: torch.Tensor, out: torch.Tensor):
        self._run(lambda pid, i: astra_direct.direct_BP2D(pid, out[i], sinograms[i].view(self.astra_shape)),
                  len(sinograms))

    def _run(self, kernel, n: int):
        workers = min(n, len(self.ids))

        def work(start):
            pid = self._free.get()
            try:
                for i in range(start, n, workers):
                    kernel(pid, i)
            finally:
                self._free.put(pid)

        if workers == 1:
            work(0)
            return
        for job in [_POOL.submit(work, k) for k in range(workers)]:
            job.result()


def _vectors_3d(geometry):
    """(ASTRA kind, vectors, detector shape, volume shape) of a geometry seen as 3D.

    2D geometries become one-slice 3D ones (z extent one unit, one detector row in
    the plane z = 0). ASTRA's 3D arrays index along +x, +y, +z, so unlike in 2D no
    mirroring is needed.
    """
    vec = geometry.to_vec() if not _is_arc(geometry) else None
    if geometry.is_3d:
        first = vec.ray_directions if hasattr(vec, "ray_directions") else vec.sources
        kind = "parallel3d_vec" if hasattr(vec, "ray_directions") else "cone_vec"
        vectors = np.concatenate([first, vec.detector_centers, vec.column_axes, vec.row_axes], 1)
        return kind, vectors, vec.detector_shape, geometry.image_shape
    if vec is None:  # arc detector: one single-pixel detector per ray
        first, centers, axes = geometry.ray_geometry()
        kind, shape = "cone_vec", (1, 1)
    elif hasattr(vec, "ray_directions"):
        first, centers, axes, kind, shape = vec.ray_directions, vec.detector_centers, vec.detector_axes, \
            "parallel3d_vec", (1, vec.n_detectors)
    else:
        first, centers, axes, kind, shape = vec.sources, vec.detector_centers, vec.detector_axes, \
            "cone_vec", (1, vec.n_detectors)
    pad = np.zeros((len(first), 1))
    rows = np.broadcast_to(np.array([0.0, 0.0, 1.0]), (len(first), 3))
    vectors = np.concatenate([first, pad, centers, pad, axes, pad, rows], 1)
    return kind, vectors, shape, (1, *geometry.image_shape)


def _is_arc(geometry):
    return getattr(geometry, "detector_curve", None) == "arc"


class CUDAProjector:
    """An ASTRA 3D CUDA projector on one GPU, reading and writing torch CUDA memory in place."""

    def __init__(self, geometry, device: torch.device):
        if not astra.use_cuda():
            raise ValueError(f"got a tensor on {device}, but this ASTRA build has no CUDA support; "
                             "move the input to the CPU or install a CUDA build of astra-toolbox")
        kind, vectors, det_shape, vol_shape = _vectors_3d(geometry)
        nz, ny, nx = vol_shape
        dz, dy, dx = geometry.pixel_size if geometry.is_3d else (1.0, *geometry.pixel_size)
        vol = astra.create_vol_geom(ny, nx, nz, -nx * dx / 2, nx * dx / 2, -ny * dy / 2, ny * dy / 2,
                                    -nz * dz / 2, nz * dz / 2)
        proj = astra.create_proj_geom(kind, det_shape[0], det_shape[1], vectors)
        self.device = device
        self.vol_shape = vol_shape
        self.proj_shape = (det_shape[0], len(vectors), det_shape[1])
        self.ids = [astra.create_projector("cuda3d", proj, vol)]
        self._finalizer = weakref.finalize(self, _delete_projectors, self.ids)

    def forward(self, images, out):
        self._run(lambda i: astra_direct.direct_FP3D(self.ids[0], images[i].view(self.vol_shape),
                                                     out[i].view(self.proj_shape)), len(images))

    def adjoint(self, sinograms, out):
        self._run(lambda i: astra_direct.direct_BP3D(self.ids[0], out[i].view(self.vol_shape),
                                                     sinograms[i].view(self.proj_shape)), len(sinograms))

    def _run(self, kernel, n):
        # ASTRA launches on its own stream: wait for torch's work on the inputs first,
        # and ASTRA's calls return only once their kernels are done.
        if torch.cuda.device_count() > 1:
            astra.set_gpu_index(self.device.index or 0)
        torch.cuda.current_stream(self.device).synchronize()
        for i in range(n):
            kernel(i)
