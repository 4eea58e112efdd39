"""minibatch_discrimination (ganhacks #15): the Salimans et al. layer before D's last layer."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import ganforge
from ganforge.interfaces import ModelSpec
from ganforge.models.mlp import MLPDiscriminator, MLPGenerator
from ganforge.tricks._layers import feature_size
from ganforge.tricks.minibatch_discrimination import MinibatchDiscrimination, MinibatchDiscriminationLayer


def test_layer_output_shape_and_values():
    torch.manual_seed(0)
    layer = MinibatchDiscriminationLayer(in_features=6, num_kernels=4, kernel_dim=3)
    f = torch.randn(5, 6)
    out = layer(f)
    assert out.shape == (5, 6 + 4)
    assert torch.equal(out[:, :6], f)  # features pass through
    # o(i)_b = sum_j exp(-L1 distance) by hand
    m = (f @ layer.T.view(6, 12)).view(5, 4, 3)
    expected = torch.stack([
        torch.stack([sum(torch.exp(-(m[i, b] - m[j, b]).abs().sum()) for j in range(5)) for b in range(4)])
        for i in range(5)
    ])
    assert torch.allclose(out[:, 6:], expected, atol=1e-5)


def test_layer_gradient_matches_the_broadcast_formula():
    torch.manual_seed(0)
    layer = MinibatchDiscriminationLayer(in_features=6, num_kernels=4, kernel_dim=3).double()
    f = torch.randn(7, 6, dtype=torch.float64, requires_grad=True)
    weights = torch.randn(7, 10, dtype=torch.float64)
    (layer(f) * weights).sum().backward()
    got_f, got_t = f.grad.clone(), layer.T.grad.clone()
    f.grad, layer.T.grad = None, None
    m = (f @ layer.T.view(6, 12)).view(7, 4, 3)
    o = torch.exp(-(m.unsqueeze(0) - m.unsqueeze(1)).abs().sum(-1)).sum(1)  # (N, B), every pair at once
    (torch.cat([f, o], 1) * weights).sum().backward()
    assert torch.allclose(got_f, f.grad, atol=1e-10) and torch.allclose(got_t, layer.T.grad, atol=1e-10)


def test_identical_batch_gives_different_features_than_a_diverse_one():
    torch.manual_seed(0)
    layer = MinibatchDiscriminationLayer(in_features=8, num_kernels=10, kernel_dim=5)
    same = torch.randn(1, 8).repeat(16, 1)
    diverse = torch.randn(16, 8) * 3
    o_same, o_diverse = layer(same)[:, 8:], layer(diverse)[:, 8:]
    assert torch.allclose(o_same, torch.full_like(o_same, 16.0))  # every sample is every other
    assert (o_diverse < 16).all() and (o_diverse >= 1).all()
    assert o_diverse.mean() < o_same.mean() - 1


def test_head_is_replaced_and_trained(tiny):
    spec = ModelSpec((2,), 8)
    disc = MLPDiscriminator(spec, hidden=(16, 12))
    assert feature_size(disc) == 12
    _, disc = MinibatchDiscrimination(num_kernels=7, kernel_dim=3).modify_models(MLPGenerator(spec, hidden=(8,)), disc)
    assert isinstance(disc.head, nn.Sequential) and isinstance(disc.head[0], MinibatchDiscriminationLayer)
    assert disc.head[1].in_features == 12 + 7
    assert disc(torch.randn(4, 2)).shape == (4,)
    trainer = ganforge.Trainer(data="grid25", tricks=["minibatch_discrimination"],
                               gen_options={"hidden": (16, 16)}, disc_options={"hidden": (16, 16)},
                               **dict(tiny, steps=3, log_every=3))
    trainer.setup()
    before = trainer.disc.head[0].T.detach().clone()
    trainer.fit()
    assert any(p is trainer.disc.head[0].T for g in trainer.opt_d.param_groups for p in g["params"])
    assert not torch.equal(before, trainer.disc.head[0].T)


def test_options_are_validated():
    with pytest.raises(ganforge.ConfigError, match="'num_kernels' must be an integer >= 1"):
        MinibatchDiscrimination(num_kernels=0)
    with pytest.raises(ganforge.ConfigError, match="'init_std' must be a number > 0"):
        MinibatchDiscrimination(init_std=0)
