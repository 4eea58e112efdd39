"""Shared fixtures for the metric tests: one cache folder per session, and small plugins registered by hand."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

import ganforge
from ganforge.io.cache import CACHE_ENV
from ganforge.metrics import MetricSupport
from ganforge.metrics import features as feature_module


@pytest.fixture(scope="session")
def _session_cache(tmp_path_factory):
    return tmp_path_factory.mktemp("ganforge-cache")


@pytest.fixture(autouse=True)
def cache_env(_session_cache, monkeypatch):
    """Point $GANFORGE_CACHE at a per-session folder: the domain classifier is trained once per test run, and
    no test writes reference statistics or weights into the user's own cache."""
    monkeypatch.setenv(CACHE_ENV, str(_session_cache))
    return _session_cache


# -- data sets -------------------------------------------------------------------------------------


class SwissRoll(ganforge.Dataset):
    """A 2-D swiss roll in data units up to ~14, drawn fresh; declares the 'points' metrics and a reference sampler."""

    name = "swiss-roll"
    is_distribution = True
    scale = 15.0  # data units per model-space unit

    @property
    def sample_shape(self):
        return (2,)

    @staticmethod
    def roll(n: int, generator: torch.Generator | None = None, device="cpu") -> torch.Tensor:
        t = 1.5 * math.pi * (1 + 2 * torch.rand(n, generator=generator, device=device))
        noise = 0.2 * torch.randn(n, 2, generator=generator, device=device)
        return torch.stack([t * t.cos(), t * t.sin()], dim=1) + noise

    def sample(self, n, device="cpu"):
        return self.roll(n, device=device) / self.scale, None

    def denormalize(self, x):
        return x * self.scale

    def metric_support(self):
        return MetricSupport(metrics=("points",), reference=lambda n, generator: self.roll(n, generator))


class ThreeBlobs(ganforge.Dataset):
    """Three 2-D Gaussians in data units; declares the mixture metrics (modes and std) and the points metrics."""

    name = "three-blobs"
    is_distribution = True
    centres = torch.tensor([[-2.0, 0.0], [2.0, 0.0], [0.0, 3.0]])
    std = 0.1

    @property
    def sample_shape(self):
        return (2,)

    def sample(self, n, device="cpu"):
        idx = torch.randint(0, 3, (n,), device=device)
        return (self.centres.to(device)[idx] + self.std * torch.randn(n, 2, device=device)) / 4, None

    def denormalize(self, x):
        return x * 4

    def metric_support(self):
        return MetricSupport(metrics=("mixture", "points"), modes=self.centres, mode_std=self.std)


class UnitImages(ganforge.Dataset):
    """256 fixed float images (1, 4, 4) per split with values in [0, 1] (not [-1, 1]): 'normalize' rescales them."""

    name = "unit-images"

    @property
    def sample_shape(self):
        return (1, 4, 4)

    @staticmethod
    def images(split: str = "train") -> torch.Tensor:
        return torch.rand(256, 1, 4, 4, generator=torch.Generator().manual_seed(0 if split == "train" else 1))

    def load(self):
        return self.images(self.split), None


class UnitSquare(ganforge.Dataset):
    """2-D points uniform in [0.2, 0.8]^2, drawn fresh, in data units = model space: inside [0, 1]."""

    name = "unit-square"
    is_distribution = True

    @property
    def sample_shape(self):
        return (2,)

    def sample(self, n, device="cpu"):
        return 0.2 + 0.6 * torch.rand(n, 2, device=device), None


# -- generators --------------------------------------------------------------------------------------


class Replay(ganforge.Generator):
    """Returns UnitImages' images as the models saw them with 'normalize' (2x - 1), in order, whatever the latent."""

    name = "replay"

    def __init__(self, spec):
        super().__init__(spec)
        self.register_buffer("bank", UnitImages.images() * 2 - 1)
        self.unused = nn.Parameter(torch.zeros(1))  # the optimizer needs a parameter

    def forward(self, z, labels=None):
        idx = torch.arange(z.shape[0], device=z.device) % self.bank.shape[0]
        return self.bank[idx] + 0 * self.unused


class Constant(ganforge.Generator):
    """Always the origin of model space, whatever the latent."""

    name = "constant"

    def __init__(self, spec):
        super().__init__(spec)
        self.unused = nn.Parameter(torch.zeros(1))

    def forward(self, z, labels=None):
        return z.new_zeros(z.shape[0], *self.spec.data_shape) + 0 * self.unused


@pytest.fixture
def toys(register):
    """Registers the toy data sets and generators above (as plugin 'metric-toys') for the test; returns that name."""
    return register(datasets=[SwissRoll, ThreeBlobs, UnitImages, UnitSquare], generators=[Replay, Constant],
                    name="metric-toys")


class _Flat(nn.Module):
    def forward(self, x):
        return x.flatten(1)


@pytest.fixture
def flat_extractor():
    """A registered feature extractor 'flat' (the pixels themselves): image metrics without training a network."""
    feature_module.register_extractor("flat", lambda dataset, device="cpu": feature_module.FeatureExtractor(
        _Flat(), "flat", device=device))
    yield "flat"
    feature_module._EXTRACTORS.pop("flat")
