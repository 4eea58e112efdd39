"""avoid_sparse_gradients (ganhacks #5): ReLU -> LeakyReLU(0.2), MaxPool -> AvgPool in both networks."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import ganforge
from ganforge.interfaces import Discriminator, ModelSpec
from ganforge.tricks.avoid_sparse_gradients import AvoidSparseGradients, replace_sparse_layers


class PoolingDisc(Discriminator):
    """2-D points -> 8 features -> ReLU -> max pool (kernel 2, stride 2, padding 1) -> logit."""

    name = "pooling_test_disc"

    def __init__(self, spec: ModelSpec, return_indices: bool = False):
        super().__init__(spec)
        self.body = nn.Sequential(nn.Linear(2, 8), nn.ReLU())
        self.pool = nn.MaxPool1d(2, stride=2, padding=1, return_indices=return_indices)
        self.head = nn.Linear(5, 1)

    def features(self, x, labels=None):
        return self.pool(self.body(x.reshape(x.shape[0], -1)).unsqueeze(1)).squeeze(1)


@pytest.fixture(autouse=True)
def _pooling_disc(register):
    register(discriminators=[PoolingDisc])


def count(module, cls):
    return sum(type(m) is cls for m in module.modules())


def test_layers_are_replaced_in_both_networks(tiny):
    settings = dict(data="grid25", gen_options={"hidden": (16, 16), "activation": "relu"}, disc="pooling_test_disc")
    before = ganforge.Trainer(**settings, **tiny).setup()
    assert count(before.gen, nn.ReLU) == 2 and count(before.disc, nn.ReLU) == 1
    assert count(before.disc, nn.MaxPool1d) == 1
    tiny["out_dir"] += "-trick"
    trainer = ganforge.Trainer(**settings, tricks=["avoid_sparse_gradients"], **tiny)
    trainer.fit()
    gen, disc = trainer.gen, trainer.disc
    assert count(gen, nn.ReLU) == 0 and count(disc, nn.ReLU) == 0 and count(disc, nn.MaxPool1d) == 0
    leaky = [m for m in list(gen.modules()) + list(disc.modules()) if type(m) is nn.LeakyReLU]
    assert len(leaky) == 3 and all(m.negative_slope == 0.2 for m in leaky)
    pool = disc.pool
    assert type(pool) is nn.AvgPool1d
    assert (pool.kernel_size, pool.stride, pool.padding) == ((2,), (2,), (1,))
    assert trainer.tricks[0].replaced == {"gen": {"relu": 2, "maxpool": 0}, "disc": {"relu": 1, "maxpool": 1}}
    # Same parameters as before (only parameter-free layers changed): the optimizer trains them all.
    assert sum(p.numel() for p in disc.parameters()) == sum(p.numel() for p in before.disc.parameters())


def test_replaced_layers_compute_leaky_relu_and_average_pooling():
    model = nn.Sequential(nn.ReLU(), nn.MaxPool2d(3, stride=2, padding=1))
    replace_sparse_layers(model, 0.1)
    x = torch.randn(2, 3, 8, 8)
    expected = nn.functional.avg_pool2d(nn.functional.leaky_relu(x, 0.1), 3, 2, 1, count_include_pad=False)
    assert torch.allclose(model(x), expected)
    # Negative inputs now have a gradient (the point of the trick).
    x.requires_grad_(True)
    model(x).sum().backward()
    assert (x.grad != 0).float().mean() > 0.9


def test_pools_without_an_average_equivalent_are_refused(tiny):
    with pytest.raises(ganforge.IncompatibleError, match="cannot replace PoolingDisc.pool"):
        ganforge.Trainer(data="grid25", disc="pooling_test_disc", disc_options={"return_indices": True},
                         tricks=["avoid_sparse_gradients"], **tiny).setup()
    with pytest.raises(ganforge.IncompatibleError, match="no dilation"):
        replace_sparse_layers(nn.Sequential(nn.MaxPool2d(2, dilation=2)), 0.2)


def test_bad_slope():
    with pytest.raises(ganforge.ConfigError, match="'slope' must be a number > 0 and < 1"):
        AvoidSparseGradients(slope=0)
