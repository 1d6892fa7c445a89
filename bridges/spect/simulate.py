"""Simulated SPECT data: primary counts at a chosen count level, scatter, Poisson noise, and the two narrow
energy windows of the triple-energy-window (TEW) scatter estimate."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..pet.simulate import _generator, _scaled_projection
from .collimator import FWHM_PER_SIGMA

__all__ = ["SPECTData", "simulate", "tew_scatter"]


def tew_scatter(
    lower: torch.Tensor, upper: torch.Tensor, lower_width: float, upper_width: float, peak_width: float
) -> torch.Tensor:
    """The triple-energy-window scatter estimate in the photopeak window (Ogawa et al., IEEE TMI 10, 1991)::

        S = (C_low / W_low + C_up / W_up) · W_peak / 2

    ``lower``/``upper`` are the counts of the narrow windows on either side of the photopeak, the widths in keV
    (e.g. 140 keV ± 10 %: W_peak = 28, with 3 keV side windows, as often used for Tc-99m). Any shapes that
    broadcast; the estimate has their broadcast shape, in counts of the peak window.

    Example::

        >>> tew_scatter(torch.tensor([30.0]), torch.tensor([6.0]), 3.0, 3.0, 28.0)   # (10 + 2) · 28 / 2
        tensor([168.])
    """
    for name, w in (("lower_width", lower_width), ("upper_width", upper_width), ("peak_width", peak_width)):
        if not w > 0:
            raise ValueError(f"expected a positive {name} in keV, got {w!r}")
    return (lower / lower_width + upper / upper_width) * (peak_width / 2)


@dataclass(frozen=True)
class SPECTData:
    """One simulated acquisition: Poisson ``counts`` in the photopeak window, the expected ``primary`` and
    ``scatter``, the narrow windows' Poisson counts ``lower``/``upper`` (for `tew_scatter`; None without windows),
    and ``scale`` per item (the reconstruction of ``counts`` estimates ``scale · image``)."""

    counts: torch.Tensor
    primary: torch.Tensor
    scatter: torch.Tensor
    lower: torch.Tensor | None
    upper: torch.Tensor | None
    scale: torch.Tensor

    @property
    def background(self) -> torch.Tensor:
        return self.scatter


def simulate(
    model,
    image: torch.Tensor,
    total_counts: float,
    scatter_fraction: float = 0.0,
    generator: torch.Generator | None = None,
    scatter_fwhm: float = 100.0,
    windows: tuple | None = None,
    *,
    seed: int | None = None,
) -> SPECTData:
    """Poisson counts ``y ~ Poisson(p + s)`` with ``Σ p = total_counts`` per item.

    - primary ``p = A(c x)``, c chosen per item so that it holds ``total_counts`` counts;
    - scatter ``s``: the primary blurred across bins by a Gaussian of FWHM ``scatter_fwhm`` mm (the broad
      profile of scattered photons accepted in the peak window), scaled to ``scatter_fraction = S / (S + P)``;
    - ``windows = (W_low, W_peak, W_up)`` in keV: the side windows' counts are drawn as Poisson of the scatter
      spectrum taken flat across the three windows (``s · W / W_peak``), so `tew_scatter` of them is unbiased.

    The model's own background is ignored: reconstruct with ``Projector(..., background=estimate)``.

    Shapes: image (*batch, *model.domain_shape) ≥ 0 -> each field (*batch, *model.range_shape); scale (*batch).

    Example::

        >>> from bridges import spect
        >>> A = spect.Projector(*spect.camera("siemens-symbia-lehr", image_shape=(8, 8), pixel_size=35.36, n_views=6))
        >>> data = simulate(A, torch.ones(8, 8), 5e5, scatter_fraction=0.3, windows=(3.0, 28.0, 3.0), seed=0)
        >>> estimate = tew_scatter(data.lower, data.upper, 3.0, 3.0, 28.0)
    """
    if not total_counts > 0:
        raise ValueError(f"total_counts must be positive, got {total_counts!r}")
    if not 0 <= scatter_fraction < 1:
        raise ValueError(f"scatter_fraction must lie in [0, 1), got {scatter_fraction!r}")
    if bool((image < 0).any()):
        raise ValueError(f"image (activity) must be non-negative, got a minimum of {float(image.min()):.3g}")
    generator = _generator(generator, seed, image.device)
    dims = tuple(range(-len(model.range_shape), 0))
    with torch.no_grad():
        primary, scale = _scaled_projection(model, image, total_counts, dims)
        scatter = torch.zeros_like(primary)
        if scatter_fraction > 0:
            blurred = _blur_bins(primary, scatter_fwhm / model.geometry.pixel_size)
            scatter = blurred * (
                total_counts
                * scatter_fraction
                / (1 - scatter_fraction)
                / blurred.sum(dims, keepdim=True).clamp_min(1e-30)
            )
        counts = torch.poisson(primary + scatter, generator=generator)
        lower = upper = None
        if windows is not None:
            w_low, w_peak, w_up = (float(w) for w in windows)
            lower = torch.poisson(scatter * (w_low / w_peak), generator=generator)
            upper = torch.poisson(scatter * (w_up / w_peak), generator=generator)
    return SPECTData(counts, primary, scatter, lower, upper, scale.reshape(scale.shape[: scale.dim() - len(dims)]))


def _blur_bins(y, fwhm_bins):
    sigma = fwhm_bins / FWHM_PER_SIGMA
    r = max(1, int(3 * sigma + 1))
    k = torch.exp(-0.5 * (torch.arange(-r, r + 1, dtype=y.dtype, device=y.device) / sigma) ** 2)
    flat = y.reshape(-1, 1, y.shape[-1])
    return F.conv1d(flat, (k / k.sum()).view(1, 1, -1), padding=r).reshape(y.shape)
