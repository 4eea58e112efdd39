"""pack (PacGAN): packs of m samples, one target per pack, checks on batch size and labels; the PacGAN models."""

from __future__ import annotations

import re

import pytest
import torch

import ganforge
from ganforge import Trainer
from ganforge.interfaces import ModelSpec
from ganforge.models.pacgan import Maxout, PacGANDiscriminator, PacGANGenerator
from ganforge.presets import PRESETS, get_preset
from ganforge.tricks.pack import Pack

SMALL = dict(gen_options={"hidden": (32, 32)}, disc_options={"hidden": (32, 32)})


def test_packs_concatenate_consecutive_samples_along_features_or_channels():
    trick = Pack(m=4)
    points = torch.arange(16.0).view(8, 2)
    packed = trick.disc_input(points, real=True)
    assert packed.shape == (2, 8)
    assert packed[1].tolist() == list(range(8, 16))  # samples 4..7, their (x, y) in order
    images = torch.randn(8, 1, 5, 5)
    packed = trick.disc_input(images, real=False)
    assert packed.shape == (2, 4, 5, 5)
    assert torch.equal(packed[1, 2], images[6, 0])


def test_spec_widens_the_discriminator_input_only():
    spec = Pack(m=3).adjust_spec(ModelSpec((1, 28, 28), 64))
    assert spec.data_shape == (1, 28, 28) and spec.disc_input_shape == (3, 28, 28) and spec.latent_dim == 64
    assert Pack(m=2).adjust_spec(ModelSpec((2,))).disc_input_shape == (4,)


def test_one_target_per_pack_in_both_updates(tiny, register):
    """The step makes one target per logit, so with packs of 4 every loss sees B/4 logits and B/4 targets."""
    seen = []

    class Spy(ganforge.Trick):
        """Records what the loss saw (a test double that changes nothing)."""

        name = "spy"

        def observe(self, ctx):
            seen.append((ctx.phase, tuple(ctx.fake_logits.shape), tuple(ctx.real_targets.shape),
                         tuple(ctx.fake_targets.shape)))

    register(tricks=[Spy])
    Trainer(data="grid25", tricks=["pack", "spy"], **SMALL, **{**tiny, "steps": 2}).fit()
    assert seen == [("gen", (8,), (8,), (8,)), ("disc", (8,), (8,), (8,))] * 2  # batch 32 -> 8 packs


def test_training_with_pack_feeds_the_discriminator_packs(tiny):
    seen = []
    trainer = Trainer(data="grid25", tricks=["pack", "soft_labels"], **SMALL, **tiny).setup()
    trainer.disc.register_forward_hook(lambda mod, inp, out: seen.append((tuple(inp[0].shape), tuple(out.shape))))
    history = trainer.fit()
    assert trainer.spec.disc_input_shape == (8,)
    assert seen and all(s == ((8, 8), (8,)) for s in seen)  # batch 32 -> 8 packs of 4 points
    assert len(history.g_loss) == 20 and all(torch.isfinite(torch.tensor(history.d_loss)))


def test_m_changes_the_run_and_m1_is_plain_training(tiny):
    plain = Trainer(data="grid25", **SMALL, **tiny).fit()
    tiny["overwrite"] = True
    m1 = Trainer(data="grid25", tricks=["pack"], trick_options={"pack": {"m": 1}}, **SMALL, **tiny).fit()
    m2 = Trainer(data="grid25", tricks=["pack"], trick_options={"pack": {"m": 2}}, **SMALL, **tiny).fit()
    assert m1.d_loss == pytest.approx(plain.d_loss, rel=1e-5)
    assert m2.d_loss != pytest.approx(plain.d_loss, rel=1e-5)


def test_batch_size_must_be_a_multiple_of_m(tiny):
    tiny["batch_size"] = 30
    with pytest.raises(ganforge.ConfigError, match="needs batch_size to be a multiple of 4 \\(got 30\\); use batch_size=28 or 32"):
        Trainer(data="grid25", tricks=["pack"], **SMALL, **tiny).setup()


def test_conditional_training_and_bad_m_are_refused(tiny):
    with pytest.raises(ganforge.IncompatibleError, match="cannot be used with conditional training"):
        Trainer(data="grid25", tricks=["pack"], conditional=True, **SMALL, **tiny).setup()
    with pytest.raises(ganforge.ConfigError, match="'m' must be an integer >= 1"):
        Pack(m=0)


def test_pacgan_models_have_the_paper_layout():
    spec = ModelSpec((2,), latent_dim=2, disc_input_shape=(8,))
    gen, disc = PacGANGenerator(spec), PacGANDiscriminator(spec)
    widths = [m.out_features for m in gen.net if isinstance(m, torch.nn.Linear)]
    assert widths == [400, 400, 400, 400, 2]
    assert sum(isinstance(m, torch.nn.BatchNorm1d) for m in gen.net) == 4
    maxouts = [m for m in disc.body if isinstance(m, Maxout)]
    assert [(m.out_features, m.pieces) for m in maxouts] == [(200, 5)] * 3
    assert maxouts[0].linear.in_features == 8
    assert gen(torch.randn(6, 2)).shape == (6, 2) and disc(torch.randn(6, 8)).shape == (6,)
    assert not PacGANGenerator.output_bounded


def test_maxout_is_the_maximum_over_pieces():
    layer = Maxout(3, 2, 4)
    x = torch.randn(5, 3)
    full = layer.linear(x).view(5, 2, 4)
    assert torch.equal(layer(x), full.max(dim=-1).values)


def test_presets_are_valid_configs_and_train(tiny):
    assert set(PRESETS) >= {"pacgan", "pacgan4"}
    settings = get_preset("pacgan4")
    cfg = ganforge.TrainConfig.from_dict(settings)
    assert (cfg.gen, cfg.disc, cfg.batch_size, cfg.g_optim.lr, cfg.d_optim.betas) == ("pacgan", "pacgan", 400, 1e-4, (0.8, 0.999))
    settings.update(tiny, steps=3, batch_size=8)
    settings["gen_options"] = {"hidden": 16}
    settings["disc_options"] = {"hidden": 16}
    assert len(Trainer(settings).fit().g_loss) == 3
    with pytest.raises(ganforge.ConfigError, match=re.escape("Unknown preset 'pac'; presets are: " + ", ".join(sorted(PRESETS)) + ".")):
        get_preset("pac")

