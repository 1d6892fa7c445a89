"""Noise models of each modality, kept beside the operators (which stay noiseless).

- CT: `transmission_noise`, photon counting before the log: Poisson or its Gaussian approximation;
  `relative_gaussian_noise`, the learned primal-dual paper's white noise scaled to the data's mean;
- MRI: `complex_gaussian_noise`, thermal noise on the acquired k-space samples;
- PET: `poisson_counts`, prompts ~ Poisson(A x + s) from a `bridges.pet.SystemModel`'s expected counts.

Every function takes an explicit `torch.Generator`, so a data item is a function of its seed alone.

Example::

    g = torch.Generator().manual_seed(0)
    y = transmission_noise(A(mu), photons=1e4, generator=g)
    k = complex_gaussian_noise(A_mri(x), sigma=0.01, generator=g, mask=A_mri.mask)
"""

from __future__ import annotations

import math

import torch

__all__ = ["transmission_noise", "relative_gaussian_noise", "complex_gaussian_noise", "poisson_counts"]

TRANSMISSION_MODELS = ("poisson", "gaussian")
CT_NOISE = (*TRANSMISSION_MODELS, "relative-gaussian")


def _check(name, tensor, generator):
    if not isinstance(tensor, torch.Tensor):
        raise TypeError(f"expected {name} as a tensor, got {type(tensor).__name__}")
    if not isinstance(generator, torch.Generator):
        raise TypeError(f"expected a torch.Generator, got {type(generator).__name__}")


def _positive(name, value):
    if isinstance(value, torch.Tensor):
        ok = bool(torch.isfinite(value).all() and (value > 0).all())
    else:
        ok = isinstance(value, (int, float)) and math.isfinite(value) and value > 0
    if not ok:
        raise ValueError(f"expected {name} as a positive finite number (or tensor), got {value!r}")


def transmission_noise(
    sinogram: torch.Tensor, photons, generator: torch.Generator, model: str = "poisson"
) -> torch.Tensor:
    """Noisy post-log CT data from noiseless line integrals ``p`` at ``photons`` = I0 per ray.

    - ``"poisson"``: counts ``I ~ Poisson(I0 exp(-p))``, returned as ``-log(max(I, 1) / I0)`` (a ray
      with no photon is read as one, as scanners clip before the log);
    - ``"gaussian"``: ``p + ε``, ``ε ~ N(0, 1 / (I0 exp(-p)))``, the delta-method approximation of the
      Poisson model (``Var[-log I] ≈ 1 / E[I]``), accurate when every ray keeps many photons.

    Shapes: sinogram (*any) line integrals (mm · 1/mm, unitless) -> same shape and dtype; photons a
    number or a tensor broadcastable to the sinogram (e.g. a bowtie profile).

    Example::

        y = transmission_noise(A(mu), 1e4, torch.Generator().manual_seed(0))
    """
    _check("sinogram", sinogram, generator)
    _positive("photons (I0 per ray)", photons)
    if sinogram.is_complex() or not sinogram.is_floating_point():
        raise TypeError(f"expected a real floating-point sinogram, got {sinogram.dtype}")
    if model not in TRANSMISSION_MODELS:
        raise ValueError(f"expected model in {TRANSMISSION_MODELS}, got {model!r}")
    mean_counts = photons * torch.exp(-sinogram)
    if model == "gaussian":
        noise = torch.randn(sinogram.shape, generator=generator, dtype=sinogram.dtype, device=sinogram.device)
        return sinogram + noise * mean_counts.rsqrt()
    counts = torch.poisson(mean_counts, generator=generator)
    return -torch.log(counts.clamp_min(1) / photons)


def relative_gaussian_noise(data: torch.Tensor, level: float, generator: torch.Generator) -> torch.Tensor:
    """``y = p + level · mean|p| · n``, ``n`` white standard Gaussian noise and the mean over each item's data.

    The noise of Adler & Öktem's ellipse experiment (learned primal-dual, IEEE TMI 2018; their code adds
    ``white_noise(range) * mean(abs(data)) * 0.05``): additive, the same for every ray, ``level`` a
    fraction of the item's mean absolute measurement, so that it means the same whatever the data's units.

    Shapes: data (*any) real, one item (the mean is over the whole tensor) -> same shape and dtype.

    Example::

        y = relative_gaussian_noise(A(x), 0.05, torch.Generator().manual_seed(0))
    """
    _check("data", data, generator)
    if data.is_complex() or not data.is_floating_point():
        raise TypeError(f"expected real floating-point data, got {data.dtype}")
    if not (isinstance(level, (int, float)) and math.isfinite(level) and level >= 0):
        raise ValueError(f"expected the noise level as a non-negative finite number, got {level!r}")
    noise = torch.randn(data.shape, generator=generator, dtype=data.dtype, device=data.device)
    return data + noise * (level * data.abs().mean())


def complex_gaussian_noise(
    kspace: torch.Tensor, sigma: float, generator: torch.Generator, mask: torch.Tensor | None = None
) -> torch.Tensor:
    """``y = k + 1[M ≠ 0] · n``: circular complex Gaussian noise on the sampled k-space locations.

    ``Re n`` and ``Im n`` are independent ``N(0, sigma²)`` (so ``E|n|² = 2 sigma²``). With the
    orthonormal FFT and coil maps with ``Σ|S_c|² = 1``, a fully sampled ``A^H n`` has the same
    per-part standard deviation ``sigma`` per pixel, so ``sigma`` reads in image units.

    Why the mask's support and not a product with the mask: noise is thermal noise of the samples
    actually acquired. Unsampled locations were never measured and stay exactly 0 (so ``y`` remains in
    the range of the masked operator, which data-consistency layers assume), and a weighted mask must
    not rescale the noise of the samples it keeps. ``mask=None`` adds noise everywhere (full sampling).

    Shapes: kspace (*batch, [coils,] y, x) complex; mask broadcastable to it, e.g. (y, x), (1, x), (y, 1).

    Example::

        y = complex_gaussian_noise(A(x), 0.01, torch.Generator().manual_seed(0), mask=A.mask)
    """
    _check("kspace", kspace, generator)
    if not kspace.is_complex():
        raise TypeError(f"expected complex k-space (complex64), got {kspace.dtype}")
    if not (isinstance(sigma, (int, float)) and math.isfinite(sigma) and sigma >= 0):
        raise ValueError(f"expected sigma as a non-negative finite number, got {sigma!r}")
    real_dtype = kspace.real.dtype
    parts = torch.randn((*kspace.shape, 2), generator=generator, dtype=real_dtype, device=kspace.device)
    noise = torch.view_as_complex(parts) * sigma
    if mask is not None:
        if not isinstance(mask, torch.Tensor) or mask.is_complex():
            raise TypeError(f"expected a real mask tensor, got {getattr(mask, 'dtype', type(mask).__name__)}")
        try:
            torch.broadcast_shapes(mask.shape, kspace.shape)
        except RuntimeError:
            raise ValueError(
                f"expected a mask broadcastable to k-space {tuple(kspace.shape)}, got {tuple(mask.shape)}"
            ) from None
        noise = noise * (mask != 0).to(device=kspace.device)
    return kspace + noise


def poisson_counts(expected_counts: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """PET prompts ``y ~ Poisson(ȳ)``, ȳ = A x + s the expected counts (trues plus randoms and scatter).

    Shapes: expected_counts (*any) ≥ 0, counts -> same shape and dtype, integer-valued.

    Example::

        y = poisson_counts(model.expected(x), torch.Generator().manual_seed(0))
    """
    _check("expected_counts", expected_counts, generator)
    if expected_counts.is_complex() or not expected_counts.is_floating_point():
        raise TypeError(f"expected real floating-point expected counts, got {expected_counts.dtype}")
    if not bool(torch.isfinite(expected_counts).all()) or bool((expected_counts < 0).any()):
        raise ValueError(
            f"expected counts must be finite and non-negative, got a minimum of {float(expected_counts.min()):.3g}"
        )
    return torch.poisson(expected_counts, generator=generator)
