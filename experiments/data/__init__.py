"""Data for the experiments. Loaders for the field's file formats: LoDoPaB-CT and fastMRI HDF5, DICOM CT series
and NIfTI volumes, each a lazy torch Dataset in this library's conventions (DESIGN.md)."""
from .dicom import DicomSlices, hu_to_mu, read_dicom_series
from .fastmri import FastMRISlices, center_crop, parse_ismrmrd_header, rss
from .lodopab import LoDoPaB, lodopab_geometry
from .nifti import NiftiSlices, read_nifti

__all__ = ["LoDoPaB", "lodopab_geometry", "FastMRISlices", "center_crop", "rss", "parse_ismrmrd_header",
           "read_dicom_series", "DicomSlices", "hu_to_mu", "read_nifti", "NiftiSlices"]
