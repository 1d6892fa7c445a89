"""Simulated PET data: trues at a chosen count level, scatter and randoms fractions, Poisson noise."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .system_model import gaussian_kernel

__all__ = ["PETData", "simulate"]


@dataclass(frozen=True)
class PETData:
    """One simulated acquisition: Poisson ``prompts`` and the expected ``trues``, ``scatter``, ``randoms``.

    ``scale`` (per item) converts the input image to the activity that gives these trues: the
    reconstruction of ``prompts`` estimates ``scale · image``. ``background`` = scatter + randoms is
    the ``s`` of the `SystemModel` that reconstructs the data.
    """

    prompts: torch.Tensor
    trues: torch.Tensor
    scatter: torch.Tensor
    randoms: torch.Tensor
    scale: torch.Tensor

    @property
    def background(self) -> torch.Tensor:
        return self.scatter + self.randoms


def simulate(
    model,
    image: torch.Tensor,
    total_counts: float,
    randoms_fraction: float = 0.0,
    scatter_fraction: float = 0.0,
    generator: torch.Generator | None = None,
    scatter_fwhm: float = 200.0,
    *,
    seed: int | None = None,
) -> PETData:
    """Poisson counts ``y ~ Poisson(t + s_c + r)`` with ``Σ t = total_counts`` per item.

    - trues ``t = A(c x)``, ``c`` chosen so that each item holds ``total_counts`` true counts;
    - scatter ``s_c``: the trues blurred radially by a Gaussian of FWHM ``scatter_fwhm`` (the broad
      profile of single scatter), scaled so that ``scatter_fraction = S / (S + T)`` (NEMA NU 2);
    - randoms ``r``: uniform over the bins times the normalisation (singles products), scaled so
      that ``randoms_fraction = R / (T + S + R)``, the share of randoms in the prompts.

    The model's own background is ignored: build the reconstruction model with ``background=data.background``.
    The noise is drawn where the data live (the model's device) from ``generator``, which must be on that
    device (``torch.Generator(device="cuda")`` for a model on a GPU), or from a new one seeded with ``seed``.

    Shapes: image (*batch, *model.domain_shape) ≥ 0 -> each field (*batch, *model.range_shape); scale (*batch).

    Example::

        >>> from bridges import pet
        >>> scanner = pet.scanner("biograph-mmr", downsample=12)        # 16 x 16 image, 21 views of 28 bins
        >>> model = pet.SystemModel(scanner)
        >>> data = simulate(model, torch.ones(16, 16), total_counts=2e5, randoms_fraction=0.2, seed=0)
        >>> recon_model = pet.SystemModel(scanner, background=data.background)
    """
    if not (total_counts > 0):
        raise ValueError(f"total_counts must be positive, got {total_counts!r}")
    for name, f in (("randoms_fraction", randoms_fraction), ("scatter_fraction", scatter_fraction)):
        if not 0 <= f < 1:
            raise ValueError(f"{name} must lie in [0, 1), got {f!r}")
    generator = _generator(generator, seed, image.device)  # the operator computes where its input lives
    if bool((image < 0).any()):
        raise ValueError(f"image (activity) must be non-negative, got a minimum of {float(image.min()):.3g}")
    dims = tuple(range(-len(model.range_shape), 0))
    with torch.no_grad():
        trues, scale = _scaled_projection(model, image, total_counts, dims)
        scatter = _fraction(
            _radial_blur(trues, scatter_fwhm, model.scanner.bin_size),
            dims,
            total_counts * scatter_fraction / (1 - scatter_fraction),
        )
        randoms_total = (total_counts + scatter.sum(dims, keepdim=True)) * randoms_fraction / (1 - randoms_fraction)
        randoms = _fraction(model.normalization.expand_as(trues).to(trues.dtype), dims, randoms_total)
        prompts = torch.poisson(trues + scatter + randoms, generator=generator)
    return PETData(prompts, trues, scatter, randoms, scale.reshape(scale.shape[: scale.dim() - len(dims)]))


def _scaled_projection(model, image, total_counts: float, dims: tuple):
    """``model(image)`` scaled so that each item's projection holds ``total_counts``, and that scale per item."""
    projected = model(image)
    per_item = projected.sum(dims, keepdim=True)
    if bool((per_item <= 0).any()):
        raise ValueError("an image gives no counts (zero activity inside the field of view)")
    scale = total_counts / per_item
    return projected * scale, scale


def _generator(generator, seed, device):
    """The generator to draw on ``device`` with: ``generator`` if it is there, a new one from ``seed``, or None."""
    if generator is not None and seed is not None:
        raise ValueError("expected a generator or a seed, got both")
    if seed is not None:
        return torch.Generator(device=device).manual_seed(seed)
    if generator is not None and torch.device(generator.device) != device:
        # drawing on the generator's device and copying the counts over would be a host round trip
        raise ValueError(
            f"expected a torch.Generator on the data's device {device}, got one on {generator.device}: "
            f"make it with torch.Generator(device={str(device)!r}) or pass seed="
        )
    return generator


def _fraction(shape, dims, total):
    """``shape`` scaled to sum to ``total`` per item (zero where the total is zero)."""
    return shape * (total / shape.sum(dims, keepdim=True).clamp_min(1e-30))


def _radial_blur(sino, fwhm, bin_size):
    k = gaussian_kernel(fwhm, bin_size, "scatter_fwhm", sino.dtype, sino.device)
    flat = sino.reshape(-1, 1, sino.shape[-1])
    return F.conv1d(flat, k.view(1, 1, -1), padding=k.numel() // 2).reshape(sino.shape)
