"""The README's first command, on its embedded default."""
import torch

from experiments.phantoms import random_ellipses, shepp_logan
from experiments.run import ct_fbp, psnr


def test_ct_fbp_job_reconstructs_and_writes_a_figure(tmp_path):
    rows = ct_fbp(tmp_path, seed=0)
    assert (tmp_path / "ct-fbp.png").stat().st_size > 10_000
    truth = shepp_logan((256, 256))
    assert all(psnr(image, truth) > 22 for _, image in rows)


def test_phantoms_are_seeded_and_in_attenuation_units():
    a = random_ellipses((32, 32), generator=torch.Generator().manual_seed(1))
    b = random_ellipses((32, 32), generator=torch.Generator().manual_seed(1))
    c = random_ellipses((32, 32), generator=torch.Generator().manual_seed(2))
    assert torch.equal(a, b) and not torch.equal(a, c) and a.min() >= 0
    assert abs(float(shepp_logan((64, 64)).max()) - 0.0192) < 1e-6
