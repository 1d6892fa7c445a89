"""On-the-fly simulated data: random continuous objects, measured by a model the reconstruction does not share.

An item's data come from the object itself, not from the operator that reconstructs them on its grid (the
inverse crime, Kaipio & Somersalo 2005): CT the object's exact line integrals along each ray (`CTSimulator`), MRI
its k-space from a 4x finer grid (`MRISimulator`), PET its trues along the crystal pairs' lines on a 2x finer grid
(`PETSimulator`), SPECT its counts through a 2x finer grid and detector (`SPECTSimulator`); the truth ``"x"`` is
the object's average over each pixel, and the bodies vary per item. With
``model="discrete"`` a dataset keeps the old simulation (pixel-centre truth through the operator), for ablations.

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

import dataclasses
import hashlib
import operator
from functools import partial

import torch
from torch.utils.data import ConcatDataset, Dataset

from bridges import LinearOperator, ct, mri, pet, spect
from experiments.data.noise import (
    CT_NOISE,
    complex_gaussian_noise,
    poisson_counts,
    relative_gaussian_noise,
    transmission_noise,
)
from experiments.data.objects import EllipseSum, body_regions
from experiments.data.phantoms import (
    MODIFIED_SHEPP_LOGAN,
    MU_WATER,
    MU_WATER_511KEV,
    body_ellipse_table,
    lpd_ellipse_table,
    mri_object,
    pet_body,
    pet_phantom,
    small_features,
)
from experiments.data.simulate_ct import CTSimulator
from experiments.data.simulate_mri import MRISimulator
from experiments.data.simulate_pet import PETSimulator
from experiments.data.simulate_spect import SPECTSimulator, spect_scatter

__all__ = [
    "item_generator",
    "SimulatedDataset",
    "DiscreteSimulator",
    "DATA_MODELS",
    "ct_dataset",
    "mri_dataset",
    "pet_dataset",
    "pet_system_model",
    "real_anatomy_dataset",
    "PET_TOTAL_COUNTS",
    "spect_phantom",
    "spect_projector",
    "spect_dataset",
    "SPECT_TOTAL_COUNTS",
    "MU_WATER_140KEV",
    "MU_LUNG_140KEV",
]

# Trues per 2D sinogram: a direct plane of a short clinical FDG frame holds some 1e5-1e6.
PET_TOTAL_COUNTS = 2e5
# Primary counts per 2D SPECT slice (Tc-99m, photopeak window): a clinical study's few million counts over some
# fifty 8-9 mm slices with activity hold of the order of 1e5 each.
SPECT_TOTAL_COUNTS = 1e5
# Narrow-beam μ at 140 keV (NIST XCOM, water 0.154 cm²/g at 140 keV; scatter is modelled apart, so not the
# broad-beam 0.12 /cm); inflated lung about 0.3 g/cm³, 0.3 of water's.
MU_WATER_140KEV = 0.0154
MU_LUNG_140KEV = 0.0046


def item_generator(seed: int, index: int) -> torch.Generator:
    """A CPU generator seeded with a hash of ``(seed, index)``: independent streams per item, stable across
    processes and Python versions (BLAKE2b, not Python's salted ``hash``)."""
    digest = hashlib.blake2b(f"{seed}/{index}".encode(), digest_size=8).digest()
    return torch.Generator().manual_seed(int.from_bytes(digest, "little") >> 1)


def _check_int(name, value, low):
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ValueError(f"expected {name} as an integer >= {low}, got {value!r}")


DATA_MODELS = ("continuous", "discrete")


class SimulatedDataset(Dataset):
    """Items ``{"x": truth, "y": noise(clean), ...extras}`` drawn from ``item_generator(seed, i)``.

    ``phantom(generator) -> dict`` returns the item's extras and either ``"object"``, a continuous object that
    ``simulator(object) -> (fields, clean)`` measures (``fields`` holds the truth ``"x"`` and any operator
    parameters, ``clean`` the noiseless data), or, without a simulator, ``"x"`` itself, measured by the operator
    (``clean = op(x)``: the inverse crime, for tests and ablations). ``noise(clean, generator, item) -> y`` turns
    the noiseless data into measurements. All run on the CPU with the item's generator (the operator runs where
    its buffers live), so an item does not depend on the device either. With ``cache=True`` generated items are
    kept in memory (per process, so per DataLoader worker); cached and regenerated items are identical.
    ``item_operator(item)``, where items carry operator parameters (a μ-map), gives the operator that
    reconstructs each item; default ``op`` for all.

    Shapes: item["x"] op.domain_shape (op.domain_dtype); item["y"] op.range_shape (op.range_dtype).

    Example::

        data = SimulatedDataset(A, phantom=lambda g: {"x": torch.rand(A.domain_shape, generator=g)},
                                noise=lambda clean, g, item: clean, n=10, seed=0)
    """

    def __init__(self, op, phantom, noise, n: int, seed: int, cache: bool = False, item_operator=None, simulator=None):
        if not isinstance(op, LinearOperator):
            raise TypeError(f"expected a bridges.LinearOperator, got {type(op).__name__}")
        if not (callable(phantom) and callable(noise)):
            raise TypeError(
                f"expected callables phantom(generator) and noise(clean, generator, item), got "
                f"{type(phantom).__name__} and {type(noise).__name__}"
            )
        _check_int("n", n, 1)
        _check_int("seed", seed, 0)
        self.op, self.phantom, self.noise, self.n, self.seed = op, phantom, noise, n, seed
        self.item_operator, self.simulator = item_operator, simulator
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
        if self.simulator is not None:
            if "object" not in item:
                raise ValueError("with a simulator, phantom must give the continuous 'object' to measure")
            fields, clean = self.simulator(item.pop("object"))
            item.update(fields)
        self._check("x", item.get("x"), self.op.domain_shape, self.op.domain_dtype, "phantom")
        if self.simulator is None:
            op = self.op if self.item_operator is None else self.item_operator(item)
            with torch.no_grad():
                clean = op(item["x"].to(op.device)).cpu()
        y = self.noise(clean, g, item)
        self._check("y", y, self.op.range_shape, self.op.range_dtype, "noise")
        item["y"] = y
        return item

    @staticmethod
    def _check(key, value, shape, dtype, source):
        if not isinstance(value, torch.Tensor):
            raise TypeError(f"{source} must give {key!r} as a tensor, got {type(value).__name__}")
        if tuple(value.shape) != tuple(shape) or value.dtype != dtype:
            raise ValueError(
                f"{source} must give {key!r} of shape {tuple(shape)} and dtype {dtype} (the "
                f"operator's), got {tuple(value.shape)} and {value.dtype}"
            )


class DiscreteSimulator:
    """The inverse crime, kept for ablations (``data.model = "discrete"``): the object sampled at the reconstruction
    grid's pixel centres, measured by the reconstruction's own operator."""

    def __init__(self, op):
        self.op = op

    def __call__(self, obj) -> tuple[dict, torch.Tensor]:
        x = obj.render(self.op.domain_shape[-2:], average=False).to(self.op.domain_dtype)
        with torch.no_grad():
            return {"x": x}, self.op(x.to(self.op.device)).cpu()


def _simulator(model: str, continuous, op):
    """The data model of ``model``: ``continuous()`` (a simulator the reconstruction does not share) or the
    discrete one."""
    if model not in DATA_MODELS:
        raise ValueError(f"expected data model one of {DATA_MODELS}, got {model!r}")
    return continuous() if model == "continuous" else DiscreteSimulator(op)


def _regions(shape, outline) -> dict:
    """The items' body, rim and interior masks (`body_regions`), where the object has a body."""
    return {} if outline is None else body_regions(shape, outline)


# ------------------------------------------------------------------ CT
def _lpd(generator):
    return EllipseSum(tuple(lpd_ellipse_table(generator)), MU_WATER, floor=True)


def _body(generator):
    table = body_ellipse_table(generator)
    return EllipseSum(tuple(table), MU_WATER, outline=table[0])


def _lpd_signed(generator):
    return EllipseSum(tuple(lpd_ellipse_table(generator)), 1.0)


def _shepp_logan(generator):  # the paper's test image, unitless: the same for every item, its noise differing
    return EllipseSum(tuple(MODIFIED_SHEPP_LOGAN), 1.0, outline=MODIFIED_SHEPP_LOGAN[0])


CT_PHANTOMS = {"lpd": _lpd, "body": _body, "lpd-signed": _lpd_signed, "shepp-logan": _shepp_logan}


def _ct_phantom(shape, kind, generator):
    obj = CT_PHANTOMS[kind](generator)
    item = {"object": obj, **_regions(shape, obj.outline)}
    if kind == "body":  # where its small features lie
        item["detail"] = small_features(shape, obj.table)
    return item


def _ct_noise(photons, model, level, clean, generator, item):
    if model == "relative-gaussian":
        return relative_gaussian_noise(clean, level, generator)
    return transmission_noise(clean, photons, generator, model)


def ct_dataset(
    op,
    n: int,
    seed: int,
    photons: float = 1e4,
    noise: str = "poisson",
    phantom: str = "lpd",
    cache: bool = False,
    noise_level: float = 0.05,
    model: str = "continuous",
    sub_rays: int = 4,
    fine: int = 4,
) -> SimulatedDataset:
    """Random phantoms through a 2D CT scanner with noise.

    Item: ``"x"`` the truth, each pixel the phantom's average over it (``"lpd"``: `lpd_ellipse_table`'s ellipses,
    floored at 0, μ in 1/mm; ``"body"``: `body_ellipse_table`, the same ellipses inside a water body that varies
    per item, with ``"detail"``, their `small_features` mask; ``"lpd-signed"``: the learned primal-dual paper's
    unitless signed phantoms; ``"shepp-logan"``: the modified Shepp-Logan of value 1, the same for every item,
    its noise differing); phantoms with a body carry its ``"body"``, ``"rim"`` and ``"interior"`` masks
    (`body_regions`). ``"y"`` the noisy data of a model the projector does not share (``model="continuous"``,
    `CTSimulator`: exact line integrals averaged over ``sub_rays`` rays per channel, or a grid ``fine`` times
    finer): post-log line integrals with transmission noise at I0 = ``photons`` per ray,
    ``y = -log(max(I, 1) / I0)``, ``I ~ Poisson(I0 exp(-p))`` (``noise="gaussian"``: its Gaussian approximation, see
    `transmission_noise`), or with ``noise="relative-gaussian"`` the paper's additive white noise of ``noise_level``
    times the item's mean |p| (`relative_gaussian_noise`). ``model="discrete"``: the phantom at the pixel centres
    through ``op`` itself (the inverse crime; for ablations).

    Shapes: x (y, x) float32; y (views, detectors) float32; detail, body, rim, interior (y, x) bool.
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
    simulator = _simulator(model, lambda: CTSimulator(op.geometry, sub_rays, fine), op)
    return SimulatedDataset(
        op,
        partial(_ct_phantom, op.domain_shape, phantom),
        partial(_ct_noise, photons, noise, noise_level),
        n,
        seed,
        cache,
        simulator=simulator,
    )


# ------------------------------------------------------------------ MRI
def _mri_phantom(shape, generator):
    obj = mri_object(generator)
    return {"object": obj, **_regions(shape, obj.outline)}


def _mri_noise(sigma, mask, clean, generator, item):
    return complex_gaussian_noise(clean, sigma, generator, mask=mask)


def mri_dataset(
    op, n: int, seed: int, sigma: float = 0.01, cache: bool = False, model: str = "continuous", fine: int = 4
) -> SimulatedDataset:
    """Complex random-ellipse images through Cartesian (multi-coil) MRI with complex Gaussian noise.

    Item: ``"x"`` the complex image (`mri_object`, peak |x| at most 1), each pixel its average over the pixel, with
    its head's ``"body"``, ``"rim"`` and ``"interior"`` masks; ``"y"`` = ``k + 1[M ≠ 0] n``, ``k`` the k-space of a
    rendering ``fine`` times finer with its coil maps there (`MRISimulator`; ``model="discrete"``: ``A x`` of the
    pixel-centre image, the inverse crime), noise of standard deviation ``sigma`` per real and imaginary part on
    the sampled locations only (see `complex_gaussian_noise`). Build ``op`` as ``CartesianSense(birdcage_maps(
    image_shape, n_coils), mask)``: the continuous model evaluates the same birdcage sensitivities on its fine grid.
    With those normalised maps ``sigma`` is also the noise per pixel of the fully sampled ``A^H y``, so the default
    0.01 is 1 % of the image's peak (about 40 dB peak SNR before undersampling).

    Shapes: x (y, x) complex64; y (coils, y, x) complex64 (or (y, x) single-coil); body, rim, interior (y, x) bool.
    """
    if not isinstance(op, mri.CartesianSense):
        raise TypeError(f"expected a bridges.mri.CartesianSense, got {type(op).__name__}")
    complex_gaussian_noise(torch.zeros(1, dtype=torch.complex64), sigma, torch.Generator())  # check sigma now
    mask = None if op.mask is None else op.mask.cpu()
    shape = op.domain_shape

    def continuous():
        n_coils = op.maps.shape[0] if op.maps.dim() == 3 else 1
        if op.maps.dim() != 3 or not torch.allclose(op.maps.cpu(), mri.birdcage_maps(shape, n_coils), atol=1e-6):
            raise ValueError(
                "the continuous MRI data model knows birdcage coils only: build op with "
                "CartesianSense(birdcage_maps(image_shape, n_coils), mask), or use model='discrete'"
            )
        return MRISimulator(shape, n_coils, mask if mask is not None else torch.ones(shape), fine)

    return SimulatedDataset(
        op,
        partial(_mri_phantom, shape),
        partial(_mri_noise, sigma, mask),
        n,
        seed,
        cache,
        simulator=_simulator(model, continuous, op),
    )


# ------------------------------------------------------------------ PET
def pet_system_model(
    scanner,
    total_counts: float = PET_TOTAL_COUNTS,
    scatter_fraction: float = 0.35,
    randoms_fraction: float = 0.2,
    normalization=None,
    resolution_fwhm: float | None = None,
    mode: str = "arc",
) -> pet.SystemModel:
    """The `SystemModel` of `pet_dataset`, with a fixed background ``s``; each item's μ-map replaces its attenuation.

    ``s`` = expected scatter plus randoms of a scan of a uniformly warm body (`pet_body`) with ``total_counts``
    trues, from `bridges.pet.simulate`: scatter the trues blurred radially, ``scatter_fraction = S / (S + T)``
    (NEMA NU 2; 0.35 is about the Biograph mMR's and Discovery 690's); randoms uniform times the
    normalisation, ``randoms_fraction = R / (T + S + R)`` (0.2: a moderate count rate). ``s`` is the same for every
    item, a known background as a scatter and randoms estimate gives it; items keep about these fractions
    because each item's trues are scaled to the same ``total_counts``.

    Shapes: model domain scanner.image_shape (y, x); range scanner.sinogram_shape (views, bins).

    Example::

        model = pet_system_model(bridges.pet.scanner("biograph-mmr", downsample=6), total_counts=2e5)
        data = pet_dataset(model, n=100, seed=0, total_counts=2e5)
    """
    if not isinstance(scanner, pet.PETScanner):
        raise TypeError(f"expected a bridges.pet.PETScanner, got {type(scanner).__name__}")
    mu = pet_body(scanner.image_shape)
    noiseless = pet.SystemModel(scanner, mu, normalization, None, resolution_fwhm, mode=mode)
    warm_body = (mu > 0).to(torch.float32)
    data = pet.simulate(
        noiseless,
        warm_body,
        total_counts,
        randoms_fraction,
        scatter_fraction,
        generator=torch.Generator().manual_seed(0),
    )  # only the expected values are used
    return pet.SystemModel(scanner, mu, normalization, data.background, resolution_fwhm, mode=mode)


class _PETDiscrete:
    """`DiscreteSimulator` for PET: activity and μ-map at the pixel centres through the item's own model, the
    activity scaled to ``total_counts`` trues."""

    def __init__(self, model, total_counts):
        self.model, self.total_counts = model, total_counts

    def __call__(self, obj) -> tuple[dict, torch.Tensor]:
        shape = self.model.domain_shape
        x, mu = obj.render(shape, average=False), obj.mu(shape, average=False)
        with torch.no_grad():
            trues = self.model.with_attenuation(mu.to(self.model.device))(x.to(self.model.device)).cpu()
        scale = self.total_counts / trues.sum()
        return {"x": x * scale, "mu": mu}, trues * scale


def _pet_phantom(shape, lungs, generator):
    obj = pet_phantom(generator, lungs=lungs)
    return {"object": obj, **_regions(shape, obj.outline)}


def _pet_item_model(model, item):
    return model.with_attenuation(item["mu"].to(model.device))


def _pet_noise(background, clean, generator, item):
    return poisson_counts(clean + background, generator)


def pet_dataset(
    model,
    n: int,
    seed: int,
    total_counts: float = PET_TOTAL_COUNTS,
    lungs: bool = True,
    cache: bool = False,
    data_model: str = "continuous",
    fine: int = 2,
) -> SimulatedDataset:
    """Random activity inside a body that varies per item, through a PET scanner, with Poisson noise and background.

    Item: ``"x"`` the activity (`pet_phantom`, zero outside the body), each pixel its average over the pixel,
    scaled so that the item's trues hold ``total_counts``, so that reconstructions of ``y`` and targets share
    units; ``"mu"`` the item's μ-map (1/mm, pixel averages; water, and with ``lungs`` lung where the activity is
    cold), which ``model.with_attenuation(item["mu"])`` (the model's normalisation, resolution and background
    with the item's attenuation) reconstructs with; ``"body"``, ``"rim"``, ``"interior"`` its masks; ``"y"`` prompts
    ``~ Poisson(t + s)``, ``s = model.background`` and ``t`` the trues of the scanner's crystal-pair lines through
    activity and μ-map on a grid ``fine`` times finer, rebinned to the model's sinogram (`PETSimulator`;
    ``data_model="discrete"``: the pixel-centre images through the item's own model, the inverse crime).

    Shapes: x (y, x) float32; y (views, bins) float32 counts; mu (y, x) float32; body, rim, interior (y, x) bool.
    """
    if not isinstance(model, pet.SystemModel):
        raise TypeError(f"expected a bridges.pet.SystemModel, got {type(model).__name__}")
    if len(model.domain_shape) != 2:
        raise ValueError(f"expected a single-slice SystemModel (image (y, x)), got image shape {model.domain_shape}")
    if not (isinstance(total_counts, (int, float)) and total_counts > 0):
        raise ValueError(f"expected total_counts as a positive number of trues, got {total_counts!r}")
    if data_model not in DATA_MODELS:
        raise ValueError(f"expected data model one of {DATA_MODELS}, got {data_model!r}")
    simulator = (
        PETSimulator(model, total_counts, fine) if data_model == "continuous" else _PETDiscrete(model, total_counts)
    )
    return SimulatedDataset(
        model,
        partial(_pet_phantom, model.domain_shape, lungs),
        partial(_pet_noise, model.background.cpu()),
        n,
        seed,
        cache,
        partial(_pet_item_model, model),
        simulator,
    )


# ------------------------------------------------------------------ SPECT
def spect_phantom(generator: torch.Generator, lungs: bool = True):
    """`pet_phantom`'s activity and body (organs, hot and cold lesions, lungs where cold) with its μ-map at 140 keV
    (Tc-99m): `MU_WATER_140KEV` in the body, `MU_LUNG_140KEV` in the lungs."""
    return dataclasses.replace(pet_phantom(generator, lungs=lungs), mu_water=MU_WATER_140KEV, mu_lung=MU_LUNG_140KEV)


def spect_projector(geometry, collimator) -> spect.Projector:
    """The template `bridges.spect.Projector` of `spect_dataset`: the camera's geometry and collimator, the
    attenuation of a fixed water body (`pet_body`'s ellipse at 140 keV: the operator norm a model is built with),
    no background. Each item reconstructs with its own μ-map and scatter (``with_attenuation``).

    Example::

        geometry, lehr = bridges.spect.camera("siemens-symbia-lehr", image_shape=(64, 64), pixel_size=6.0,
                                              n_views=60)
        data = spect_dataset(spect_projector(geometry, lehr), n=100, seed=0)
    """
    mu = pet_body(geometry.image_shape[-2:]) * (MU_WATER_140KEV / MU_WATER_511KEV)
    return spect.Projector(geometry, collimator, attenuation=mu)


class _SPECTDiscrete:
    """`DiscreteSimulator` for SPECT: activity and μ-map at the pixel centres through the reconstruction's own
    projector with the item's μ-map, scaled to ``total_counts``; the scatter from that primary alike."""

    def __init__(self, model, total_counts, scatter_fraction, scatter_fwhm):
        self.model, self.total_counts = model, total_counts
        self.scatter_fraction, self.scatter_fwhm = scatter_fraction, scatter_fwhm

    def __call__(self, obj) -> tuple[dict, torch.Tensor]:
        shape = self.model.domain_shape
        x, mu = obj.render(shape, average=False), obj.mu(shape, average=False)
        with torch.no_grad():
            primary = self.model.with_attenuation(mu.to(self.model.device))(x.to(self.model.device)).cpu()
        scale = self.total_counts / primary.sum()
        primary = primary * scale
        scatter = spect_scatter(primary, self.model.geometry.pixel_size, self.scatter_fraction, self.scatter_fwhm)
        return {"x": x * scale, "mu": mu, "scatter": scatter}, primary


def _spect_phantom(shape, lungs, generator):
    obj = spect_phantom(generator, lungs=lungs)
    return {"object": obj, **_regions(shape, obj.outline)}


def _spect_item_model(model, item):
    return model.with_attenuation(item["mu"].to(model.device), background=item["scatter"].to(model.device))


def _spect_noise(clean, generator, item):
    return poisson_counts(clean + item["scatter"], generator)


def spect_dataset(
    model,
    n: int,
    seed: int,
    total_counts: float = SPECT_TOTAL_COUNTS,
    scatter_fraction: float = 0.3,
    lungs: bool = True,
    cache: bool = False,
    data_model: str = "continuous",
    fine: int = 2,
    scatter_fwhm: float = 100.0,
) -> SimulatedDataset:
    """Random activity inside a body that varies per item, through a SPECT camera, with scatter and Poisson noise.

    Item: ``"x"`` the activity (`spect_phantom`, zero outside the body), each pixel its average over the pixel,
    scaled so that the item's primary counts hold ``total_counts`` (reconstructions of ``y`` and targets share
    units); ``"mu"`` its μ-map at 140 keV (pixel averages) and ``"scatter"`` its expected scatter in the photopeak
    window (``scatter_fraction = S / (S + P)``, `spect_scatter`), which ``model.with_attenuation(item["mu"],
    background=item["scatter"])`` reconstructs with; ``"body"``, ``"rim"``, ``"interior"`` its masks; ``"y"`` counts
    ``~ Poisson(p + s)``, ``p`` the primary of the camera through activity and μ-map on a grid and detector ``fine``
    times finer (`SPECTSimulator`; ``data_model="discrete"``: the pixel-centre images through the item's own
    projector, the inverse crime).

    Shapes: x (y, x) float32; y (views, bins) float32 counts; mu (y, x); scatter (views, bins); masks (y, x) bool.
    """
    if not isinstance(model, spect.Projector):
        raise TypeError(f"expected a bridges.spect.Projector, got {type(model).__name__}")
    if len(model.domain_shape) != 2:
        raise ValueError(f"expected a single-slice projector (image (y, x)), got image shape {model.domain_shape}")
    if not (isinstance(total_counts, (int, float)) and total_counts > 0):
        raise ValueError(f"expected total_counts as a positive number of counts, got {total_counts!r}")
    if data_model not in DATA_MODELS:
        raise ValueError(f"expected data model one of {DATA_MODELS}, got {data_model!r}")
    template = spect.Projector(model.geometry, model.collimator, dtype=model.domain_dtype)  # the camera alone
    simulator = (
        SPECTSimulator(template, total_counts, scatter_fraction, fine, scatter_fwhm)
        if data_model == "continuous"
        else _SPECTDiscrete(template, total_counts, scatter_fraction, scatter_fwhm)
    )
    return SimulatedDataset(
        model,
        partial(_spect_phantom, model.domain_shape, lungs),
        _spect_noise,
        n,
        seed,
        cache,
        partial(_spect_item_model, model),
        simulator,
    )


# ------------------------------------------------------------------ real anatomy
def _fixed_object(obj, shape, generator):
    return {"object": obj, **_regions(shape, obj.outline)}


def real_anatomy_dataset(dataset: SimulatedDataset, objects) -> ConcatDataset:
    """Objects given on the data model's fine grid (`experiments.data.real_anatomy`), one item each, through a
    synthetic dataset's own data model and noise: test items of another distribution.

    Shapes: as ``dataset``'s items (without the extras only random phantoms have, such as ``"detail"``).
    """
    shape = dataset.op.domain_shape[-2:]
    return ConcatDataset(
        [
            SimulatedDataset(
                dataset.op,
                partial(_fixed_object, obj, shape),
                dataset.noise,
                1,
                dataset.seed + k,
                simulator=dataset.simulator,
            )
            for k, obj in enumerate(objects)
        ]
    )
