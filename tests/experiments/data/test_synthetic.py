"""Simulated datasets: items a function of (seed, index) alone; shapes of the operator; noise statistics."""

import math
import pickle

import pytest
import torch
from torch.utils.data import DataLoader

from bridges import pet
from experiments.data import (
    PET_TOTAL_COUNTS,
    SimulatedDataset,
    ct_dataset,
    item_generator,
    mri_dataset,
    pet_body,
    pet_dataset,
    pet_system_model,
)

MODALITIES = ["ct", "mri", "pet"]


@pytest.fixture
def make(ct_op, mri_op, pet_model):
    """make(modality, **kwargs) -> (dataset, operator)."""

    def build(modality, n=6, seed=0, **kwargs):
        if modality == "ct":
            return ct_dataset(ct_op, n, seed, **kwargs), ct_op
        if modality == "mri":
            return mri_dataset(mri_op, n, seed, **kwargs), mri_op
        return pet_dataset(pet_model, n, seed, total_counts=1e5, **kwargs), pet_model

    return build


def same(a, b):
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize("modality", MODALITIES)
def test_item_depends_only_on_seed_and_index(make, modality):
    first, _ = make(modality)
    forward = [first[i] for i in (0, 3, 5)]
    torch.manual_seed(123)  # global RNG state must not matter
    cached, _ = make(modality, cache=True)
    backward = [cached[i] for i in (5, 3, 0)][::-1]
    again = [cached[i] for i in (0, 3, 5)]  # now from the cache
    assert all(same(a, b) and same(a, c) for a, b, c in zip(forward, backward, again))
    assert same(first[-1], first[5])
    other_seed, _ = make(modality, seed=1)
    assert not torch.equal(other_seed[0]["x"], forward[0]["x"])
    assert not torch.equal(forward[0]["x"], forward[1]["x"])


@pytest.mark.parametrize("modality", MODALITIES)
def test_items_have_the_operators_shapes_and_dtypes_and_collate(make, modality):
    data, op = make(modality)
    item = data[0]
    assert item["x"].shape == op.domain_shape and item["x"].dtype == op.domain_dtype
    assert item["y"].shape == op.range_shape and item["y"].dtype == op.range_dtype
    batch = next(iter(DataLoader(data, batch_size=3, shuffle=True, generator=torch.Generator().manual_seed(0))))
    assert batch["y"].shape == (3, *op.range_shape)
    index = [i for i in range(len(data)) if torch.equal(data[i]["x"], batch["x"][0])]
    assert len(index) == 1 and torch.equal(batch["y"][0], data[index[0]]["y"])


def test_workers_and_pickling_give_the_same_items(make):
    data, _ = make("mri", n=4)
    in_process = [data[i] for i in range(4)]
    copy = pickle.loads(pickle.dumps(data))  # what a spawned worker or DDP rank receives
    assert all(same(copy[i], in_process[i]) for i in range(4))
    loader = DataLoader(data, batch_size=1, num_workers=2)
    assert all(same({k: v[0] for k, v in b.items()}, in_process[i]) for i, b in enumerate(loader))


def test_item_generator_is_a_stable_hash_of_seed_and_index():
    draw = lambda s, i: torch.rand(4, generator=item_generator(s, i))  # noqa: E731
    assert torch.equal(draw(0, 7), draw(0, 7))
    assert not torch.equal(draw(0, 7), draw(0, 8)) and not torch.equal(draw(0, 7), draw(1, 7))
    assert not torch.equal(draw(1, 0), draw(0, 1))  # no collision of swapped pairs


def clean_of(data, index):
    """What the dataset's data model gives item ``index`` before noise: (its fields, the noiseless data)."""
    item = data.phantom(item_generator(data.seed, index))
    return data.simulator(item["object"])


def test_ct_items_are_transmission_noise_of_the_objects_exact_line_integrals(make):
    data, op = make("ct", n=8, photons=1e4, phantom="body")
    z = []
    for i in range(len(data)):
        item = data[i]
        fields, p = clean_of(data, i)
        assert torch.equal(fields["x"], item["x"]) and item["x"].min() >= 0
        assert {"body", "rim", "interior", "detail"} <= set(item)
        z.append((item["y"] - p) * torch.sqrt(1e4 * torch.exp(-p)))  # delta method: ≈ N(0, 1)
    z = torch.cat([t.flatten() for t in z]).double()
    assert abs(float(z.mean())) < 5 / math.sqrt(z.numel()) + 0.01
    assert abs(float(z.var()) - 1) < 0.05
    gaussian, _ = make("ct", n=8, photons=1e4, noise="gaussian", phantom="body")
    assert torch.equal(gaussian[2]["x"], data[2]["x"]) and not torch.equal(gaussian[2]["y"], data[2]["y"])


@pytest.mark.parametrize("modality", MODALITIES)
def test_discrete_data_are_the_operator_on_the_pixel_centre_truth(make, modality):
    """data.model "discrete" keeps the inverse crime for ablations: the truth sampled at the pixel centres, the
    data its image under the reconstruction's (per-item) operator; "continuous" data are not that."""
    discrete, op = (
        make(modality, n=2, model="discrete") if modality != "pet" else make(modality, n=2, data_model="discrete")
    )
    continuous, _ = make(modality, n=2)
    for data in (discrete, continuous):
        fields, clean = clean_of(data, 0)
        own = op if modality != "pet" else op.with_attenuation(fields["mu"])
        gap = float((clean - own(fields["x"])).norm() / clean.norm())
        if data is discrete:
            assert gap < 1e-6
        else:
            assert gap > 5e-3  # the crime gap, measured 0.8-5 % (tests of each simulator)
    assert not torch.equal(discrete[0]["x"], continuous[0]["x"])


def test_mri_items_are_noisy_on_sampled_kspace_only(make, mri_op):
    data, _ = make("mri", n=5, sigma=0.05)
    unsampled = (mri_op.mask == 0).expand(mri_op.range_shape)
    residual = []
    for i in range(len(data)):
        item = data[i]
        _, clean = clean_of(data, i)
        assert 0.3 < float(item["x"].abs().max()) <= 1 + 1e-6
        assert torch.all(item["y"][unsampled] == 0)
        residual.append((item["y"] - clean)[~unsampled])
    r = torch.cat(residual)
    for part in (r.real.double(), r.imag.double()):
        assert abs(float(part.var()) - 0.05**2) < 5 * 0.05**2 * math.sqrt(2 / part.numel())


def test_pet_items_are_poisson_counts_of_their_own_body_and_mu_map(make, pet_model):
    data, _ = make("pet", n=8)
    z, mus = [], []
    for i in range(len(data)):
        item = data[i]
        fields, trues = clean_of(data, i)
        assert torch.equal(item["mu"], fields["mu"]) and torch.equal(item["x"], fields["x"])
        assert item["x"].min() >= 0 and torch.all(item["x"][item["mu"] == 0] == 0)
        assert float(trues.sum()) == pytest.approx(1e5, rel=1e-4)  # trues = counts
        # the item's own model explains its trues to the discretisation gap
        own = pet_model.with_attenuation(item["mu"])
        assert float(own(item["x"]).sum()) == pytest.approx(1e5, rel=0.05)
        ybar = trues + pet_model.background
        assert torch.equal(item["y"], item["y"].round())
        z.append(((item["y"] - ybar) / ybar.sqrt()).flatten())
        mus.append(item["mu"])
    assert len({tuple(mu.flatten().tolist()) for mu in mus}) == len(mus)  # each item attenuates differently
    z = torch.cat(z).double()
    assert abs(float(z.mean())) < 5 / math.sqrt(z.numel()) and abs(float(z.var()) - 1) < 0.05


def test_pet_system_model_background_has_the_stated_fractions():
    scanner = pet.scanner("biograph-mmr", downsample=9)
    model = pet_system_model(scanner, total_counts=1e5, scatter_fraction=0.4, randoms_fraction=0.25)
    scatter = 1e5 * 0.4 / 0.6  # S / (S + T) = 0.4
    randoms = (1e5 + scatter) * 0.25 / 0.75  # R / (T + S + R) = 0.25
    assert float(model.background.sum()) == pytest.approx(scatter + randoms, rel=1e-4)
    mu = pet_body(scanner.image_shape)
    assert torch.allclose(model.attenuation_factors, torch.exp(-model.projector(mu)), rtol=1e-5)
    assert PET_TOTAL_COUNTS > 0


def test_simulated_dataset_checks_what_phantom_and_noise_give(ct_op):
    shape = ct_op.domain_shape
    wrong_shape = SimulatedDataset(ct_op, lambda g: {"x": torch.zeros(3, 3)}, lambda c, g, i: c, 2, 0)
    with pytest.raises(ValueError, match=r"'x' of shape \(32, 32\)"):
        wrong_shape[0]
    wrong_dtype = SimulatedDataset(ct_op, lambda g: {"x": torch.zeros(shape)}, lambda c, g, i: c.double(), 2, 0)
    with pytest.raises(ValueError, match="'y' of shape .* dtype torch.float32"):
        wrong_dtype[0]
    ok = SimulatedDataset(ct_op, lambda g: {"x": torch.zeros(shape)}, lambda c, g, i: c, 2, 0)
    with pytest.raises(IndexError, match="out of range"):
        ok[2]
    with pytest.raises(TypeError, match="integer index"):
        ok[0.5]
    assert torch.equal(ok[torch.tensor(1)]["y"], ok[1]["y"])  # samplers may hand out tensor or NumPy integers


def test_bad_arguments_are_named(ct_op, mri_op, pet_model):
    cases = [
        (lambda: ct_dataset(mri_op, 2, 0), TypeError, "bridges.ct.Projector"),
        (lambda: ct_dataset(ct_op, 0, 0), ValueError, "n as an integer"),
        (lambda: ct_dataset(ct_op, 2, -1), ValueError, "seed"),
        (lambda: ct_dataset(ct_op, 2, 0, photons=-5), ValueError, "photons"),
        (lambda: ct_dataset(ct_op, 2, 0, noise="rician"), ValueError, "expected noise one of"),
        (lambda: mri_dataset(ct_op, 2, 0), TypeError, "CartesianSense"),
        (lambda: mri_dataset(mri_op, 2, 0, sigma=float("nan")), ValueError, "sigma"),
        (lambda: pet_dataset(ct_op, 2, 0), TypeError, "SystemModel"),
        (lambda: pet_dataset(pet_model, 2, 0, total_counts=0), ValueError, "total_counts"),
        (lambda: pet_dataset(pet_model, 2, 0, data_model="exact"), ValueError, "data model one of"),
        (lambda: ct_dataset(ct_op, 2, 0, model="fine"), ValueError, "data model one of"),
        (lambda: mri_dataset(mri_op, 2, 0, model="fine"), ValueError, "data model one of"),
        (lambda: pet_system_model("mmr"), TypeError, "PETScanner"),
        (lambda: SimulatedDataset(ct_op, None, None, 2, 0), TypeError, "callables"),
    ]
    for call, error, words in cases:
        with pytest.raises(error, match=words):
            call()
