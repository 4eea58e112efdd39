"""grid25/ring8 mixtures and the batch loaders."""

from __future__ import annotations

import math

import pytest
import torch

import ganforge
from ganforge.data.loader import DistributionBatches, TensorBatches, to_model_space
from ganforge.data.mixtures import Grid25, Ring8
from ganforge.data.placement import make_batches


def test_grid25_modes_and_spread():
    data = Grid25()
    assert data.modes.shape == (25, 2)
    assert sorted(set(data.modes[:, 0].tolist())) == [-4.0, -2.0, 0.0, 2.0, 4.0]
    x, labels = data.sample(20_000)
    assert x.abs().max() <= 1.0  # model space fits a tanh generator
    points = data.denormalize(x)
    offsets = points - data.modes[labels]
    assert offsets.std().item() == pytest.approx(0.05, rel=0.05)
    assert torch.bincount(labels, minlength=25).min() > 600  # ~800 each: uniform over modes


def test_ring8_modes_on_the_unit_circle():
    data = Ring8()
    assert torch.allclose(data.modes.norm(dim=1), torch.ones(8), atol=1e-6)
    angles = torch.atan2(data.modes[:, 1], data.modes[:, 0]).remainder(2 * math.pi).sort().values
    assert torch.allclose(angles.diff(), torch.full((7,), math.pi / 4), atol=1e-5)
    x, labels = data.sample(10_000)
    assert (data.denormalize(x) - data.modes[labels]).std().item() == pytest.approx(0.01, rel=0.05)


def test_mixture_std_option_is_validated():
    assert Grid25(std=0.1).std == 0.1
    with pytest.raises(ganforge.ConfigError, match="dataset 'ring8'.*'std' must be None or a number > 0 \\(got 0\\)"):
        Ring8(std=0)


def test_scale_1_samples_in_data_units():
    """PacGAN's protocol trains on the data itself; grid25's default divides it by 5 for a tanh generator."""
    torch.manual_seed(0)
    default = Grid25()
    x, labels = default.sample(1000)
    assert default.scale == 5.0 and x.abs().max() < 1.0
    units = Grid25(scale=1)
    torch.manual_seed(0)
    y, _ = units.sample(1000)
    assert torch.allclose(y, x * 5, atol=1e-5) and torch.equal(units.denormalize(y), y)


def test_to_model_space():
    x = torch.tensor([0, 255, 128], dtype=torch.uint8)
    assert torch.allclose(to_model_space(x), torch.tensor([-1.0, 1.0, 128 / 127.5 - 1]), atol=1e-6)


def test_tensor_batches_cover_an_epoch_without_replacement():
    data = torch.arange(10, dtype=torch.uint8).view(10, 1)
    batches = TensorBatches(data, torch.arange(10), batch_size=3, device=torch.device("cpu"), seed=1)
    seen = [batches.next() for _ in range(3)]  # 9 of 10 samples, last partial batch dropped
    labels = torch.cat([y for _, y in seen])
    assert len(set(labels.tolist())) == 9
    for x, y in seen:  # samples and labels stay paired, images mapped to [-1, 1]
        assert torch.allclose(x[:, 0], y.float() / 127.5 - 1)
    batches.next()
    assert batches.epoch == 1


def test_loader_state_resumes_the_same_batches():
    data = torch.randint(0, 255, (50, 1, 4, 4), dtype=torch.uint8)
    a = TensorBatches(data, None, 8, torch.device("cpu"), seed=3)
    for _ in range(9):
        a.next()
    state = a.state_dict()
    expected = [a.next()[0] for _ in range(10)]
    b = TensorBatches(data, None, 8, torch.device("cpu"), seed=99)
    b.load_state_dict(state)
    assert all(torch.equal(e, b.next()[0]) for e in expected)


def test_stream_and_resident_placement_give_the_same_batches():
    data = torch.randint(0, 255, (40, 1, 4, 4), dtype=torch.uint8)
    cpu = torch.device("cpu")
    resident = TensorBatches(data, None, 8, cpu, placement="device", seed=5)
    stream = TensorBatches(data, None, 8, cpu, placement="stream", seed=5)
    for _ in range(12):
        assert torch.equal(resident.next()[0], stream.next()[0])


def test_shuffle_order_is_drawn_by_a_cpu_generator():
    """The order comes from a CPU generator seeded with ``seed`` (tests/test_gpu.py checks a GPU run's is the same)."""
    batches = TensorBatches(torch.zeros(10, 2), torch.arange(10), 5, torch.device("cpu"), seed=7)
    assert batches.index.generator.device.type == "cpu"
    reference = torch.Generator().manual_seed(7)
    for _epoch in range(3):
        expected = torch.randperm(10, generator=reference)
        got = torch.cat([batches.next()[1] for _ in range(2)])
        assert torch.equal(got, expected)


def test_batch_larger_than_the_data_is_refused():
    with pytest.raises(ganforge.DataError, match="batch_size 64 is larger than the data set \\(10 samples\\); choose batch_size <= 10"):
        TensorBatches(torch.zeros(10, 2), None, 64, torch.device("cpu"))


def test_make_batches_chooses_by_data_kind():
    cpu = torch.device("cpu")
    assert isinstance(make_batches(Grid25(), 4, cpu), DistributionBatches)
    with pytest.raises(ganforge.ConfigError, match="'data_placement' must be one of"):
        make_batches(Grid25(), 4, cpu, placement="gpu")
