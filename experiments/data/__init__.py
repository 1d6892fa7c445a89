"""Data for the experiments.

Simulated: continuous objects (random phantoms, real anatomy), data models the reconstruction does not share,
noise models and on-the-fly datasets whose items depend only on (seed, index).
Real formats: LoDoPaB-CT and fastMRI HDF5, DICOM CT series and NIfTI volumes, each a lazy torch
Dataset in this library's conventions (DESIGN.md).
"""

from .dicom import DicomSlices, hu_to_mu, read_dicom_series
from .fastmri import FastMRISlices, center_crop, parse_ismrmrd_header, rss
from .fastmri_sense import FastMRISense, compress_coils, crop_or_pad
from .lodopab import LoDoPaB, lodopab_geometry
from .nifti import NiftiSlices, read_nifti
from .noise import complex_gaussian_noise, poisson_counts, transmission_noise
from .objects import EllipseSum, FineImage, MRIPhantom, PETPhantom, body_regions
from .phantoms import (
    MU_WATER,
    MU_WATER_511KEV,
    body_ellipse_table,
    body_ellipses,
    ellipses,
    lpd_ellipse_table,
    lpd_ellipses,
    lpd_signed_ellipses,
    mri_object,
    mri_phantom,
    pet_activity,
    pet_body,
    pet_phantom,
    shepp_logan,
    small_features,
)
from .real_anatomy import real_ct_objects, real_mr_objects
from .simulate_ct import CTSimulator
from .simulate_spect import SPECTSimulator
from .synthetic import (
    DATA_MODELS,
    PET_TOTAL_COUNTS,
    SPECT_TOTAL_COUNTS,
    DiscreteSimulator,
    SimulatedDataset,
    ct_dataset,
    item_generator,
    mri_dataset,
    pet_dataset,
    pet_system_model,
    real_anatomy_dataset,
    spect_dataset,
    spect_phantom,
    spect_projector,
)

__all__ = [
    "transmission_noise",
    "complex_gaussian_noise",
    "poisson_counts",
    "MU_WATER",
    "MU_WATER_511KEV",
    "ellipses",
    "shepp_logan",
    "body_ellipses",
    "body_ellipse_table",
    "small_features",
    "lpd_ellipse_table",
    "lpd_ellipses",
    "lpd_signed_ellipses",
    "pet_body",
    "pet_phantom",
    "pet_activity",
    "mri_object",
    "mri_phantom",
    "EllipseSum",
    "MRIPhantom",
    "PETPhantom",
    "FineImage",
    "body_regions",
    "CTSimulator",
    "real_ct_objects",
    "real_mr_objects",
    "DATA_MODELS",
    "DiscreteSimulator",
    "SimulatedDataset",
    "item_generator",
    "ct_dataset",
    "mri_dataset",
    "pet_dataset",
    "pet_system_model",
    "real_anatomy_dataset",
    "SPECTSimulator",
    "SPECT_TOTAL_COUNTS",
    "spect_dataset",
    "spect_phantom",
    "spect_projector",
    "PET_TOTAL_COUNTS",
    "LoDoPaB",
    "lodopab_geometry",
    "FastMRISlices",
    "center_crop",
    "rss",
    "FastMRISense",
    "crop_or_pad",
    "compress_coils",
    "parse_ismrmrd_header",
    "read_dicom_series",
    "DicomSlices",
    "hu_to_mu",
    "read_nifti",
    "NiftiSlices",
]
