"""The IDX reader and the mnist data set: tiny files written here, and the shared MNIST split."""

from __future__ import annotations

import gzip
import hashlib

import numpy as np
import pytest
import torch

import ganforge
from ganforge.data.idx import read_idx, write_idx
from ganforge.data.mnist import MNIST


@pytest.mark.parametrize("suffix", ["", ".gz"])
@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64])
def test_round_trip(tmp_path, suffix, dtype):
    array = (np.arange(2 * 3 * 4) - 5).astype(dtype).reshape(2, 3, 4)
    write_idx(tmp_path / f"a{suffix}", array)
    back = read_idx(tmp_path / f"a{suffix}")
    assert back.dtype == np.dtype(dtype) and back.shape == (2, 3, 4)
    np.testing.assert_array_equal(back, array)


def test_header_is_big_endian(tmp_path):
    write_idx(tmp_path / "x", np.zeros((3, 2), dtype=np.int32))
    raw = (tmp_path / "x").read_bytes()
    assert raw[:4] == bytes([0, 0, 0x0C, 2]) and raw[4:12] == bytes([0, 0, 0, 3, 0, 0, 0, 2])


def test_wrong_magic_is_named(tmp_path):
    bad = tmp_path / "t10k-images-idx3-ubyte"
    bad.write_bytes(b"PK\x03\x04 not an idx file")
    with pytest.raises(ganforge.DataError, match=f"{bad} is not an IDX file: it must start with two zero bytes"):
        read_idx(bad)


def test_truncated_file_is_named(tmp_path):
    path = tmp_path / "x.gz"
    write_idx(path, np.zeros((10, 28, 28), dtype=np.uint8))
    raw = gzip.decompress(path.read_bytes())
    path.write_bytes(gzip.compress(raw[:-5]))
    with pytest.raises(ganforge.DataError, match=r"promises shape \(10, 28, 28\).*truncated or corrupt"):
        read_idx(path)
    path.write_bytes(path.read_bytes()[:20])  # a cut gzip stream
    with pytest.raises(ganforge.DataError, match=f"Cannot read IDX file {path}"):
        read_idx(path)


@pytest.mark.parametrize("layout", ["", "mnist", "MNIST/raw"])
def test_mnist_finds_files_in_the_usual_layouts(tmp_path, layout, write_mnist):
    folder = tmp_path / layout
    folder.mkdir(parents=True, exist_ok=True)
    images, labels = write_mnist(folder, n=12, gzip_images=True)  # raw and gzipped mix
    data, targets = MNIST(root=str(tmp_path), split="test", download=False).load()
    assert data.shape == (12, 1, 28, 28) and data.dtype == torch.uint8
    assert torch.equal(data[:, 0], torch.from_numpy(images))
    assert targets.dtype == torch.int64 and targets.tolist() == labels.tolist()


def test_mnist_root_from_environment(tmp_path, monkeypatch, write_mnist):
    write_mnist(tmp_path, n=12, gzip_images=True)
    monkeypatch.setenv("GANFORGE_DATA", str(tmp_path))
    assert MNIST(split="test", download=False).load()[0].shape[0] == 12


def test_missing_mnist_says_where_it_looked_and_what_to_pass(tmp_path, write_mnist):
    write_mnist(tmp_path, n=12, split="test", gzip_images=True)
    with pytest.raises(ganforge.DataNotFoundError) as info:
        MNIST(root=str(tmp_path), split="train", download=False).load()
    msg = str(info.value)
    assert msg.startswith("mnist train split not found. Looked for train-images-idx3-ubyte(.gz)")
    assert str(tmp_path / "MNIST" / "raw") in msg
    assert "The test split is there: pass split='test' (--split test)." in msg
    assert "--data-root DIR" in msg and "GANFORGE_DATA" in msg and "--data grid25" in msg


def test_mismatched_files_are_rejected(tmp_path):
    write_idx(tmp_path / "t10k-images-idx3-ubyte", np.zeros((5, 28, 28), np.uint8))
    write_idx(tmp_path / "t10k-labels-idx1-ubyte", np.zeros((4,), np.uint8))
    with pytest.raises(ganforge.DataError, match="do not form an image/label pair"):
        MNIST(root=str(tmp_path), split="test", download=False).load()


def test_shared_mnist_test_split(mnist_root):
    data, labels = MNIST(root=str(mnist_root), split="test", download=False).load()
    assert data.shape == (10_000, 1, 28, 28) and labels.shape == (10_000,)
    # The published checksum of the decompressed image file, recomputed from what we read.
    header = bytes([0, 0, 8, 3]) + (10_000).to_bytes(4, "big") + (28).to_bytes(4, "big") * 2
    assert hashlib.md5(header + data.numpy().tobytes()).hexdigest() == "2646ac647ad5339dbf082846283269ea"
    assert torch.bincount(labels).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
