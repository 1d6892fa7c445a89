"""What a raw-data reader returns: measurements with the operator that explains them, and the image grid.

Every reader of a scanner file (`experiments.data.ismrmrd_raw`, `experiments.data.dicom_ct_pd`, and the
fastMRI and LoDoPaB files through `experiments.data.raw`) returns `Acquisition`s, so that
``python -m experiments recon`` reconstructs any of them with one code path, and a trained checkpoint can be
matched against the file's geometry before it is applied.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch

from bridges.operator import LinearOperator


@dataclass
class Acquisition:
    """One reconstructable unit of a file (an MRI slice, a CT scan).

    ``data``: the measurements in ``operator``'s range layout. ``operator``: None only where building it needs
    what this machine lacks (3D CT needs CUDA); ``why_no_operator`` then says so. ``geometry``: what the operator
    was built from (a `bridges.ct` geometry; for MRI the image shape, sampling and coil maps are in ``info``),
    which a checkpoint's operator is compared with. ``voxel_size``: mm per image axis, in the image's axis order.
    ``info``: format-specific facts worth reporting (header fields, flags met, noise covariance, ...).
    """

    modality: str  # "ct" | "mri" | "pet"
    data: torch.Tensor
    operator: LinearOperator | None
    image_shape: tuple
    voxel_size: tuple
    source: Path
    geometry: object = None
    why_no_operator: str = ""
    info: dict = field(default_factory=dict)

    def require_operator(self) -> LinearOperator:
        """The operator, or a RuntimeError saying why there is none here."""
        if self.operator is None:
            raise RuntimeError(f"{self.source}: no operator on this machine: {self.why_no_operator}")
        return self.operator
