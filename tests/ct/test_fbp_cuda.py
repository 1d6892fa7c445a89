"""FBP and FDK on CUDA tensors: the CPU's result, on the GPU, without copying the data through the host."""

import pytest
import torch

from bridges import ct
from experiments.validation import analytic
from experiments.validation.ct import CUDA_CPU_TOL
from tests.conftest import assert_gpu_resident, rel
from tests.ct.phantoms import disk_image

pytestmark = pytest.mark.cuda

# 128² pixels and 96 views: the data (~130 kB an item) dwarf ASTRA's per-view geometry uploads
GEOMETRIES = {
    "parallel": ct.ParallelBeam2D(angles=96, n_detectors=183, detector_spacing=1.0, image_shape=(128, 128)),
    "fan": ct.FanBeam2D(
        angles=96,
        n_detectors=183,
        detector_spacing=1.6,
        source_distance=500,
        detector_distance=300,
        image_shape=(128, 128),
    ),
}


@pytest.mark.parametrize("name", GEOMETRIES)
def test_fbp_of_a_cuda_sinogram_is_the_cpu_fbp_on_the_gpu(name):
    """Within CUDA_CPU_TOL (2e-2): the filter and weights are the same numbers on both devices, but ASTRA's CUDA
    backprojector is not the CPU's exact transpose of Joseph's (parallel) or of the line kernel (fan): it
    interpolates each view in a texture with 8-bit weights, and the ramp-filtered data put that difference at
    the disks' edges; the same bound as the CUDA projectors' against the CPU's (experiments/validation/ct.py)."""
    g = GEOMETRIES[name]
    A = ct.Projector(g)
    x = torch.stack([disk_image(g, (3.0, -4.0), 40.0), disk_image(g, (-10.0, 5.0), 25.0)])
    sino = A(x)
    cpu = ct.fbp(A, sino, filter_type="hann")
    q = sino.cuda()
    gpu = assert_gpu_resident(
        lambda s: ct.fbp(A, s, filter_type="hann"), q, data_bytes=q.nbytes + cpu.nbytes, astra=lambda: A.adjoint(q)
    )
    assert gpu.device.type == "cuda" and gpu.dtype == torch.float32
    assert rel(gpu, cpu) < CUDA_CPU_TOL


def test_fdk_of_a_ball_on_the_gpu():
    """ASTRA's cone beams run on CUDA only, so the reference is the ball itself: FDK of its exact line integrals
    (μ = 0.02/mm, radius 20 mm) has its mean within 5 % of μ inside 12 mm of its centre. At this 5° half cone
    angle FDK's own approximation error is well below that; a wrong weight or scale is far above it. The rows,
    1.6 mm at the detector, are 1 mm at the isocentre (magnification 1.6), the voxels' height: `fbp`'s scale
    carries no row spacing, which a true transpose would ask for when the two differ."""
    g = ct.ConeBeam3D(
        angles=96,
        detector_shape=(64, 96),
        detector_spacing=(1.6, 1.5),
        source_distance=500,
        detector_distance=300,
        image_shape=(48, 64, 64),
    )
    centre, radius, mu = (4.0, -3.0, 2.0), 20.0, 0.02
    p = analytic.ball_projections(g, centre, radius, mu).float().cuda()
    A = ct.Projector(g)
    rec = assert_gpu_resident(
        lambda t: ct.fdk(A, t), p, data_bytes=p.nbytes + 4 * 48 * 64 * 64, astra=lambda: A.adjoint(p)
    )
    assert rec.device.type == "cuda" and rec.shape == g.image_shape
    z, y, x = torch.meshgrid(*[torch.arange(n) + 0.5 - n / 2 for n in g.image_shape], indexing="ij")  # 1 mm voxels
    inside = (x - centre[0]) ** 2 + (y - centre[1]) ** 2 + (z - centre[2]) ** 2 < 12.0**2
    assert abs(float(rec.cpu()[inside].mean()) / mu - 1) < 0.05
