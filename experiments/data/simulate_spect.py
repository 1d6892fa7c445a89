"""SPECT data of a continuous object: activity and μ-map on a grid finer than the reconstruction's, detector bins
finer in the same ratio, and a broad scatter background.

Data simulated with the very `bridges.spect.Projector` that reconstructs them, on its grid, agree with it exactly
(the inverse crime); a camera's do not. `SPECTSimulator` measures the object apart from the reconstruction in
three ways, as `PETSimulator` does: on an image grid ``fine`` times finer (the object's pixel averages there;
the truth is their mean over each reconstruction pixel), with the same camera and orbit seen through detector bins
``fine`` times narrower, summed back to the reconstruction's bins (mean of each group: a bin's value is the
strip's mean line integral), and with attenuation from the fine μ-map along depth planes ``fine`` times closer.
The collimator-detector response (a Gaussian whose width grows with the distance to the collimator face) is
evaluated at the fine planes' distances and integrated over the fine bins.

Formula, with ``P_f`` the fine projector (the μ-map ``μ_f``'s attenuation, the collimator's blur) and ``R`` the
mean over each group of ``fine`` fine bins::

    t = R(P_f x_f),   c = total_counts / Σ t,   primary = c · t,   truth = c · x

and the scatter in the photopeak window, ``s = k · G * primary``: the primary blurred across bins by a Gaussian of
FWHM ``scatter_fwhm`` mm (the broad profile scattered photons give; `bridges.spect.simulate`'s model), ``k`` such
that ``S / (S + P) = scatter_fraction``. The item's ``"scatter"`` is that expected ``s``: the reconstruction is given
it as its background (a TEW estimate, smoothed, estimates it), as PET's reconstruction is given its expected
randoms and scatter; the counts are then ``y ~ Poisson(primary + s)`` (the dataset's noise).

Shapes: ``simulator(obj)`` -> ({"x": (y, x), "mu": (y, x) 1/mm, "scatter": (views, bins)}, primary (views, bins)),
float32 on the CPU.

Example::

    geometry, lehr = bridges.spect.camera("siemens-symbia-lehr", image_shape=(64, 64), pixel_size=6.0, n_views=60)
    simulator = SPECTSimulator(bridges.spect.Projector(geometry, lehr), total_counts=1e5, scatter_fraction=0.3)
    fields, primary = simulator(spect_phantom(generator))      # primary (60, 64), fields["x"] (64, 64)
    y = poisson_counts(primary + fields["scatter"], generator)
"""

from __future__ import annotations

import math
import numbers

import torch

from bridges import spect
from bridges.spect.simulate import _blur_bins
from experiments.data.ellipse_tables import pixel_average

# Points per fine pixel for painted objects: 4² on the 2x grid, 8² per reconstruction pixel (as PET's)
FINE_SUPERSAMPLE = 4

__all__ = ["SPECTSimulator", "spect_scatter"]


def spect_scatter(
    primary: torch.Tensor, pixel_size: float, scatter_fraction: float, fwhm: float = 100.0
) -> torch.Tensor:
    """The expected scatter in the photopeak window: ``primary`` (…, views, bins) blurred across bins by a Gaussian
    of FWHM ``fwhm`` mm, scaled so that ``S / (S + P) = scatter_fraction`` per item (zero for a fraction of 0)."""
    if not 0 <= scatter_fraction < 1:
        raise ValueError(f"expected scatter_fraction in [0, 1), got {scatter_fraction!r}")
    if scatter_fraction == 0:
        return torch.zeros_like(primary)
    blurred = _blur_bins(primary, fwhm / pixel_size)
    dims = (-2, -1)
    return blurred * (
        primary.sum(dims, keepdim=True)
        * scatter_fraction
        / (1 - scatter_fraction)
        / blurred.sum(dims, keepdim=True).clamp_min(1e-30)
    )


class SPECTSimulator:
    """Noiseless primary counts and scatter of continuous SPECT objects, and their truth on the reconstruction's
    grid (module docstring).

    ``model`` is the reconstruction's single-slice `bridges.spect.Projector` (2D geometry, one μ-map or none): its
    geometry (camera orbit, bins) and collimator are the camera's; its attenuation and background are not used
    (each object brings its μ-map, each item its scatter). Objects have ``render(shape)`` (activity) and
    ``mu(shape)`` (1/mm), each pixel the object's average over it (`experiments.data.objects.PETPhantom` with
    140 keV μ values: `experiments.data.synthetic.spect_phantom`).
    """

    def __init__(
        self, model, total_counts: float, scatter_fraction: float = 0.0, fine: int = 2, scatter_fwhm: float = 100.0
    ):
        if not isinstance(model, spect.Projector):
            raise TypeError(f"expected a bridges.spect.Projector, got {type(model).__name__}")
        g = model.geometry
        if g.is_3d or model.item_axes:
            raise ValueError(f"expected a single-slice projector (image (y, x)), got image shape {model.domain_shape}")
        real = isinstance(total_counts, numbers.Real) and not isinstance(total_counts, bool)
        if not (real and 0 < total_counts < math.inf):
            raise ValueError(f"expected total_counts as a positive number of primary counts, got {total_counts!r}")
        if isinstance(fine, bool) or not isinstance(fine, int) or fine < 1:
            raise ValueError(f"expected fine as a positive integer, got {fine!r}")
        spect_scatter(torch.zeros(1, 1), 1.0, scatter_fraction)  # a bad fraction fails here, not at item 0
        self.model, self.total_counts, self.fine = model, float(total_counts), fine
        self.scatter_fraction, self.scatter_fwhm = float(scatter_fraction), float(scatter_fwhm)
        self.fine_geometry = spect.SPECTGeometry(
            tuple(fine * n for n in g.image_shape),
            g.pixel_size / fine,
            g.angles,
            g.radii,
            g.heads,
            n_bins=g.n_bins * fine,
        )
        self.fine_model = spect.Projector(self.fine_geometry, model.collimator)  # its μ-map per object

    def primary(self, activity: torch.Tensor, mu: torch.Tensor) -> torch.Tensor:
        """``t``: the primary counts on the model's bins of an activity and a μ-map (1/mm) on the fine grid,
        unscaled. (views, bins)"""
        with torch.no_grad():
            fine = self.fine_model.with_attenuation(mu.detach().float().cpu())(activity.detach().float().cpu())
        views, bins = self.model.range_shape
        return fine.reshape(views, bins, self.fine).mean(-1)

    def __call__(self, obj) -> tuple[dict, torch.Tensor]:
        """The item's fields (its truth ``"x"`` and μ-map ``"mu"``, the fine renderings' means over each
        reconstruction pixel, and its expected ``"scatter"``) and its expected primary counts, ``total_counts``."""
        shape = self.fine_geometry.image_shape
        activity = obj.render(shape, supersample=FINE_SUPERSAMPLE).detach().double().cpu()
        mu = obj.mu(shape, supersample=FINE_SUPERSAMPLE).detach().float().cpu()
        t = self.primary(activity, mu).double()
        total = float(t.sum())
        if not total > 0:
            raise ValueError("the object gives no counts: no activity inside the camera's field of view")
        c = self.total_counts / total
        primary = c * t
        scatter = spect_scatter(primary, self.model.geometry.pixel_size, self.scatter_fraction, self.scatter_fwhm)
        fields = {
            "x": pixel_average(c * activity, self.fine).float(),
            "mu": pixel_average(mu, self.fine),
            "scatter": scatter.float(),
        }
        return fields, primary.float()
