"""auxiliary_classifier (ganhacks #12, AC-GAN): a class head on D whose loss joins both players' losses."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import ganforge
from torch import nn

from ganforge.interfaces import Discriminator, ModelSpec, StepBatch
from ganforge.models.mlp import MLPDiscriminator, MLPGenerator
from ganforge.tricks.auxiliary_classifier import AuxiliaryClassifier

SMALL = dict(gen_options={"hidden": (32, 32)}, disc_options={"hidden": (32, 32)})
SPEC = ModelSpec((2,), 8, 25)


def models():
    return MLPGenerator(SPEC, hidden=(16, 16)), MLPDiscriminator(SPEC, hidden=(16, 12))


def test_class_head_is_added_and_d_no_longer_sees_the_label():
    trick = AuxiliaryClassifier()
    _, disc = trick.modify_models(*models())
    assert isinstance(disc.aux_head, torch.nn.Linear)
    assert (disc.aux_head.in_features, disc.aux_head.out_features) == (12, 25)
    x = torch.randn(4, 2)
    # Blind D: its output does not depend on the label passed in, positionally or by keyword.
    assert torch.equal(disc(x, torch.tensor([0, 1, 2, 3])), disc(x, torch.tensor([9, 9, 9, 9])))
    assert torch.equal(disc(x, labels=torch.tensor([0, 1, 2, 3])), disc(x, labels=torch.tensor([9, 9, 9, 9])))
    _, seeing = AuxiliaryClassifier(disc_sees_labels=True).modify_models(*models())
    assert not torch.equal(seeing(x, torch.tensor([0, 1, 2, 3])), seeing(x, torch.tensor([9, 9, 9, 9])))


def test_extra_loss_is_the_class_cross_entropy_on_real_and_fake():
    trick = AuxiliaryClassifier(weight=0.5)
    _, disc = trick.modify_models(*models())
    real, fake = torch.randn(6, 2), torch.randn(6, 2)
    yr, yf = torch.arange(6), torch.arange(6) + 10
    blind = torch.zeros(6, dtype=torch.long)  # the class head reads the features of the label-blind D
    ce_real = F.cross_entropy(disc.aux_head(disc.features(real, blind)), yr)
    ce_fake = F.cross_entropy(disc.aux_head(disc.features(fake, blind)), yf)
    d_term = trick.extra_loss("disc", StepBatch(real, yr, fake, yf, torch.zeros(6), torch.zeros(6)))
    assert d_term.item() == pytest.approx(0.5 * (ce_real + ce_fake).item(), rel=1e-5)
    g_term = trick.extra_loss("gen", StepBatch(real, yr, fake, yf, None, torch.zeros(6)))
    assert g_term.item() == pytest.approx(0.5 * ce_fake.item(), rel=1e-5)
    no_fake = AuxiliaryClassifier(fake_loss=False)
    _, disc = no_fake.modify_models(*models())
    term = no_fake.extra_loss("disc", StepBatch(real, yr, fake, yf, torch.zeros(6), torch.zeros(6)))
    assert term.item() == pytest.approx(F.cross_entropy(disc.aux_head(disc.features(real, blind)), yr).item())


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


class ProjectionDisc(Discriminator):
    """A third-party conditional D using its labels through a projection in forward (Miyato & Koyama 2018)."""

    name = "projection_test"

    def __init__(self, spec, width: int = 16):
        super().__init__(spec)
        self.body = nn.Sequential(nn.Linear(spec.disc_input_shape[0], width), nn.LeakyReLU(0.2))
        self.head = nn.Linear(width, 1)
        self.classes = nn.Embedding(spec.num_classes, width)  # not a name any trick knows

    def features(self, x, labels=None):
        return self.body(x)

    def forward(self, x, labels=None):
        h = self.features(x, labels)
        return self.head(h).squeeze(-1) + (self.classes(labels) * h).sum(1)


class ForwardOnlyDisc(ProjectionDisc):
    """A conditional D without features() (test)."""

    name = "forward_only_test"
    features = Discriminator.features

    def forward(self, x, labels=None):
        h = self.body(x)
        return self.head(h).squeeze(-1) + (self.classes(labels) * h).sum(1)


@pytest.fixture
def third_party_discs(register):
    register(discriminators=[ProjectionDisc, ForwardOnlyDisc])


def test_a_third_party_discriminator_is_blinded_too(third_party_discs, tiny):
    settings = dict(data="grid25", conditional=True, disc="projection_test", gen_options={"hidden": (16,)},
                    **dict(tiny, steps=3, log_every=3))
    x = torch.randn(6, 2)
    a, b = torch.arange(6), torch.arange(6) + 10
    seeing = ganforge.Trainer(tricks=[], **settings).setup()
    assert not torch.equal(seeing.disc(x, a), seeing.disc(x, b))  # this D uses its labels ...
    trainer = ganforge.Trainer(tricks=["auxiliary_classifier"], **settings)
    trainer.fit()
    assert torch.equal(trainer.disc(x, a), trainer.disc(x, b))  # ... and the trick takes them away
    assert len(trainer.history["aux_d_loss"]) == 1


def test_a_discriminator_without_features_is_refused(third_party_discs, tiny):
    trainer = ganforge.Trainer(data="grid25", conditional=True, disc="forward_only_test",
                               tricks=["auxiliary_classifier"], **tiny)
    with pytest.raises(ganforge.IncompatibleError) as info:
        trainer.setup()
    assert str(info.value) == (
        "Discriminator 'forward_only_test' defines no features() (only forward()), which trick "
        "'auxiliary_classifier' needs to add layers on D's features: define features(x, labels) returning (B, F) "
        "and self.head, or drop the trick."
    )
