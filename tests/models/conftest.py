"""Tiny labelled image data sets written on the fly, for training the image models for a few steps."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ganforge.data.idx import write_idx


@pytest.fixture
def tiny_mnist(tmp_path) -> Path:
    """A data root holding a 64-image MNIST-format test split (random 28x28 digits, labels 0-9)."""
    root = tmp_path / "idx"
    root.mkdir()
    rng = np.random.default_rng(0)
    write_idx(root / "t10k-images-idx3-ubyte", rng.integers(0, 256, (64, 28, 28), dtype=np.uint8))
    write_idx(root / "t10k-labels-idx1-ubyte", (np.arange(64) % 10).astype(np.uint8))
    return root


@pytest.fixture
def tiny_cifar(tmp_path) -> Path:
    """A data root holding a CIFAR-10 python ``test_batch`` of 32 random 3x32x32 images, labels 0-9."""
    folder = tmp_path / "cifar" / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    batch = {b"batch_label": b"tiny", b"data": rng.integers(0, 256, (32, 3072), dtype=np.uint8),
             b"labels": [i % 10 for i in range(32)]}
    with open(folder / "test_batch", "wb") as f:
        pickle.dump(batch, f, protocol=2)
    return folder.parent


@pytest.fixture
def tiny_folder(tmp_path) -> Path:
    """An image folder with two class subfolders of four random 40x40 RGB PNGs each."""
    root = tmp_path / "folder"
    rng = np.random.default_rng(0)
    for name in ("cats", "dogs"):
        (root / name).mkdir(parents=True)
        for i in range(4):
            Image.fromarray(rng.integers(0, 256, (40, 40, 3), dtype=np.uint8)).save(root / name / f"{i}.png")
    return root
