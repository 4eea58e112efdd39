"""instance_noise (ganhacks #13): the linear sigma schedule, noise of that std on D's inputs, in a real run."""

from __future__ import annotations

import pytest
import torch

import ganforge
from ganforge.tricks.instance_noise import InstanceNoise

SMALL = dict(gen_options={"hidden": (16, 16)}, disc_options={"hidden": (16, 16)})


def test_schedule_falls_linearly_to_zero_and_stays_there():
    trick = InstanceNoise(sigma0=0.2, anneal_steps=10)
    assert [trick.sigma_at(t) for t in (0, 5, 9, 10, 50)] == pytest.approx([0.2, 0.1, 0.02, 0.0, 0.0])


def test_noise_has_the_scheduled_std_on_real_and_fake():
    trick = InstanceNoise(sigma0=0.3, anneal_steps=4)
    trick.before_step(None, 2)  # sigma = 0.15
    assert trick.sigma.item() == pytest.approx(0.15)
    x = torch.ones(200_000)
    for real in (True, False):
        noisy = trick.disc_input(x, real)
        assert (noisy - x).mean().item() == pytest.approx(0.0, abs=3e-3)
        assert (noisy - x).std().item() == pytest.approx(0.15, rel=0.02)
    trick.before_step(None, 4)
    assert torch.equal(trick.disc_input(x, True), x)  # annealed away


def test_sigma_is_a_tensor_updated_in_place():
    """The step keeps reading the same tensor (CUDA-graph friendly): before_step must not rebind it."""
    trick = InstanceNoise(anneal_steps=10)
    tensor = trick.sigma
    trick.before_step(None, 5)
    assert trick.sigma is tensor and tensor.item() == pytest.approx(0.05)


def test_trainer_anneals_over_the_run_and_checkpoints_the_schedule(tiny):
    tiny.update(steps=8, log_every=4)
    trainer = ganforge.Trainer(data="grid25", tricks=["instance_noise"], **SMALL, **tiny)
    history = trainer.fit()
    trick = trainer.tricks[0]
    assert trick.anneal_steps == 8  # default: the run's steps
    assert trick.sigma.item() == pytest.approx(0.1 * (1 - 7 / 8))  # value of the last step (7)
    assert history["instance_noise_sigma"] == pytest.approx([0.1 * (1 - 3 / 8), 0.1 * (1 - 7 / 8)])
    restored = InstanceNoise()
    restored.load_state_dict(trick.state_dict())
    assert restored.anneal_steps == 8


def test_noise_changes_training(tiny):
    plain = ganforge.Trainer(data="grid25", **SMALL, **dict(tiny, steps=3, log_every=3)).fit()
    tiny["out_dir"] += "-noisy"
    noisy = ganforge.Trainer(data="grid25", tricks=["instance_noise"], trick_options={"instance_noise": {"sigma0": 0.5}},
                             **SMALL, **dict(tiny, steps=3, log_every=3)).fit()
    assert noisy.d_loss[0] != pytest.approx(plain.d_loss[0], abs=1e-5)


def test_options_are_validated():
    with pytest.raises(ganforge.ConfigError, match="'sigma0' must be a number >= 0"):
        InstanceNoise(sigma0=-0.1)
    with pytest.raises(ganforge.ConfigError, match="'anneal_steps' must be None"):
        InstanceNoise(anneal_steps=0)
