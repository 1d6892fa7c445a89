"""Real anatomy from pydicom's bundled test images: units, orientation, outline, and the data models' path."""

import numpy as np
import pydicom
import pytest
import torch
from pydicom.data import get_testdata_file

from experiments.data import FineImage, real_ct_objects, real_mr_objects
from experiments.data.ellipse_tables import pixel_average
from experiments.data.phantoms import MU_WATER
from experiments.data.real_anatomy import CT_FILE, CT_OUTLINE, MR_FILE


def test_ct_slice_becomes_attenuation_inside_its_disk_in_four_orientations():
    objects = real_ct_objects((256, 256))
    assert len(objects) == 4 and all(isinstance(o, FineImage) and o.outline == CT_OUTLINE for o in objects)
    mu = objects[0].image
    assert mu.shape == (256, 256) and mu.dtype == torch.float32 and float(mu.min()) >= 0
    # the file's own values: HU = raw − 1024 (its rescale tags); the median tissue is soft tissue, about water
    ds = pydicom.dcmread(get_testdata_file(CT_FILE))
    hu = ds.pixel_array * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
    assert float(mu[96:160, 96:160].median()) == pytest.approx(
        MU_WATER * (1 + np.median(hu[48:80, 48:80]) / 1000), rel=0.05
    )
    assert float(mu.max()) > 1.5 * MU_WATER  # bone
    # air outside the disk, and the disk's edge cuts the slice (its corners are tissue)
    y, x = torch.meshgrid(*(torch.arange(256) + 0.5,) * 2, indexing="ij")
    outside = (x / 128 - 1) ** 2 + (y / 128 - 1) ** 2 > 0.92**2
    assert float(mu[outside].abs().max()) == 0
    # DICOM's first row is the top of the image; ours grows with y: the first DICOM row is our last
    assert torch.allclose(
        mu.flip(0)[40, 96:160].mean(),
        torch.tensor(MU_WATER * (1 + float(hu[20, 48:80].mean()) / 1000), dtype=torch.float32),
        rtol=0.1,
    )
    for k, obj in enumerate(objects):
        torch.testing.assert_close(obj.image, torch.rot90(mu, k))


def test_mr_slice_is_a_complex_image_of_peak_one():
    objects = real_mr_objects((256, 256))
    image = objects[1].image
    assert len(objects) == 4 and objects[0].outline is None
    assert image.dtype == torch.complex64 and float(image.abs().max()) == pytest.approx(1.0)
    assert float(image.imag.abs().max()) == 0
    # bicubic from 64² to 256²: the 4x4 pixel means give back the file's image, up to the interpolation's smoothing
    ds = pydicom.dcmread(get_testdata_file(MR_FILE))
    original = torch.from_numpy(np.ascontiguousarray(ds.pixel_array[::-1], dtype=np.float64))
    back = pixel_average(objects[0].image.real.double(), 4) * float(original.max())
    assert float((back - original).norm() / original.norm()) < 0.05


def test_a_task_scores_its_real_anatomy_through_its_own_data_model():
    from experiments.config import load_config
    from experiments.tasks import build_task

    task = build_task(load_config("ct-lpd", ["data.n_train=1", "data.n_val=1", "data.n_test=1"]))
    items = [task.real[i] for i in range(len(task.real))]
    assert len(items) == 4
    for item in items:
        assert item["x"].shape == task.op.domain_shape and item["y"].shape == task.op.range_shape
        assert {"body", "rim", "interior"} <= set(item)
    assert not torch.equal(items[0]["x"], items[1]["x"])
    # the truth is the fine image's pixel average; the data are its line integrals on the 4x grid, with noise
    fine = real_ct_objects((256, 256))[0]
    torch.testing.assert_close(items[0]["x"], pixel_average(fine.image, 4))
    off = build_task(
        load_config("ct-lpd", ["data.n_train=1", "data.n_val=1", "data.n_test=1", "data.real_anatomy=false"])
    )
    assert off.real is None
