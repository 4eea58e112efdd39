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


def test_on_sample_acts_on_the_generator_it_is_given(tiny):
    """With ema_decay, sampling draws from the averaged copy of G, whose dropout modules are its own."""
    trainer = ganforge.Trainer(data="grid25", tricks=["generator_dropout"], ema_decay=0.9,
                               trick_options={"generator_dropout": {"at_sampling": False}},
                               **SMALL, **dict(tiny, steps=3, log_every=3))
    trainer.fit()
    copies = [m for m in trainer.ema.model.modules() if isinstance(m, AlwaysOnDropout)]
    assert len(copies) == 3 and not any(m is n for m in copies for n in trainer.tricks[0].inserted)
    for m in copies:
        m.always = True  # left switched on: on_sample must switch the averaged copy's modules back off
    z = torch.randn(1, trainer.spec.latent_dim).repeat(2, 1)
    a, b = trainer.sample(z=z)
    assert all(m.always is False for m in copies)
    assert torch.equal(a, b)  # no dropout when sampling


def test_options_are_validated():
    with pytest.raises(ganforge.ConfigError, match="'p' must be a number >= 0 and < 1 \\(got 1.0\\)"):
        GeneratorDropout(p=1.0)
    with pytest.raises(ganforge.ConfigError, match="'p' must be a number >= 0 and < 1 \\(got 1.5\\)"):
        GeneratorDropout(p=1.5)
    with pytest.raises(ganforge.ConfigError, match="'layers' must be None"):
        GeneratorDropout(layers=0)
