"""Conditional batch norm in G and projection discriminators: labels act where the papers say, and only there."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import ganforge
from ganforge.interfaces import ModelSpec
from ganforge.models.conditioning import ConditionalBatchNorm2d, Projection
from ganforge.models.dcgan import DCGANDiscriminator
from ganforge.models.sngan import SNGANDiscriminator, SNGANGenerator


def test_conditional_batch_norm_is_gain_times_batch_norm_plus_bias_per_class():
    torch.manual_seed(0)
    cbn = ConditionalBatchNorm2d(2, num_classes=3)
    assert torch.all(cbn.gain.weight == 1) and torch.all(cbn.bias.weight == 0)
    with torch.no_grad():
        cbn.gain.weight.copy_(torch.tensor([[1.0, 2.0], [3.0, -1.0], [0.5, 0.5]]))
        cbn.bias.weight.copy_(torch.tensor([[0.0, 1.0], [-2.0, 0.0], [4.0, 4.0]]))
    x = torch.randn(4, 2, 3, 3)
    labels = torch.tensor([0, 1, 2, 1])
    mean = x.mean(dim=(0, 2, 3), keepdim=True)
    var = x.var(dim=(0, 2, 3), unbiased=False, keepdim=True)
    normed = (x - mean) / torch.sqrt(var + 1e-5)
    expected = torch.stack([
        torch.stack([gain * normed[i, c] + bias
                     for c, (gain, bias) in enumerate(zip(cbn.gain.weight[y], cbn.bias.weight[y]))])
        for i, y in enumerate(labels.tolist())])
    assert torch.allclose(cbn(x, labels), expected, atol=1e-5)
    assert not any(p is cbn.norm.weight for p in cbn.parameters()) and cbn.norm.weight is None  # no shared affine


def test_conditional_batch_norm_learns_class_gains_that_change_the_samples(tiny_mnist, tmp_path):
    trainer = ganforge.Trainer(gen="sngan", disc="sngan", data="mnist", data_root=str(tiny_mnist), split="test",
                               image_size=32, conditional=True, steps=3, batch_size=16, latent_dim=16,
                               gen_options={"width": 8}, disc_options={"width": 8}, log_every=3, sample_every=0,
                               checkpoint_every=0, progress=False, device="cpu", out_dir=str(tmp_path / "run"))
    trainer.setup()
    z = torch.randn(1, 16).expand(10, 16)
    every_class = torch.arange(10)
    before = trainer.sample(10, labels=every_class, z=z)
    # Untrained, every class has gain 1 and bias 0: the label changes nothing yet.
    assert torch.allclose(before, before[:1].expand_as(before))
    trainer.fit()
    gains = [m.gain.weight.detach() for m in trainer.gen.modules() if isinstance(m, ConditionalBatchNorm2d)]
    assert len(gains) == 6
    for table in gains:  # each class moved its own way
        assert len({tuple(row.tolist()) for row in table}) == 10, table
        assert not torch.all(table == 1)
    after = trainer.sample(10, labels=every_class, z=z)
    assert all(not torch.allclose(after[0], after[k]) for k in range(1, 10))  # same z, another class


def test_projection_term_is_the_inner_product_with_the_class_embedding():
    proj = Projection(num_classes=2, num_features=3, init_std=1.0)
    with torch.no_grad():
        proj.embed.weight.copy_(torch.tensor([[1.0, 0.0, -1.0], [0.5, 2.0, 0.0]]))
    phi = torch.tensor([[1.0, 2.0, 3.0], [1.0, 2.0, 3.0], [-1.0, 0.0, 4.0]])
    assert proj(phi, torch.tensor([0, 1, 1])).tolist() == [1 - 3, 0.5 + 4, -0.5]


@pytest.mark.parametrize("make", [
    lambda spec: SNGANDiscriminator(spec, width=4, spectral_norm=False),
    lambda spec: DCGANDiscriminator(spec, width=4, conditional="projection"),
], ids=["sngan", "dcgan"])
def test_projection_discriminator_is_linear_plus_inner_product_by_hand(make):
    """logit = w . phi + b + <E[y], phi>, computed number by number for a tiny case."""
    torch.manual_seed(0)
    disc = make(ModelSpec((1, 32, 32), num_classes=3)).eval()
    x = torch.randn(2, 1, 32, 32)
    phi = disc.features(x).detach()
    n = phi.shape[1]
    with torch.no_grad():
        disc.head.weight.copy_(torch.linspace(-1, 1, n)[None])
        disc.head.bias.fill_(0.25)
        disc.projection.embed.weight.copy_(torch.arange(3 * n, dtype=torch.float32).view(3, n) / (3 * n))
    w, e = disc.head.weight[0].tolist(), disc.projection.embed.weight.tolist()
    for y in range(3):
        logits = disc(x, torch.tensor([y, y]))
        for i in range(2):
            row = phi[i].tolist()
            by_hand = sum(wk * pk for wk, pk in zip(w, row)) + 0.25 + sum(ek * pk for ek, pk in zip(e[y], row))
            assert logits[i].item() == pytest.approx(by_hand, rel=1e-5, abs=1e-5)


@pytest.mark.parametrize("make", [
    lambda spec: SNGANDiscriminator(spec, width=4),
    lambda spec: DCGANDiscriminator(spec, width=4, conditional="projection"),
], ids=["sngan", "dcgan"])
def test_projection_discriminator_output_changes_with_the_label_only(make):
    torch.manual_seed(0)
    disc = make(ModelSpec((3, 32, 32), num_classes=10)).eval()
    x = torch.randn(1, 3, 32, 32).expand(10, -1, -1, -1)
    logits = disc(x, torch.arange(10))
    assert len(set(logits.tolist())) == 10  # same image, ten classes, ten logits
    # Labels do not reach the features: only the projection term depends on them.
    assert torch.equal(disc.features(x, torch.arange(10)), disc.features(x, torch.zeros(10, dtype=torch.long)))
    unconditional = disc.head(disc.features(x)).squeeze(-1)
    assert torch.allclose(logits - unconditional, disc.projection(disc.features(x), torch.arange(10)), atol=1e-6)


def test_dcgan_discriminator_keeps_the_label_map_by_default():
    spec = ModelSpec((3, 32, 32), num_classes=10)
    default, projection = DCGANDiscriminator(spec, width=4), DCGANDiscriminator(spec, width=4, conditional="projection")
    assert default.options.conditional == "label_map" and default.projection is None
    assert default.body[0].in_channels == 4 and default.label_map is not None  # the label map is a fourth channel
    assert projection.body[0].in_channels == 3 and projection.label_map is None
    assert projection.projection.embed.weight.shape == (10, projection.num_features)
    assert abs(projection.projection.embed.weight.std().item() - 0.02) < 0.002  # initialised like the head
    # Unconditional runs ignore the option.
    plain = DCGANDiscriminator(ModelSpec((3, 32, 32)), width=4, conditional="projection")
    assert plain.projection is None and plain.label_map is None
    with pytest.raises(ganforge.ConfigError, match="'conditional' must be one of 'label_map', 'projection' "
                                                   "\\(got 'concat'\\)"):
        ganforge.create_plugin("discriminator", "dcgan", spec, conditional="concat")


def test_unconditional_sngan_has_no_class_parts():
    spec = ModelSpec((3, 32, 32))
    gen, disc = SNGANGenerator(spec, width=4), SNGANDiscriminator(spec, width=4)
    assert disc.projection is None
    assert not any(isinstance(m, (ConditionalBatchNorm2d, nn.Embedding)) for m in [*gen.modules(), *disc.modules()])


@pytest.mark.parametrize("trick", ["minibatch_discrimination", "auxiliary_classifier"])
def test_projection_discriminator_works_with_tricks_that_change_the_head(trick, tiny_mnist, tmp_path):
    trainer = ganforge.Trainer(gen="sngan", disc="sngan", data="mnist", data_root=str(tiny_mnist), split="test",
                               image_size=32, conditional=True, tricks=[trick], steps=2, batch_size=8, latent_dim=16,
                               gen_options={"width": 4}, disc_options={"width": 4}, log_every=2, sample_every=0,
                               checkpoint_every=0, progress=False, device="cpu", out_dir=str(tmp_path / "run"))
    history = trainer.fit()
    assert len(history.d_loss) == 2 and all(torch.isfinite(torch.tensor(history.d_loss)))
    assert trainer.disc.projection is not None
