"""generator_dropout (ganhacks #17): dropout in G, on in training and when sampling in eval mode."""

from __future__ import annotations

import pytest
import torch

import ganforge
from ganforge.interfaces import ModelSpec
from ganforge.models.mlp import MLPDiscriminator, MLPGenerator
from ganforge.tricks.generator_dropout import AlwaysOnDropout, GeneratorDropout

SPEC = ModelSpec((2,), 8)
SMALL = dict(gen_options={"hidden": (16, 16, 16)}, disc_options={"hidden": (16, 16)})


def test_dropout_stays_on_in_eval_mode():
    trick = GeneratorDropout()
    gen, _ = trick.modify_models(MLPGenerator(SPEC, hidden=(32, 32, 32)), MLPDiscriminator(SPEC, hidden=(8,)))
    assert len(trick.inserted) == 3 and all(m.p == 0.5 for m in trick.inserted)
    gen.eval()
    z = torch.randn(1, 8)
    assert not torch.equal(gen(z), gen(z))


def test_dropout_module_drops_half_and_rescales():
    drop = AlwaysOnDropout(0.5).eval()
    out = drop(torch.ones(100_000))
    assert set(out.unique().tolist()) == {0.0, 2.0}
    assert (out == 0).float().mean().item() == pytest.approx(0.5, abs=0.01)


def test_layers_option_limits_the_inserted_modules():
    trick = GeneratorDropout(layers=1)
    gen, _ = trick.modify_models(MLPGenerator(SPEC, hidden=(16, 16, 16)), MLPDiscriminator(SPEC, hidden=(8,)))
    assert len(trick.inserted) == 1
    assert sum(isinstance(m, AlwaysOnDropout) for m in gen.modules()) == 1


@pytest.mark.parametrize("at_sampling", [True, False])
def test_trainer_sampling_respects_at_sampling(tiny, at_sampling):
    trainer = ganforge.Trainer(data="grid25", tricks=["generator_dropout"],
                               trick_options={"generator_dropout": {"at_sampling": at_sampling}},
                               **SMALL, **dict(tiny, steps=3, log_every=3))
    trainer.fit()
    trick = trainer.tricks[0]
    for m in trick.inserted:
        m.always = not at_sampling  # on_sample, called by Trainer.sample, must set it back
    z = torch.randn(1, trainer.spec.latent_dim).repeat(2, 1)
    a, b = trainer.sample(z=z)
    assert all(m.always is at_sampling for m in trick.inserted)
    assert torch.equal(a, b) is (not at_sampling)
    assert trainer.gen.training  # sampling restored training mode


def test_options_are_validated():
    with pytest.raises(ganforge.ConfigError, match="'p' must be below 1"):
        GeneratorDropout(p=1.0)
    with pytest.raises(ganforge.ConfigError, match="'p' must be a number >= 0.0 and <= 1.0"):
        GeneratorDropout(p=1.5)
    with pytest.raises(ganforge.ConfigError, match="'layers' must be None"):
        GeneratorDropout(layers=0)
