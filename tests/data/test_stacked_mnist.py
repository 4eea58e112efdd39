"""Stacked MNIST: three independent MNIST digits as channels, 1,000 modes, built deterministically."""

from __future__ import annotations

import pytest
import torch

import ganforge
from ganforge.data.mnist import MNIST
from ganforge.data.stacked_mnist import StackedMNIST


def test_channels_are_mnist_digits_and_the_label_spells_them(mnist_root):
    digits, digit_labels = MNIST(root=str(mnist_root), split="test").load()
    label_of = {}
    for image, label in zip(digits[:, 0], digit_labels.tolist()):
        label_of.setdefault(image.numpy().tobytes(), set()).add(label)
    data = StackedMNIST(root=str(mnist_root), split="test", size=300)
    assert data.sample_shape == (3, 28, 28) and data.num_classes == 1000
    images, labels = data.load()
    assert images.shape == (300, 3, 28, 28) and images.dtype == torch.uint8 and labels.dtype == torch.int64
    for image, label in zip(images, labels.tolist()):
        d1, d2, d3 = label // 100, label // 10 % 10, label % 10
        for channel, digit in zip(image, (d1, d2, d3)):
            assert digit in label_of[channel.numpy().tobytes()]  # each channel is an MNIST image of that digit


def test_default_size_is_the_split_and_modes_are_covered(mnist_root):
    images, labels = StackedMNIST(root=str(mnist_root), split="test").load()
    assert images.shape[0] == 10_000
    assert labels.min() >= 0 and labels.max() <= 999
    # 10,000 independent triples of roughly uniform digits leave hardly any of the 1,000 modes empty.
    assert labels.unique().numel() >= 990
    # The three digits are independent: no correlation between channels' digits.
    d = torch.stack([labels // 100, labels // 10 % 10, labels % 10]).float()
    corr = torch.corrcoef(d)
    assert corr[0, 1].abs() < 0.05 and corr[0, 2].abs() < 0.05 and corr[1, 2].abs() < 0.05


def test_construction_is_deterministic_per_seed(mnist_root):
    a = StackedMNIST(root=str(mnist_root), split="test", size=64).load()
    torch.manual_seed(123)  # the global RNG plays no part
    b = StackedMNIST(root=str(mnist_root), split="test", size=64).load()
    c = StackedMNIST(root=str(mnist_root), split="test", size=64, seed=1).load()
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert not torch.equal(a[1], c[1])


def test_dcgan_trains_on_stacked_mnist(mnist_root, tiny):
    tiny.update(steps=2, log_every=1, batch_size=8)
    trainer = ganforge.Trainer(gen="dcgan", disc="dcgan", data="stacked-mnist", data_root=str(mnist_root),
                               split="test", data_options={"size": 64}, gen_options={"width": 8},
                               disc_options={"width": 8}, **tiny)
    trainer.fit()
    assert trainer.spec.data_shape == (3, 28, 28)


def test_missing_split_is_reported(tmp_path):
    with pytest.raises(ganforge.DataNotFoundError, match="mnist train split not found"):
        StackedMNIST(root=str(tmp_path), download=False).load()


@pytest.mark.parametrize("options, text", [({"size": 0}, "'size'"), ({"size": 2.5}, "'size'"), ({"seed": -1}, "'seed'")])
def test_bad_options(options, text):
    with pytest.raises(ganforge.ConfigError, match=text):
        StackedMNIST(**options)
