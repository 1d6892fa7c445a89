"""Real anatomy as out-of-distribution test objects: the de-identified CT and MR images that pydicom ships.

Networks here train on random ellipses. A real slice has texture, bone, lung and shapes no ellipse table draws,
so it tests what a model learnt beyond its training distribution. pydicom's package carries two small images
(nothing is downloaded): ``CT_small.dcm``, a 128² CT slice around a thoracic vertebra (0.66 mm pixels), and
``MR_small.dcm``, a 64² MR slice. Each becomes a `FineImage` on a simulator's fine grid: resampled by bicubic
interpolation to fill the reconstruction's field, and measured by the same continuous data model as the
synthetic items. The slice is turned by 0, 90, 180 and 270 degrees, four test objects from each image.

- CT: Hounsfield units to μ = μ_water (1 + HU / 1000) in 1/mm (floored at 0), inside a disk of 0.9 of the
  field's half-width (air outside, as the scanned field is a disk; the disk is the objects' outline);
- MR: the magnitude scaled to peak 1, as a complex image of zero phase; no outline (the slice fills the field).

Example::

    objects = real_ct_objects((256, 256))   # four FineImage objects on a 256² grid, μ in 1/mm
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from experiments.data.ellipse_tables import ellipses
from experiments.data.objects import FineImage
from experiments.data.phantoms import MU_WATER

__all__ = ["real_ct_objects", "real_mr_objects", "CT_FILE", "MR_FILE", "CT_OUTLINE"]

CT_FILE, MR_FILE = "CT_small.dcm", "MR_small.dcm"
CT_OUTLINE = (1.0, 0.9, 0.9, 0.0, 0.0, 0.0)  # the disk the CT slice is cut to: the scanned field less a margin


def _pixels(name: str) -> np.ndarray:
    """The modality's values of a pydicom test file: rescale slope and intercept applied (HU for CT)."""
    import pydicom
    from pydicom.data import get_testdata_file

    ds = pydicom.dcmread(get_testdata_file(name))
    slope, intercept = float(getattr(ds, "RescaleSlope", 1)), float(getattr(ds, "RescaleIntercept", 0))
    return ds.pixel_array.astype(np.float64) * slope + intercept


def _resampled(image: np.ndarray, shape) -> torch.Tensor:
    """``image`` (its row 0 at the top, as DICOM stores it) on a (y, x) grid of ``shape`` whose rows grow with y,
    by bicubic interpolation over the same field."""
    upright = torch.from_numpy(np.ascontiguousarray(image[::-1]))[None, None]
    return F.interpolate(upright, size=tuple(shape), mode="bicubic", align_corners=False)[0, 0]


def real_ct_objects(fine_shape) -> list[FineImage]:
    """`CT_FILE` as μ in 1/mm on ``fine_shape``, cut to `CT_OUTLINE`, in four orientations (module docstring)."""
    mu = (MU_WATER * (1 + _resampled(_pixels(CT_FILE), fine_shape) / 1000)).clamp_min(0)
    mu = mu * ellipses(fine_shape, [CT_OUTLINE], torch.float64, average=True)
    return [FineImage(torch.rot90(mu, k).float().contiguous(), CT_OUTLINE) for k in range(4)]


def real_mr_objects(fine_shape) -> list[FineImage]:
    """`MR_FILE`'s magnitude at peak 1 on ``fine_shape``, complex64, in four orientations (module docstring)."""
    magnitude = _resampled(_pixels(MR_FILE), fine_shape).clamp_min(0)
    magnitude = magnitude / magnitude.max()
    return [FineImage(torch.rot90(magnitude, k).to(torch.complex64).contiguous()) for k in range(4)]
