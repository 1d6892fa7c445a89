"""Data for the experiments: simulated phantoms, noise models and on-the-fly datasets."""
from .coils import birdcage_maps
from .noise import complex_gaussian_noise, poisson_counts, transmission_noise
from .phantoms import MU_WATER_511KEV, lpd_ellipse_table, lpd_ellipses, mri_phantom, pet_activity, pet_body
from .synthetic import (PET_COUNTS, SimulatedDataset, ct_dataset, item_generator, mri_dataset, pet_dataset,
                        pet_system_model)

__all__ = ["birdcage_maps", "transmission_noise", "complex_gaussian_noise", "poisson_counts",
           "MU_WATER_511KEV", "lpd_ellipse_table", "lpd_ellipses", "pet_body", "pet_activity", "mri_phantom",
           "SimulatedDataset", "item_generator", "ct_dataset", "mri_dataset", "pet_dataset", "pet_system_model",
           "PET_COUNTS"]
