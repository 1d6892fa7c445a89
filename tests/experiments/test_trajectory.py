"""The trajectory-learning example runs end to end on a tiny problem, and its gradient step helps."""

import math

import pytest
import torch

from experiments import trajectory


def test_radial_spokes_cross_the_centre_in_sigpys_range():
    k = trajectory.radial_spokes(torch.tensor([0.0, math.pi / 2]), 8, 16)
    assert k.shape == (2, 8, 2) and float(k.abs().max()) <= 8
    assert torch.allclose(k[0, :, 0], torch.zeros(8)) and torch.allclose(k[1, :, 1], torch.zeros(8), atol=1e-6)
    assert k[0, 4].tolist() == [0.0, 0.0]  # the centre is sampled


def test_largest_gap():
    assert math.isclose(trajectory.largest_gap(torch.tensor([0.0, math.pi / 2], dtype=torch.float64)), 90.0)
    assert math.isclose(
        trajectory.largest_gap(torch.tensor([0.1, 0.2, 0.3], dtype=torch.float64)),
        180 - math.degrees(0.2),
        rel_tol=1e-6,
    )


def test_learning_lowers_the_training_loss_and_reports_psnr():
    result = trajectory.learn_angles(
        size=16, spokes=4, samples=24, coils=2, steps=6, lr=0.05, n_train=2, n_test=2, n_iter=4
    )
    assert result["angles"].shape == (4,) and not torch.equal(result["angles"], result["start"])
    assert result["losses"][-1] < result["losses"][0]
    assert set(result["psnr"]) == {"start (random)", "learned", "golden angle", "equispaced"}
    assert all(math.isfinite(v) for v in result["psnr"].values())


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--steps", "-1"], "argument --steps: expected a positive integer, got '-1'"),  # was an IndexError
        (["--steps", "0"], "argument --steps: expected a positive integer, got '0'"),
        (["--spokes", "0"], "argument --spokes: expected a positive integer, got '0'"),
        (["--size", "-4"], "argument --size: expected a positive integer, got '-4'"),
        (["--size", "ten"], "argument --size: expected a positive integer, got 'ten'"),
        (["--lr", "0"], "argument --lr: expected a positive number, got '0'"),
        (["--lr", "nan"], "argument --lr: expected a positive number, got 'nan'"),
    ],
)
def test_command_line_refuses_counts_that_are_not_positive(argv, message, capsys):
    with pytest.raises(SystemExit) as info:
        trajectory.main(argv)
    assert info.value.code == 2 and message in capsys.readouterr().err
