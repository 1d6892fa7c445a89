"""What each model promises beyond the shared contract: data consistency, forms, pseudo-inverses, limits."""

import math

import pytest
import torch

import learned
from bridges import ct, mri
from bridges.mri import sampling
from tests.learned.operators import SampledCoils, make_operator, measure, phantoms


@pytest.mark.parametrize("modality, coils", [("ct", 1), ("mri", 1), ("mri", 2), ("pet", 1)])
def test_space_layout_round_trip(modality, coils):
    op = make_operator(modality, coils=coils)
    for shape, dtype in ((op.domain_shape, op.domain_dtype), (op.range_shape, op.range_dtype)):
        layout = learned.SpaceLayout(shape, dtype)
        t = torch.randn(3, *shape, dtype=dtype)
        h = layout.to_channels(t)
        assert h.shape == (3, layout.channels, *shape[-2:]) and not h.is_complex()
        assert layout.channels == (2 if dtype.is_complex else 1) * math.prod(shape[:-2])
        assert torch.equal(layout.from_channels(h), t)


def test_exact_data_consistency_is_the_converged_cg_solution():
    """Single-coil Cartesian MRI: A^H A is a projection, and k-space replacement solves the DC problem."""
    op = make_operator("mri", coils=1)
    assert learned.is_partial_isometry(op)
    assert not learned.is_partial_isometry(make_operator("mri", coils=2))
    assert not learned.is_partial_isometry(make_operator("ct"))
    x_cnn, y = phantoms(op, 2, seed=1), measure(op, phantoms(op, 2))
    exact = learned.DataConsistency(op, "exact", noise_level=4.0)(op, x_cnn, y)
    cg = learned.DataConsistency(op, "cg", noise_level=4.0, n_cg=30)(op, x_cnn, y)
    torch.testing.assert_close(exact, cg, rtol=1e-4, atol=1e-5)
    coil_kspace = lambda x: mri.fft2c(op.maps[0] * x)  # noqa: E731 - |S| = 1 for one coil
    k, k_cnn, sampled = coil_kspace(exact), coil_kspace(x_cnn), op.mask.real > 0
    torch.testing.assert_close(k[:, sampled], ((k_cnn + 4.0 * y[:, 0]) / 5.0)[:, sampled], rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(k[:, ~sampled], k_cnn[:, ~sampled])


@pytest.mark.parametrize(
    "modality, coils, mode", [("mri", 1, "exact"), ("mri", 2, "cg"), ("ct", 1, "cg"), ("pet", 1, "cg")]
)
def test_cascade_picks_its_data_consistency(modality, coils, mode):
    assert learned.DeepCascade(make_operator(modality, coils=coils), n_cascades=1, width=4).data_consistency == mode
    with pytest.raises(ValueError, match="data_consistency must be one of"):
        learned.DeepCascade(make_operator("ct"), data_consistency="replace")


def test_cg_data_consistency_fits_the_data_as_noise_level_grows():
    op = make_operator("ct")
    x = phantoms(op, 1)
    y = measure(op, x)
    with torch.no_grad():
        errors = [
            float((op(learned.DataConsistency(op, "cg", level, n_cg=50)(op, torch.zeros_like(x), y)) - y).norm())
            for level in (0.1, 10.0, 1000.0)
        ]
    assert errors[0] > errors[1] > errors[2] and errors[2] < 0.05 * float(y.norm())


def test_varnet_forms():
    assert learned.VarNet(make_operator("mri"), n_cascades=1, width=4, depth=1).form == "kspace"
    assert learned.VarNet(make_operator("ct"), n_cascades=1, width=4, depth=1).form == "image"
    assert learned.VarNet(make_operator("mri"), n_cascades=1, width=4, depth=1, form="image").form == "image"
    with pytest.raises(
        ValueError,
        match=r"VarNet's k-space form: expected a multi-coil Cartesian sampling operator "
        r"\(bridges.mri.sampling.CartesianSampling: y = mask ⊙ fft2c\(maps ⊙ x\), "
        r"with tensors 'maps' and 'mask'\), got Projector .*: "
        r"it has no 'maps', 'mask'",
    ):
        learned.VarNet(make_operator("ct"), form="kspace")


@pytest.mark.parametrize(
    "make",
    [lambda: make_operator("mri"), lambda: SampledCoils(make_operator("mri").maps, make_operator("mri").mask)],
    ids=["CartesianSense", "SampledCoils"],
)
def test_sampling_protocol_is_the_operators_documented_form(make):
    """Expansion to coil k-space and coil combination are the protocol's M ⊙ F(S x), for either operator."""
    op = sampling.require_cartesian_sampling(make(), "test")
    x = phantoms(op, 2)
    torch.testing.assert_close(sampling.sampled(op, sampling.expand(op, x)), op(x))
    torch.testing.assert_close(sampling.combine(op, sampling.sampled(op, sampling.expand(op, x))), op.adjoint(op(x)))
    torch.testing.assert_close(sampling.combine(op, sampling.expand(op, x)), x, rtol=1e-5, atol=1e-5)  # Σ|S|² = 1


def test_varnet_kspace_form_takes_any_cartesian_sampling_operator():
    """A composition M @ F @ S that is no `mri.CartesianSense` serves the k-space form, with the same numbers."""
    sense = make_operator("mri")
    composed = SampledCoils(sense.maps, sense.mask)
    assert not isinstance(composed, mri.CartesianSense) and composed.adjoint_error() < 1e-5
    models = [learned.VarNet(op, n_cascades=2, width=4, depth=1) for op in (sense, composed)]
    assert [m.form for m in models] == ["kspace", "kspace"]
    y = measure(sense, phantoms(sense, 2))
    with torch.no_grad():
        torch.testing.assert_close(models[1](y), models[0](y), rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(models[0](y, op=composed), models[0](y), rtol=1e-5, atol=1e-6)
    # it trains: the loss's gradient reaches the regularisers through the composed operator
    models[1](y).abs().sum().backward()
    assert all(p.grad is not None for p in models[1].cascades.parameters())


def test_varnet_kspace_form_refuses_what_lacks_the_protocol():
    """Coil maps alone are not enough: a non-Cartesian SENSE has k-space on points, not on the image's grid."""
    sense = make_operator("mri")
    radial = mri.Sense(sense.maps, mri.radial(4, 16, (16, 16)))
    assert sampling.missing(sense) is None and sampling.missing(radial) is not None
    with pytest.raises(
        ValueError,
        match=r"VarNet's k-space form: expected a multi-coil Cartesian sampling operator"
        r".*got Sense .*: it has no 'mask'",
    ):
        learned.VarNet(radial, n_cascades=1, width=4, depth=1, form="kspace")
    assert learned.VarNet(radial, n_cascades=1, width=4, depth=1).form == "image"
    no_maps = mri.CartesianSense(mask=sense.mask)
    with pytest.raises(
        ValueError,
        match=r"expected a multi-coil Cartesian sampling operator.*"
        r"got CartesianSense .*: its maps are not complex coil maps \(coils, y, x\): "
        r"None",
    ):
        learned.VarNet(no_maps, n_cascades=1, width=4, depth=1, form="kspace")


def test_fbpconvnet_starts_from_the_pseudo_inverse_it_is_given():
    op = make_operator("ct")
    model = learned.FBPConvNet(op, pseudo_inverse=lambda y: ct.fbp(op, y), width=4, depth=1)
    torch.nn.init.zeros_(model.unet.out.weight)
    torch.nn.init.zeros_(model.unet.out.bias)
    y = measure(op, phantoms(op, 2))
    with torch.no_grad():
        torch.testing.assert_close(model(y), ct.fbp(op, y))
    with pytest.raises(ValueError, match="the pseudo-inverse returned shape"):
        learned.FBPConvNet(op, pseudo_inverse=lambda y: y, width=4, depth=1)(y)


def test_poisson_primal_dual_sees_the_background():
    op = make_operator("pet")
    model = learned.LearnedPrimalDual(op, n_iter=2, n_primal=2, n_dual=2, width=4, poisson=True)
    plain = learned.LearnedPrimalDual(op, n_iter=2, n_primal=2, n_dual=2, width=4)
    assert model.dual_nets[0][0].in_channels == plain.dual_nets[0][0].in_channels + 1
    y = measure(op, phantoms(op, 2))
    with torch.no_grad():
        before = model(y)
        op.background.mul_(3)
        after = model(y)
        op.background.div_(3)
    assert not torch.allclose(before, after)


def test_automap_memory_and_size_limit():
    op = make_operator("ct")
    m, n = 12 * 24, 16 * 16
    assert learned.AUTOMAP.memory_bytes(op) == 4 * (m * n + n * n)
    dense = learned.AUTOMAP(op, channels=4).dense
    assert 4 * (dense[0].weight.numel() + dense[2].weight.numel()) == learned.AUTOMAP.memory_bytes(op)
    big = mri.CartesianSense(torch.ones(1, 65, 65, dtype=torch.complex64), torch.ones(65, 65))
    with pytest.raises(ValueError, match=r"at most 64 x 64 = 4096 pixels.*0\.6 GB"):
        learned.AUTOMAP(big)


def test_loading_weights_into_a_model_on_another_mask_keeps_that_mask():
    a, b = make_operator("mri", seed=0), make_operator("mri", seed=1)
    trained, other = (
        learned.VarNet(a, n_cascades=1, width=4, depth=1),
        learned.VarNet(b, n_cascades=1, width=4, depth=1, seed=3),
    )
    other.load_state_dict(trained.state_dict())
    assert torch.equal(other.op.mask, b.mask) and not torch.equal(a.mask, b.mask)
    with pytest.raises(RuntimeError, match="Missing key"):
        other.load_state_dict({k: v for k, v in trained.state_dict().items() if "step" not in k})


def test_models_refuse_an_operator_on_1d_vectors():
    from bridges import MatrixOperator

    with pytest.raises(
        ValueError, match=r"expected an operator on 2D images \(\.\.\., y, x\), got domain shape \(3,\)"
    ):
        learned.LearnedPrimalDual(MatrixOperator(torch.randn(4, 3)))
