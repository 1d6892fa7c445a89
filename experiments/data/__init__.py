"""Data for the experiments.

Simulated: phantoms, noise models and on-the-fly datasets whose items depend only on (seed, index).
Real formats: LoDoPaB-CT and fastMRI HDF5, DICOM CT series and NIfTI volumes, each a lazy torch
Dataset in this library's conventions (DESIGN.md).
"""
from .dicom import DicomSlices, hu_to_mu, read_dicom_series
from .fastmri import FastMRISlices, center_crop, parse_ismrmrd_header, rss
from .fastmri_sense import FastMRISense, compress_coils, crop_or_pad
from .lodopab import LoDoPaB, lodopab_geometry
from .nifti import NiftiSlices, read_nifti
from .noise import complex_gaussian_noise, poisson_counts, transmission_noise
from .phantoms import (MU_WATER, MU_WATER_511KEV, body_ellipse_table, body_ellipses, ellipses, lpd_ellipse_table,
                       lpd_ellipses, lpd_signed_ellipses, mri_phantom, pet_activity, pet_body, shepp_logan,
                       small_features)
from .synthetic import (PET_TOTAL_COUNTS, SimulatedDataset, ct_dataset, item_generator, mri_dataset, pet_dataset,
                        pet_system_model)

__all__ = ["transmission_noise", "complex_gaussian_noise", "poisson_counts",
           "MU_WATER", "MU_WATER_511KEV", "ellipses", "shepp_logan", "body_ellipses", "body_ellipse_table",
           "small_features", "lpd_ellipse_table", "lpd_ellipses", "lpd_signed_ellipses", "pet_body", "pet_activity",
           "mri_phantom",
           "SimulatedDataset", "item_generator", "ct_dataset", "mri_dataset", "pet_dataset", "pet_system_model",
           "PET_TOTAL_COUNTS", "LoDoPaB", "lodopab_geometry", "FastMRISlices", "center_crop", "rss",
           "FastMRISense", "crop_or_pad", "compress_coils",
           "parse_ismrmrd_header", "read_dicom_series", "DicomSlices", "hu_to_mu", "read_nifti", "NiftiSlices"]
