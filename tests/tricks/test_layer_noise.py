"""layer_noise (ganhacks #13): noise modules after G's hidden activations, on in training only."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import ganforge
from ganforge.interfaces import ModelSpec
from ganforge.models.mlp import MLPDiscriminator, MLPGenerator
from ganforge.tricks._layers import hidden_activations
from ganforge.tricks.layer_noise import GaussianNoise, LayerNoise

SPEC = ModelSpec((2,), 8)


def test_hidden_activations_leave_out_the_output_tanh():
    gen = MLPGenerator(SPEC, hidden=(16, 16, 16))
    found = hidden_activations(gen)
    assert len(found) == 3
    assert all(isinstance(m, nn.LeakyReLU) for _, m in found)


def test_noise_follows_every_hidden_layer_in_training_only():
    gen = MLPGenerator(SPEC, hidden=(16, 16), norm="none")
    trick = LayerNoise(std=0.5)
    gen, _ = trick.modify_models(gen, MLPDiscriminator(SPEC, hidden=(8,)))
    assert len(trick.inserted) == 2 and all(isinstance(m, GaussianNoise) for m in trick.inserted)
    assert isinstance(gen.net[-1], nn.Tanh)  # output untouched
    z = torch.randn(4, 8)
    gen.train()
    assert not torch.equal(gen(z), gen(z))
    gen.eval()
    assert torch.equal(gen(z), gen(z))


def test_noise_module_adds_noise_of_the_given_std():
    noise = GaussianNoise(0.3).train()
    x = torch.zeros(100_000)
    assert noise(x).std().item() == pytest.approx(0.3, rel=0.02)


def test_trainer_run_and_validation(tiny):
    trainer = ganforge.Trainer(data="grid25", tricks=["layer_noise"], gen_options={"hidden": (16, 16)},
                               **dict(tiny, steps=3, log_every=3))
    trainer.fit()
    assert sum(isinstance(m, GaussianNoise) for m in trainer.gen.modules()) == 2
    assert trainer.sample(5).shape == (5, 2)
    with pytest.raises(ganforge.ConfigError, match="'std' must be a number >= 0"):
        LayerNoise(std=-1)
