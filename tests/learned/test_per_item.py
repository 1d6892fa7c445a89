"""Models called with a per-item operator: each item of the batch reconstructed as the model reconstructs it with
that item's own operator alone (VarNet in both forms, DeepCascade, learned gradient, learned primal-dual on PET
with a μ-map per item); operators on other spaces are refused."""

import pytest
import torch

import learned
from bridges import mri
from bridges.mri import birdcage_maps
from experiments.data.phantoms import pet_body
from tests.learned.operators import make_operator, measure, phantoms

MODELS = {
    "VarNet k-space": ("mri", lambda op: learned.VarNet(op, n_cascades=2, width=4, depth=1, form="kspace")),
    "VarNet image": ("mri", lambda op: learned.VarNet(op, n_cascades=2, width=4, depth=1, form="image")),
    "DeepCascade CG": (
        "mri",
        lambda op: learned.DeepCascade(op, n_cascades=2, n_layers=2, width=4, n_cg=3, data_consistency="cg"),
    ),
    "LearnedGradient": ("mri", lambda op: learned.LearnedGradient(op, n_iter=2, n_filters=4, n_rbf=5)),
    "LearnedPrimalDual": (
        "pet",
        lambda op: learned.LearnedPrimalDual(op, n_iter=2, n_primal=2, n_dual=2, width=4, poisson=True),
    ),
}


def per_item_operators(modality):
    """The model's operator, two items' own operators, and the per-item operator of both."""
    shared = make_operator(modality)
    if modality == "mri":
        maps = torch.stack([shared.maps, birdcage_maps((16, 16), 2, radius=3.0)])
        masks = torch.stack([shared.mask, shared.mask.flip(0)])
        return shared, [mri.CartesianSense(maps[i], masks[i]) for i in range(2)], mri.CartesianSense(maps, masks)
    mus = torch.stack([pet_body((16, 16)), 0.5 * pet_body((16, 16)).flip(1)])
    return shared, [shared.with_attenuation(mu) for mu in mus], shared.with_attenuation(mus)


@pytest.mark.parametrize("name", MODELS)
def test_per_item_operator_reconstructs_each_item_with_its_own(name):
    modality, make = MODELS[name]
    shared, singles, batched = per_item_operators(modality)
    assert batched.item_axes == 1 and batched.domain_shape == (2, *shared.domain_shape)
    model = make(shared)
    x = phantoms(shared, 2)
    y = torch.stack([measure(op, x[i]) for i, op in enumerate(singles)])
    with torch.no_grad():
        together = model(y, op=batched)
        for i, op in enumerate(singles):
            torch.testing.assert_close(together[i], model(y[i], op=op), rtol=1e-4, atol=1e-5)
        # the items' own operators differ from the model's: the call's operator is the one used
        assert not torch.allclose(together, model(y), rtol=1e-3, atol=1e-4)


def test_operators_on_other_spaces_are_refused():
    shared, singles, batched = per_item_operators("mri")
    model = learned.VarNet(shared, n_cascades=1, width=4, depth=1)
    y = measure(batched, phantoms(shared, 2))
    with pytest.raises(
        ValueError,
        match=r"VarNet: expected op on this model's spaces, \(16, 16\) -> \(2, 16, 16\).*"
        r"or per item on the batch's 3 items, \(3, 16, 16\) -> \(3, 2, 16, 16\); "
        r"got CartesianSense \(2, 16, 16\) -> \(2, 2, 16, 16\)",
    ):
        model(torch.cat([y, y[:1]]), op=batched)
    with pytest.raises(TypeError, match="VarNet: expected op as a bridges.LinearOperator or None, got Tensor"):
        model(y, op=batched.maps)
    image_form = learned.VarNet(shared, n_cascades=1, width=4, depth=1, form="image")
    with pytest.raises(
        ValueError,
        match=r"VarNet's k-space form: expected a multi-coil Cartesian sampling operator.*"
        r"got ComposedOperator .*: it has no 'maps', 'mask'",
    ):
        model(y, op=shared @ identity(shared))
    assert image_form(y, op=batched).shape == (2, 16, 16)


def identity(op):
    """The identity on op's domain, as a single-coil fully sampled F^H F: op @ identity(op) is not a CartesianSense."""
    fft = mri.CartesianSense(image_shape=op.domain_shape)
    return fft.H @ fft
