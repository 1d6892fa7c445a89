"""Small operators of each modality for the data tests (32-33 px images)."""

import pytest

from bridges import ct, mri, pet
from bridges.mri import birdcage_maps
from experiments.data import pet_system_model


@pytest.fixture(scope="module")
def ct_op():
    geometry = ct.ParallelBeam2D(angles=20, n_detectors=48, detector_spacing=4.0, image_shape=(32, 32), pixel_size=4.0)
    return ct.Projector(geometry, n_threads=1)


@pytest.fixture(scope="module")
def mri_op():
    return mri.CartesianSense(birdcage_maps((32, 32), 4), mri.mask_equispaced((32, 32), 4, 0.08))


@pytest.fixture(scope="module")
def pet_model():
    return pet_system_model(pet.scanner("biograph-mmr", downsample=6), total_counts=1e5)
