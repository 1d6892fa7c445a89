"""On-the-fly simulated training data: random phantoms through a bridge operator plus the modality's noise.

Item ``i`` is a function of ``(seed, i)`` alone: its generator is seeded with a hash of the pair
(`item_generator`), never from global RNG state, so a resumed run, a DataLoader worker or a DDP rank
gets the same item for the same index whatever the order. Items are dicts of tensors that
``torch.utils.data.default_collate`` stacks: ``"x"`` (ground truth, ``op.domain_shape``, domain
dtype) and ``"y"`` (measurements, ``op.range_shape``, range dtype), plus modality extras.

Example::

    A = bridges.ct.Projector(bridges.ct.ParallelBeam2D(angles=30, n_detectors=183, detector_spacing=1.0,
                                                       image_shape=(128, 128)))
    data = ct_dataset(A, n=1000, seed=0, photons=1e4)
    batch = next(iter(torch.utils.data.DataLoader(data, batch_size=4)))   # batch["y"]: (4, 30, 183)
"""
from __future__ import annotations

import hashlib
import operator
from functools import partial

import torch
from torch.utils.data import Dataset

from bridges import LinearOperator, ct, mri, pet
from experiments.data.noise import (CT_NOISE, complex_gaussian_noise, poisson_counts, relative_gaussian_noise,
                                    transmission_noise)
from experiments.data.phantoms import (body_ellipse_table, body_ellipses, body_image, lpd_ellipses, lpd_signed_ellipses,
                                       mri_phantom, pet_activity, pet_body, pet_mu_map, shepp_logan, small_features)

__all__ = ["item_generator", "SimulatedDataset", "ct_dataset", "mri_dataset", "pet_dataset", "pet_system_model",
           "PET_TOTAL_COUNTS"]

# Trues per 2D sinogram: a direct plane of a short clinical FDG frame holds some 1e5-1e6.
PET_TOTAL_COUNTS = 2e5


def item_generator(seed: int, index: int) -> torch.Generator:
    """A CPU generator seeded with a hash of ``(seed, index)``: independent streams per item, stable across
    processes and Python versions (BLAKE2b, not Python's salted ``hash``)."""
    digest = hashlib.blake2b(f"{seed}/{index}".encode(), digest_size=8).digest()
    return torch.Generator().manual_seed(int.from_bytes(digest, "little") >> 1)


def _check_int(name, value, low):
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ValueError(f"expected {name} as an integer >= {low}, got {value!r}")


class SimulatedDataset(Dataset):
    """Items ``{"x": phantom, "y": noise(op(x)), ...extras}`` drawn from ``item_generator(seed, i)``.

    ``phantom(generator) -> dict`` returns ``"x"`` (and any extras); ``noise(clean, generator, item) -> y``
    turns the noiseless ``op(x)`` into measurements. Both run on the CPU with the item's generator (the
    operator runs where its buffers live), so an item does not depend on the device either. With
    ``cache=True`` generated items are kept in memory (per process, so per DataLoader worker); cached and
    regenerated items are identical. ``item_operator(item)``, where items carry operator parameters (a μ-map),
    gives the operator that measures each item; default ``op`` for all.

    Shapes: item["x"] op.domain_shape (op.domain_dtype); item["y"] op.range_shape (op.range_dtype).

    Example::

        data = SimulatedDataset(A, phantom=lambda g: {"x": torch.rand(A.domain_shape, generator=g)},
                                noise=lambda clean, g, item: clean, n=10, seed=0)
    """

    def __init__(self, op, phantom, noise, n: int, seed: int, cache: bool = False, item_operator=None):
        if not isinstance(op, LinearOperator):
            raise TypeError(f"expected a bridges.LinearOperator, got {type(op).__name__}")
        if not (callable(phantom) and callable(noise)):
            raise TypeError(f"expected callables phantom(generator) and noise(clean, generator, item), got "
                            f"{type(phantom).__name__} and {type(noise).__name__}")
        _check_int("n", n, 1)
        _check_int("seed", seed, 0)
        self.op, self.phantom, self.noise, self.n, self.seed = op, phantom, noise, n, seed
        self.item_operator = item_operator
        self.cache = {} if cache else None

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, index) -> dict:
        try:
            index = operator.index(index)  # Python, NumPy and 0-d tensor integers alike
        except TypeError:
            raise TypeError(f"expected an integer index, got {type(index).__name__}") from None
        if not -self.n <= index < self.n:
            raise IndexError(f"index {index} out of range for a dataset of {self.n} items")
        index %= self.n
        if self.cache is not None and index in self.cache:
            return dict(self.cache[index])  # a new dict, so that a caller adding keys leaves the cache alone
        item = self.generate(index)
        if self.cache is not None:
            self.cache[index] = item
        return dict(item)

    def generate(self, index: int) -> dict:
        """Item ``index`` from scratch (what ``self[index]`` returns, bypassing the cache)."""
        g = item_generator(self.seed, index)
        item = dict(self.phantom(g))
        x = item.get("x")
        self._check("x", x, self.op.domain_shape, self.op.domain_dtype, "phantom")
        op = self.op if self.item_operator is None else self.item_operator(item)
        with torch.no_grad():
            clean = op(x.to(op.device)).cpu()
        y = self.noise(clean, g, item)
        self._check("y", y, self.op.range_shape, self.op.range_dtype, "noise")
        item["y"] = y
        return item

    @staticmethod
    def _check(key, value, shape, dtype, source):
        if not isinstance(value, torch.Tensor):
            raise TypeError(f"{source} must give {key!r} as a tensor, got {type(value).__name__}")
        if tuple(value.shape) != tuple(shape) or value.dtype != dtype:
            raise ValueError(f"{source} must give {key!r} of shape {tuple(shape)} and dtype {dtype} (the "
                             f"operator's), got {tuple(value.shape)} and {value.dtype}")


# ------------------------------------------------------------------ CT
CT_PHANTOMS = {"lpd": lpd_ellipses, "body": body_ellipses, "lpd-signed": lpd_signed_ellipses,
               "shepp-logan": lambda shape, generator: shepp_logan(shape, mu=1.0)}  # the paper's test image, unitless


def _ct_phantom(shape, kind, generator):
    if kind == "body":  # one table gives the image and where its small features lie
        table = body_ellipse_table(generator)
        return {"x": body_image(shape, table), "detail": small_features(shape, table)}
    return {"x": CT_PHANTOMS[kind](shape, generator)}


def _ct_noise(photons, model, level, clean, generator, item):
    if model == "relative-gaussian":
        return relative_gaussian_noise(clean, level, generator)
    return transmission_noise(clean, photons, generator, model)


def ct_dataset(op, n: int, seed: int, photons: float = 1e4, noise: str = "poisson", phantom: str = "lpd",
               cache: bool = False, noise_level: float = 0.05) -> SimulatedDataset:
    """Random phantoms through a 2D CT projector with noise.

    Item: ``"x"`` the phantom (``"lpd"``: `lpd_ellipses`, μ in 1/mm; ``"body"``: `body_ellipses`, the same
    ellipses inside a water body, with ``"detail"``, their `small_features` mask; ``"lpd-signed"``:
    `lpd_signed_ellipses`, the learned primal-dual paper's unitless signed phantoms; ``"shepp-logan"``: the
    modified Shepp-Logan of value 1, the same for every item, its noise differing), ``"y"`` the noisy data:
    post-log line integrals with transmission noise at I0 = ``photons`` per ray, ``y = -log(max(I, 1) / I0)``,
    ``I ~ Poisson(I0 exp(-A x))`` (``noise="gaussian"``: its Gaussian approximation, see `transmission_noise`),
    or with ``noise="relative-gaussian"`` the paper's additive white noise of ``noise_level`` times the item's
    mean |A x| (`relative_gaussian_noise`).

    Shapes: x (y, x) float32; y (views, detectors) float32; detail (y, x) bool.
    """
    if not isinstance(op, ct.Projector):
        raise TypeError(f"expected a bridges.ct.Projector, got {type(op).__name__}")
    if len(op.domain_shape) != 2:
        raise ValueError(f"expected a 2D projector (image (y, x)), got image shape {op.domain_shape}")
    if noise not in CT_NOISE:
        raise ValueError(f"expected noise one of {CT_NOISE}, got {noise!r}")
    # bad parameters fail here, not at item 0
    _ct_noise(photons, noise, noise_level, torch.zeros(1), torch.Generator(), {})
    if phantom not in CT_PHANTOMS:
        raise ValueError(f"expected phantom one of {sorted(CT_PHANTOMS)}, got {phantom!r}")
    return SimulatedDataset(op, partial(_ct_phantom, op.domain_shape, phantom),
                            partial(_ct_noise, photons, noise, noise_level), n, seed, cache)


# ------------------------------------------------------------------ MRI
def _mri_phantom(shape, generator):
    return {"x": mri_phantom(shape, generator)}


def _mri_noise(sigma, mask, clean, generator, item):
    return complex_gaussian_noise(clean, sigma, generator, mask=mask)


def mri_dataset(op, n: int, seed: int, sigma: float = 0.01, cache: bool = False) -> SimulatedDataset:
    """Complex random-ellipse images through Cartesian (multi-coil) MRI with complex Gaussian noise.

    Item: ``"x"`` complex image (`mri_phantom`, max |x| = 1), ``"y"`` = ``A x + 1[M ≠ 0] n``, noise of
    standard deviation ``sigma`` per real and imaginary part on the sampled locations only (see
    `complex_gaussian_noise`). Build ``op`` as ``CartesianSense(birdcage_maps(image_shape, n_coils), mask)``; with
    those normalised maps ``sigma`` is also the noise per pixel of the fully sampled ``A^H y``, so the
    default 0.01 is 1 % of the image's peak (about 40 dB peak SNR before undersampling).

    Shapes: x (y, x) complex64; y (coils, y, x) complex64 (or (y, x) single-coil).
    """
    if not isinstance(op, mri.CartesianSense):
        raise TypeError(f"expected a bridges.mri.CartesianSense, got {type(op).__name__}")
    complex_gaussian_noise(torch.zeros(1, dtype=torch.complex64), sigma, torch.Generator())  # check sigma now
    mask = None if op.mask is None else op.mask.cpu()
    return SimulatedDataset(op, partial(_mri_phantom, op.domain_shape), partial(_mri_noise, sigma, mask),
                            n, seed, cache)


# ------------------------------------------------------------------ PET
def pet_system_model(scanner, total_counts: float = PET_TOTAL_COUNTS, scatter_fraction: float = 0.35,
                     randoms_fraction: float = 0.2, normalization=None, resolution_fwhm: float | None = None,
                     mode: str = "arc") -> pet.SystemModel:
    """The `SystemModel` of `pet_dataset`: the fixed water body `pet_body` and a fixed background.

    ``s`` = expected scatter plus randoms of a scan of the uniformly warm body with ``total_counts`` trues,
    from `bridges.pet.simulate`: scatter the trues blurred radially, ``scatter_fraction = S / (S + T)``
    (NEMA NU 2; 0.35 is about the Biograph mMR's and Discovery 690's); randoms uniform times the
    normalisation, ``randoms_fraction = R / (T + S + R)`` (0.2: a moderate count rate). ``s`` is fixed for
    the whole data set so that one operator serves every item; items with other activity keep about
    these fractions because each item's trues are scaled to the same ``total_counts``.

    Shapes: model domain scanner.image_shape (y, x); range scanner.sinogram_shape (views, bins).

    Example::

        model = pet_system_model(bridges.pet.PETScanner.biograph_mmr(downsample=6), total_counts=2e5)
        data = pet_dataset(model, n=100, seed=0, total_counts=2e5)
    """
    if not isinstance(scanner, pet.PETScanner):
        raise TypeError(f"expected a bridges.pet.PETScanner, got {type(scanner).__name__}")
    mu = pet_body(scanner.image_shape)
    noiseless = pet.SystemModel(scanner, mu, normalization, None, resolution_fwhm, mode=mode)
    warm_body = (mu > 0).to(torch.float32)
    data = pet.simulate(noiseless, warm_body, total_counts, randoms_fraction, scatter_fraction,
                        generator=torch.Generator().manual_seed(0))  # only the expected values are used
    return pet.SystemModel(scanner, mu, normalization, data.background, resolution_fwhm, mode=mode)


def _pet_phantom(model, mu_map, total_counts, per_item_mu, generator):
    activity = pet_activity(mu_map, generator)
    mu = pet_mu_map(mu_map, activity) if per_item_mu else mu_map
    item_model = _pet_item_model(model, {"mu": mu}) if per_item_mu else model
    with torch.no_grad():
        trues = item_model(activity.to(model.device)).sum().cpu()
    return {"x": activity * (total_counts / trues), "mu": mu}


def _pet_item_model(model, item):
    return model.with_attenuation(item["mu"].to(model.device))


def _pet_noise(background, clean, generator, item):
    return poisson_counts(clean + background, generator)


def pet_dataset(model, n: int, seed: int, total_counts: float = PET_TOTAL_COUNTS, mu_map: torch.Tensor | None = None,
                per_item_mu: bool = False, cache: bool = False) -> SimulatedDataset:
    """Random activity inside a fixed body through a PET `SystemModel`, with Poisson noise and background.

    Item: ``"x"`` activity (`pet_activity`, zero outside the body) scaled so that its trues hold
    ``total_counts``, ``Σ A x = total_counts``, so that reconstructions of ``y`` and targets share units; ``"y"``
    prompts ``~ Poisson(A x + s)``, ``s = model.background``; ``"mu"`` the μ-map (1/mm).

    The μ-map is the same for every item (``mu_map``, default `pet_body` as `pet_system_model` uses), and
    checked against ``model.attenuation_factors``; with ``per_item_mu`` each item has its own (`pet_mu_map`:
    lungs where its activity is cold), and is measured by ``model.with_attenuation(item["mu"])``, the model's
    normalisation, resolution and background (the dataset's fixed ``s``) with the item's attenuation.

    Shapes: x (y, x) float32; y (views, bins) float32 counts; mu (y, x) float32.
    """
    if not isinstance(model, pet.SystemModel):
        raise TypeError(f"expected a bridges.pet.SystemModel, got {type(model).__name__}")
    if len(model.domain_shape) != 2:
        raise ValueError(f"expected a single-slice SystemModel (image (y, x)), got image shape {model.domain_shape}")
    if not (isinstance(total_counts, (int, float)) and total_counts > 0):
        raise ValueError(f"expected total_counts as a positive number of trues, got {total_counts!r}")
    mu_map = pet_body(model.domain_shape) if mu_map is None else mu_map
    if not isinstance(mu_map, torch.Tensor) or tuple(mu_map.shape) != model.domain_shape:
        raise ValueError(f"expected mu_map of shape {model.domain_shape}, got "
                         f"{tuple(mu_map.shape) if isinstance(mu_map, torch.Tensor) else type(mu_map).__name__}")
    mu_map = mu_map.detach().to(torch.float32).cpu()
    with torch.no_grad():
        factors = torch.exp(-model.projector(mu_map.to(model.device))).reshape(model.range_shape)
    if not torch.allclose(factors, model.attenuation_factors, rtol=1e-4, atol=1e-6):
        raise ValueError("mu_map does not give the model's attenuation factors exp(-P μ): build the model with "
                         "pet_system_model or pass the μ-map it was built with")
    return SimulatedDataset(model, partial(_pet_phantom, model, mu_map, total_counts, per_item_mu),
                            partial(_pet_noise, model.background.cpu()), n, seed, cache,
                            partial(_pet_item_model, model) if per_item_mu else None)
