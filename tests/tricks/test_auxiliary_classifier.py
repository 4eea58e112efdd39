"""auxiliary_classifier (ganhacks #12, AC-GAN): a class head on D whose loss joins both players' losses."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import ganforge
from ganforge.interfaces import ModelSpec, StepBatch
from ganforge.models.mlp import MLPDiscriminator, MLPGenerator
from ganforge.tricks.auxiliary_classifier import AuxiliaryClassifier, ZeroLabelEmbedding

SMALL = dict(gen_options={"hidden": (32, 32)}, disc_options={"hidden": (32, 32)})
SPEC = ModelSpec((2,), 8, 25)


def models():
    return MLPGenerator(SPEC, hidden=(16, 16)), MLPDiscriminator(SPEC, hidden=(16, 12))


def test_class_head_is_added_and_d_no_longer_sees_the_label():
    trick = AuxiliaryClassifier()
    _, disc = trick.modify_models(*models())
    assert isinstance(disc.aux_head, torch.nn.Linear)
    assert (disc.aux_head.in_features, disc.aux_head.out_features) == (12, 25)
    assert isinstance(disc.label_embedding, ZeroLabelEmbedding)
    x = torch.randn(4, 2)
    # Blind D: its output does not depend on the label passed in.
    assert torch.equal(disc(x, torch.tensor([0, 1, 2, 3])), disc(x, torch.tensor([9, 9, 9, 9])))
    _, seeing = AuxiliaryClassifier(disc_sees_labels=True).modify_models(*models())
    assert isinstance(seeing.label_embedding, torch.nn.Embedding)


def test_extra_loss_is_the_class_cross_entropy_on_real_and_fake():
    trick = AuxiliaryClassifier(weight=0.5)
    _, disc = trick.modify_models(*models())
    real, fake = torch.randn(6, 2), torch.randn(6, 2)
    yr, yf = torch.arange(6), torch.arange(6) + 10
    ce_real = F.cross_entropy(disc.aux_head(disc.features(real, yr)), yr)
    ce_fake = F.cross_entropy(disc.aux_head(disc.features(fake, yf)), yf)
    d_term = trick.extra_loss("disc", StepBatch(real, yr, fake, yf, torch.zeros(6), torch.zeros(6)))
    assert d_term.item() == pytest.approx(0.5 * (ce_real + ce_fake).item(), rel=1e-5)
    g_term = trick.extra_loss("gen", StepBatch(real, yr, fake, yf, None, torch.zeros(6)))
    assert g_term.item() == pytest.approx(0.5 * ce_fake.item(), rel=1e-5)
    no_fake = AuxiliaryClassifier(fake_loss=False)
    _, disc = no_fake.modify_models(*models())
    term = no_fake.extra_loss("disc", StepBatch(real, yr, fake, yf, torch.zeros(6), torch.zeros(6)))
    assert term.item() == pytest.approx(F.cross_entropy(disc.aux_head(disc.features(real, yr)), yr).item())


def test_class_loss_falls_on_a_short_run(tiny):
    tiny.update(steps=100, log_every=10)
    trainer = ganforge.Trainer(data="grid25", conditional=True, tricks=["auxiliary_classifier"],
                               d_optim={"lr": 3e-3}, **SMALL, **tiny)
    history = trainer.fit()
    head = trainer.disc.aux_head
    assert any(p is head.weight for g in trainer.opt_d.param_groups for p in g["params"])
    aux_d, aux_g, acc = history["aux_d_loss"], history["aux_g_loss"], history["aux_real_acc"]
    assert len(aux_d) == len(aux_g) == 10
    assert aux_d[0] == pytest.approx(torch.log(torch.tensor(25.0)).item(), abs=0.2)  # chance at the start
    assert aux_d[-1] < aux_d[0] - 0.5
    assert aux_g[-1] < aux_g[0]
    assert acc[-1] > 3 / 25  # well above chance (1/25)


def test_needs_labels(tiny):
    with pytest.raises(ganforge.IncompatibleError, match="needs class labels"):
        ganforge.Trainer(data="grid25", tricks=["auxiliary_classifier"], **tiny).setup()
    with pytest.raises(ganforge.ConfigError, match="'weight' must be a number > 0"):
        AuxiliaryClassifier(weight=0)
