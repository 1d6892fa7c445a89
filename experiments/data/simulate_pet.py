"""PET data that the reconstruction's system model did not make: the object's trues along the scanner's own lines
(each bin the line between its two crystals), on a grid finer than the reconstruction's, arc-corrected as scanners
arc-correct.

Data simulated with the very `bridges.pet.SystemModel` that reconstructs them, on the same grid, agree with it
exactly (the inverse crime); a scanner's do not. `PETSimulator` measures the object apart from the reconstruction
in three ways: on a grid ``fine`` times finer (the object's pixel averages there, ``render`` and ``mu``; the truth
is their mean over each reconstruction pixel), along the lines between crystal pairs (mode "exact", whatever the
reconstruction's mode), and with attenuation factors from the fine μ-map. For a reconstruction in mode "arc" the
exact lines are then rebinned, per view, by linear interpolation in radial position onto the uniform arc-corrected
bins, zero beyond the outermost line.

Formula, with ``P_f`` the fine grid's exact-line projector, ``h`` the resolution Gaussian (its FWHM in mm, on the
fine spacing), ``n`` the model's normalisation and ``R`` the arc rebinning (identity in mode "exact")::

    t = R(n · exp(−P_f μ_f) · P_f(h * x_f)),   c = total_counts / Σ t,   clean = c · t,   truth = c · x

so that every item has ``total_counts`` trues, as `pet_dataset`'s items do, and the truth ``x`` (the object's
averages over the reconstruction's pixels) is in the units that the model's ``A x`` compares with ``clean``.
``clean`` holds the expected trues only: the dataset's noise adds the model's background ``s`` and draws Poisson.

Shapes: ``simulator(obj)`` -> ({"x": (y, x), "mu": (y, x) 1/mm}, clean (views, bins)), float32 on the CPU.

Example::

    model = pet_system_model(bridges.pet.scanner("biograph-mmr", downsample=4))
    simulator = PETSimulator(model, total_counts=2e5)
    fields, clean = simulator(pet_phantom(generator))      # clean: (63, 86), fields["x"]: (50, 50)
    y = poisson_counts(clean + model.background, generator)
"""

from __future__ import annotations

import dataclasses
import math
import numbers

import numpy as np
import torch

from bridges import pet
from experiments.data.ellipse_tables import pixel_average

# Points per fine pixel for objects without closed-form averages: 4² on the 2x grid, 8² per reconstruction pixel
FINE_SUPERSAMPLE = 4

__all__ = ["PETSimulator", "arc_rebinning"]


def arc_rebinning(scanner) -> torch.Tensor:
    """Weights ``W`` (views, arc bins, exact bins) of the arc correction: per view, linear interpolation in radial
    position from the exact lines (`radial_positions("exact")`, increasing within a view) to the uniform arc bins,
    zero beyond the outermost exact line. The odd lines' direction, ``π / N`` past their view's, is kept as it is:
    the usual mashing of two angles into one view. float32."""
    exact, arc = np.asarray(scanner.radial_positions("exact"), np.float64), scanner.radial_positions("arc")
    K = scanner.n_radial_bins
    weights = np.zeros((scanner.n_views, K, K))
    k = np.arange(K)
    for v, s in enumerate(exact):
        if K < 2 or np.any(np.diff(s) <= 0):
            raise ValueError(f"expected increasing exact radial positions in view {v} to interpolate between")
        j = np.clip(np.searchsorted(s, arc, side="right") - 1, 0, K - 2)  # the exact line at or below each arc bin
        w = (arc - s[j]) / (s[j + 1] - s[j])
        inside = (arc >= s[0]) & (arc <= s[-1])
        weights[v, k[inside], j[inside]] = 1 - w[inside]
        weights[v, k[inside], j[inside] + 1] += w[inside]
    return torch.from_numpy(weights).float()


class PETSimulator:
    """Noiseless trues of continuous PET objects, and their truth on the reconstruction's grid (module docstring).

    ``model`` is the reconstruction's single-slice `SystemModel` (mode "arc" or "exact", all views); its
    normalisation and resolution FWHM are the scanner's, its attenuation and background are not used (each object
    brings its μ-map; the dataset adds the background). Objects have ``render(shape)`` (activity) and
    ``mu(shape)`` (1/mm), each pixel the object's average over it (`experiments.data.objects.PETPhantom`).
    """

    def __init__(self, model, total_counts: float, fine: int = 2):
        if not isinstance(model, pet.SystemModel):
            raise TypeError(f"expected a bridges.pet.SystemModel, got {type(model).__name__}")
        if len(model.domain_shape) != 2:
            raise ValueError(
                f"expected a single-slice SystemModel (image (y, x)), got image shape {model.domain_shape}"
            )
        if model.views.size != model.scanner.n_views:
            raise ValueError(f"expected a model of all {model.scanner.n_views} views, got {model.views.size}")
        real = isinstance(total_counts, numbers.Real) and not isinstance(total_counts, bool)
        if not (real and 0 < total_counts < math.inf):
            raise ValueError(f"expected total_counts as a positive number of trues, got {total_counts!r}")
        if isinstance(fine, bool) or not isinstance(fine, int) or fine < 1:
            raise ValueError(f"expected fine as a positive integer, got {fine!r}")
        scanner = model.scanner
        self.model, self.total_counts, self.fine = model, float(total_counts), fine
        self.fine_scanner = dataclasses.replace(
            scanner, image_shape=tuple(fine * n for n in scanner.image_shape), pixel_size=scanner.pixel_size / fine
        )
        # The scanner's lines, resolution and normalisation; no attenuation (per item) and no background (the noise's)
        self.fine_model = pet.SystemModel(
            self.fine_scanner,
            None,
            model.normalization.detach().cpu(),
            None,
            model.resolution_fwhm,
            mode="exact",
            n_threads=model.projector.n_threads,
        )
        self.rebinning = arc_rebinning(scanner) if model.mode == "arc" else None

    def attenuation(self, mu_fine: torch.Tensor) -> torch.Tensor:
        """``exp(−P_f μ)`` on the exact lines, for a μ-map (1/mm) on the fine grid. (views, bins)"""
        with torch.no_grad():
            lines = self.fine_model.projector(mu_fine.detach().float().cpu())
        return torch.exp(-lines.reshape(self.fine_model.range_shape))

    def trues(self, activity: torch.Tensor, mu: torch.Tensor) -> torch.Tensor:
        """``t``: the trues on the model's bins (exact lines, rebinned in mode "arc") of an activity and a μ-map on
        the fine grid, unscaled."""
        with torch.no_grad():
            t = self.attenuation(mu) * self.fine_model(activity.detach().float().cpu())
        if self.rebinning is not None:
            t = torch.einsum("vkj,vj->vk", self.rebinning, t)
        return t

    def __call__(self, obj) -> tuple[dict, torch.Tensor]:
        """The item's fields (its truth ``"x"`` and μ-map ``"mu"``: the fine renderings' means over each
        reconstruction pixel, so that truth and data see one sampling of the object) and its expected trues,
        ``total_counts`` in all."""
        shape = self.fine_scanner.image_shape
        activity = obj.render(shape, supersample=FINE_SUPERSAMPLE).detach().double().cpu()
        mu = obj.mu(shape, supersample=FINE_SUPERSAMPLE).detach().float().cpu()
        t = self.trues(activity, mu).double()
        total = float(t.sum())
        if not total > 0:
            raise ValueError("the object has no trues: no activity inside the scanner's field of view")
        c = self.total_counts / total
        fields = {"x": pixel_average(c * activity, self.fine).float(), "mu": pixel_average(mu, self.fine)}
        return fields, (c * t).float()
