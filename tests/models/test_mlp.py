"""The classic MLP generator and discriminator."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

import ganforge
from ganforge.interfaces import ModelSpec
from ganforge.models.mlp import MLPDiscriminator, MLPGenerator


@pytest.mark.parametrize("shape", [(2,), (1, 28, 28), (3, 32, 32), (3, 8, 5)])
def test_shapes_follow_the_data(shape):
    spec = ModelSpec(shape, latent_dim=100)
    gen, disc = MLPGenerator(spec), MLPDiscriminator(spec)
    x = gen(torch.randn(4, 100))
    assert x.shape == (4, *shape)
    assert x.abs().max() <= 1.0  # tanh-bounded
    assert disc(x).shape == (4,)
    assert disc.features(x).shape == (4, 256)


def test_seed_architecture():
    gen = MLPGenerator(ModelSpec((1, 28, 28)))
    linears = [m for m in gen.net if isinstance(m, nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [
        (100, 128), (128, 256), (256, 512), (512, 1024), (1024, 784)]
    norms = [m for m in gen.net if isinstance(m, nn.BatchNorm1d)]
    assert [m.num_features for m in norms] == [256, 512, 1024]  # not after the first block
    assert all(m.eps == 1e-5 and m.momentum == 0.1 for m in norms)
    assert isinstance(gen.net[-1], nn.Tanh)
    acts = [m for m in gen.net if isinstance(m, nn.LeakyReLU)]
    assert len(acts) == 4 and all(a.negative_slope == 0.2 for a in acts)
    disc = MLPDiscriminator(ModelSpec((1, 28, 28)))
    linears = [m for m in disc.body if isinstance(m, nn.Linear)] + [disc.head]
    assert [(m.in_features, m.out_features) for m in linears] == [(784, 512), (512, 256), (256, 1)]
    assert not any(isinstance(m, nn.BatchNorm1d) for m in disc.modules())


def test_original_batchnorm_eps_is_reachable():
    gen = MLPGenerator(ModelSpec((2,)), bn_eps=0.8)
    assert {m.eps for m in gen.modules() if isinstance(m, nn.BatchNorm1d)} == {0.8}


@pytest.mark.parametrize("norm, layer", [("instance", nn.LayerNorm), ("none", None), ("batch", nn.BatchNorm1d)])
def test_norm_option(norm, layer):
    gen = MLPGenerator(ModelSpec((2,)), norm=norm, hidden=(8, 8, 8))
    kinds = {type(m) for m in gen.modules()}
    for candidate in (nn.LayerNorm, nn.BatchNorm1d):
        assert (candidate in kinds) == (candidate is layer)


def test_instance_norm_keeps_samples_independent():
    gen = MLPGenerator(ModelSpec((2,)), norm="instance", hidden=(8, 8)).train()
    z = torch.randn(6, 100)
    assert torch.allclose(gen(z)[:1], gen(z[:1]), atol=1e-6)


def test_bad_options_are_clear():
    with pytest.raises(ganforge.ConfigError) as err:
        MLPGenerator(ModelSpec((2,)), norm="group")
    assert str(err.value) == ("Option of generator 'mlp': 'norm' must be one of 'batch', 'instance', 'none' "
                              "(got 'group')")
    with pytest.raises(ganforge.ConfigError, match="'hidden' must be a non-empty list of positive layer widths"):
        MLPDiscriminator(ModelSpec((2,)), hidden=())
    with pytest.raises(ganforge.ConfigError, match="'activation' must be one of"):
        MLPDiscriminator(ModelSpec((2,)), activation="swish2")


def test_conditional_models_use_the_labels():
    spec = ModelSpec((2,), latent_dim=8, num_classes=5)
    gen, disc = MLPGenerator(spec, hidden=(16, 16)).eval(), MLPDiscriminator(spec, hidden=(16,))
    z = torch.randn(3, 8)
    a, b = gen(z, torch.tensor([0, 1, 2])), gen(z, torch.tensor([4, 4, 4]))
    assert a.shape == (3, 2) and not torch.allclose(a, b)
    assert not torch.allclose(disc(a, torch.tensor([0, 1, 2])), disc(a, torch.tensor([3, 3, 3])))
    assert gen.label_embedding.embedding_dim == 5


def test_parameter_count_matches_the_layout():
    gen = MLPGenerator(ModelSpec((1, 28, 28)))
    expected = sum(i * o + o for i, o in [(100, 128), (128, 256), (256, 512), (512, 1024), (1024, 784)])
    expected += 2 * (256 + 512 + 1024)  # batch-norm affine parameters
    assert sum(p.numel() for p in gen.parameters()) == expected
    assert math.prod(gen.spec.data_shape) == 784
