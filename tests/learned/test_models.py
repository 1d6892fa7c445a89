"""Every learned model on small CT (ASTRA), MRI and PET operators: shapes, gradients, batching,
seeding, state_dict, devices, clear errors, and overfitting a batch of four phantoms."""

import pytest
import torch

import learned
from bridges import pet
from tests.learned.operators import MODALITIES, make_operator, measure, phantoms

# Tiny configurations: the tests check the plumbing, not the capacity.
MODELS = {
    "LearnedPrimalDual": lambda op, seed=0: learned.LearnedPrimalDual(
        op, n_iter=3, n_primal=2, n_dual=2, width=8, poisson=isinstance(op, pet.SystemModel), seed=seed
    ),
    "LearnedGradient": lambda op, seed=0: learned.LearnedGradient(op, n_iter=3, n_filters=4, n_rbf=9, seed=seed),
    "DeepCascade": lambda op, seed=0: learned.DeepCascade(op, n_cascades=2, n_layers=3, width=8, n_cg=3, seed=seed),
    "VarNet": lambda op, seed=0: learned.VarNet(op, n_cascades=2, width=4, depth=1, seed=seed),
    "FBPConvNet": lambda op, seed=0: learned.FBPConvNet(op, width=4, depth=1, seed=seed),
    "AUTOMAP": lambda op, seed=0: learned.AUTOMAP(op, channels=4, seed=seed),
}


@pytest.fixture(scope="module")
def operators():
    return {m: make_operator(m) for m in MODALITIES}


def data(op, batch=2, seed=0):
    x = phantoms(op, batch, seed)
    return x, measure(op, x)


@pytest.mark.parametrize("modality", MODALITIES)
@pytest.mark.parametrize("name", MODELS)
def test_forward_and_backward(name, modality, operators):
    op = operators[modality]
    model = MODELS[name](op)
    x, y = data(op)
    out = model(y)
    assert out.shape == x.shape and out.dtype == op.domain_dtype
    (out - x).abs().pow(2).mean().backward()
    grads = [p.grad for p in model.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads), f"{name}: missing or non-finite gradients"
    # every weight tensor learns; a scalar may not (VarNet's first step: its start is data-consistent already)
    assert all(float(g.abs().sum()) > 0 for g in grads if g.dim() > 0), f"{name}: a weight gets no gradient"
    assert not any(k.startswith("op.") for k in model.state_dict()), "the operator is physics, not weights"


@pytest.mark.parametrize("name", MODELS)
def test_any_leading_batch_matches_items(name, operators):
    op = operators["mri"]
    model = MODELS[name](op)
    _, y = data(op, batch=4)
    with torch.no_grad():
        whole = model(y.reshape(2, 2, *op.range_shape))
        single = model(y[3])
    assert whole.shape == (2, 2, *op.domain_shape) and single.shape == op.domain_shape
    torch.testing.assert_close(whole[1, 1], single, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name", MODELS)
def test_seeded_and_state_dict_round_trip(name, operators):
    op = operators["ct"]
    a, b, c = MODELS[name](op, seed=0), MODELS[name](op, seed=0), MODELS[name](op, seed=1)
    for (key, pa), pb in zip(a.state_dict().items(), b.state_dict().values()):
        assert torch.equal(pa, pb), f"{name}: same seed, different {key}"
    assert any(not torch.equal(pa, pc) for pa, pc in zip(a.state_dict().values(), c.state_dict().values()))
    _, y = data(op)
    other = MODELS[name](make_operator("ct"), seed=1)  # another instance of the operator
    other.load_state_dict(a.state_dict())
    with torch.no_grad():
        assert torch.equal(a(y), other(y))
        assert not torch.equal(a(y), c(y))


@pytest.mark.parametrize("name", MODELS)
def test_measurements_not_matching_the_operator_are_refused(name, operators):
    model = MODELS[name](operators["ct"])
    y = measure(operators["ct"], phantoms(operators["ct"], 1))
    with pytest.raises(
        ValueError, match=r"expected measurements of shape \(\.\.\., 12, 24\) torch.float32 for Projector"
    ):
        model(y[..., :-1])
    with pytest.raises(ValueError, match="expected measurements"):
        model(measure(operators["mri"], phantoms(operators["mri"], 1)))
    with pytest.raises(TypeError, match="expected a bridges.LinearOperator"):
        MODELS[name](torch.nn.Linear(3, 3))


@pytest.mark.cuda
@pytest.mark.parametrize("modality", MODALITIES)
@pytest.mark.parametrize("name", MODELS)
def test_moves_to_cuda_with_its_operator(name, modality):
    op = make_operator(modality)  # its own: .to() moves the operator's buffers
    model = MODELS[name](op)
    _, y = data(op)
    with torch.no_grad():
        expected = model(y)
        got = model.to("cuda")(y.cuda())
    assert got.device.type == "cuda"
    torch.testing.assert_close(got.cpu(), expected, rtol=1e-3, atol=1e-4)


# Per model: the modality it learns on and the settings under which it overfits four phantoms.
OVERFIT = {
    "LearnedPrimalDual": ("ct", dict(n_iter=4, width=16), 1e-3, 150),
    "LearnedGradient": ("ct", dict(n_iter=5, n_filters=8, n_rbf=15), 1e-2, 150),
    "DeepCascade": ("mri", dict(n_cascades=3, n_layers=3, width=16), 1e-3, 150),
    "VarNet": ("mri", dict(n_cascades=3, width=8, depth=1), 1e-3, 150),
    "FBPConvNet": ("pet", dict(width=8, depth=2, pseudo_inverse="mlem"), 3e-3, 200),
    "AUTOMAP": ("ct", dict(channels=16), 1e-3, 100),
}


@pytest.mark.parametrize("name", OVERFIT)
def test_overfits_four_phantoms(name, operators):
    modality, kwargs, lr, steps = OVERFIT[name]
    op = operators[modality]
    if kwargs.get("pseudo_inverse") == "mlem":
        kwargs = {**kwargs, "pseudo_inverse": lambda y: pet.mlem(op, y, 20)}
    model = getattr(learned, name)(op, seed=0, **kwargs)
    x, y = data(op, batch=4)
    optimiser = torch.optim.Adam(model.parameters(), lr)
    losses = []
    for _ in range(steps):
        loss = (model(y) - x).abs().pow(2).mean()
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0] / 10, f"{name} on {modality}: loss {losses[0]:.3g} -> {losses[-1]:.3g}"


def test_compiled_primal_dual_forward_and_training_step_equal_eager(operators):
    """torch.compile of a model with an ASTRA operator inside: one graph (fullgraph), eager's numbers."""
    op = operators["ct"]
    model = learned.LearnedPrimalDual(op, n_iter=2, n_primal=2, n_dual=2, width=8, zero_init=False, seed=0)
    x, y = data(op)

    def loss_fn(measurements):
        return (model(measurements) - x).pow(2).mean()

    eager = loss_fn(y)
    eager.backward()
    eager_grads = [p.grad.clone() for p in model.parameters()]
    model.zero_grad()
    compiled = torch.compile(loss_fn, fullgraph=True)(y)
    compiled.backward()
    torch.testing.assert_close(compiled, eager, rtol=1e-5, atol=1e-7)
    for got, want in zip((p.grad for p in model.parameters()), eager_grads):
        torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-6)
