"""fashion-mnist and cifar10 from files written here: where they are looked for, and errors when offline."""

from __future__ import annotations

import os
import pickle
import re
import urllib.error

import numpy as np
import pytest
import torch
import torchvision.datasets

import ganforge
from ganforge.data.cifar10 import CIFAR10
from ganforge.data.fashion_mnist import FashionMNIST
from ganforge.data.mnist import DATA_ENV


def offline(*args, **kwargs):
    raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")


# -- fashion-mnist ----------------------------------------------------------------


@pytest.mark.parametrize("sub", ["FashionMNIST/raw", "FashionMNIST", "fashion-mnist", "fashionmnist"])
def test_fashion_mnist_found_in_its_folders(tmp_path, sub, write_mnist):
    images, labels = write_mnist(tmp_path / sub, n=5, split="train", gzip_images=True, gzip_labels=True,
                                  random_labels=True)
    x, y = FashionMNIST(root=str(tmp_path), download=False).load()
    assert x.shape == (5, 1, 28, 28) and x.dtype == torch.uint8
    np.testing.assert_array_equal(x[:, 0].numpy(), images)
    np.testing.assert_array_equal(y.numpy(), labels)


def test_fashion_mnist_ignores_mnist_files_in_the_default_root(tmp_path, monkeypatch, write_mnist):
    # MNIST's file names, directly in $GANFORGE_DATA
    write_mnist(tmp_path, n=5, split="train", gzip_images=True, gzip_labels=True, random_labels=True)
    monkeypatch.setenv(DATA_ENV, str(tmp_path))
    with pytest.raises(ganforge.DataNotFoundError) as err:
        FashionMNIST(download=False).load()
    assert str(tmp_path / "FashionMNIST" / "raw") in str(err.value)
    # Passed explicitly, the folder is the user's statement that these are the files.
    x, _ = FashionMNIST(root=str(tmp_path), download=False).load()
    assert x.shape == (5, 1, 28, 28)


def test_fashion_mnist_offline_error_names_folders_and_reason(tmp_path, monkeypatch):
    monkeypatch.setattr(torchvision.datasets, "FashionMNIST", offline)
    with pytest.raises(ganforge.DataNotFoundError) as err:
        FashionMNIST(root=str(tmp_path)).load()
    msg = str(err.value)
    assert "fashion-mnist train split not found" in msg
    assert str(tmp_path / "FashionMNIST" / "raw") in msg
    assert "URLError" in msg and "name resolution" in msg
    assert "--data-root" in msg


def test_fashion_mnist_points_to_the_other_split(tmp_path, write_mnist):
    write_mnist(tmp_path / "FashionMNIST" / "raw", n=5, split="test", gzip_images=True, gzip_labels=True,
                random_labels=True)
    with pytest.raises(ganforge.DataNotFoundError, match="split='test'"):
        FashionMNIST(root=str(tmp_path), download=False).load()
    x, _ = FashionMNIST(root=str(tmp_path), split="test", download=False).load()
    assert x.shape[0] == 5


# -- cifar10 ------------------------------------------------------------------------


def write_cifar(folder, sizes=(2, 3, 1, 2, 2), test=3, seed=0):
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    out = {}
    for name, n in zip(names, list(sizes) + [test]):
        batch = {b"batch_label": b"fake", b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
                 b"labels": rng.integers(0, 10, n).tolist()}
        with open(folder / name, "wb") as f:
            pickle.dump(batch, f, protocol=2)
        out[name] = batch
    return out


def test_cifar10_reads_the_python_batches(tmp_path):
    batches = write_cifar(tmp_path / "cifar-10-batches-py")
    x, y = CIFAR10(root=str(tmp_path), download=False).load()
    assert x.shape == (10, 3, 32, 32) and x.dtype == torch.uint8 and y.dtype == torch.int64
    first = batches["data_batch_1"][b"data"][0]
    # Each row holds the red, green and blue 32x32 planes.
    np.testing.assert_array_equal(x[0, 0].numpy().ravel(), first[:1024])
    np.testing.assert_array_equal(x[0, 2].numpy().ravel(), first[2048:])
    assert y.tolist() == sum((batches[f"data_batch_{i}"][b"labels"] for i in range(1, 6)), [])
    xt, yt = CIFAR10(root=str(tmp_path), split="test", download=False).load()
    assert xt.shape == (3, 3, 32, 32) and yt.tolist() == batches["test_batch"][b"labels"]


def test_cifar10_offline_error_names_where_it_looked(tmp_path, monkeypatch):
    monkeypatch.setattr(torchvision.datasets, "CIFAR10", offline)
    with pytest.raises(ganforge.DataNotFoundError) as err:
        CIFAR10(root=str(tmp_path)).load()
    msg = str(err.value)
    assert "cifar10 train split not found" in msg and "data_batch_1" in msg
    assert str(tmp_path / "cifar-10-batches-py") in msg
    assert "URLError" in msg and "--data-root" in msg


def test_cifar10_points_to_the_other_split(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    write_cifar(folder)
    os.remove(folder / "data_batch_3")
    with pytest.raises(ganforge.DataNotFoundError, match=r"Downloading is off \(download=False\).*split='test'"):
        CIFAR10(root=str(tmp_path), download=False).load()


def test_cifar10_corrupt_batch_is_named(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    write_cifar(folder)
    (folder / "data_batch_2").write_bytes(b"\x80\x02}q\x00")  # truncated pickle
    with pytest.raises(ganforge.DataError, match=re.escape(str(folder / "data_batch_2"))):
        CIFAR10(root=str(tmp_path), download=False).load()
    with open(folder / "data_batch_2", "wb") as f:
        pickle.dump({b"data": np.zeros((2, 100), np.uint8), b"labels": [0, 1]}, f)
    with pytest.raises(ganforge.DataError, match=r"\(N, 3072\)"):
        CIFAR10(root=str(tmp_path), download=False).load()


class _Payload:
    def __reduce__(self):
        return (os.system, ("echo pwned > should_not_exist",))


def test_cifar10_batch_cannot_run_code(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    folder = tmp_path / "cifar-10-batches-py"
    write_cifar(folder)
    with open(folder / "data_batch_1", "wb") as f:
        pickle.dump({b"data": _Payload(), b"labels": []}, f)
    with pytest.raises(ganforge.DataError, match="not allowed"):
        CIFAR10(root=str(tmp_path), download=False).load()
    assert not (tmp_path / "should_not_exist").exists()


def test_cifar10_reads_numpy1_pickles(tmp_path):
    """The published batches name numpy.core.multiarray, which numpy 2 renamed."""
    folder = tmp_path / "cifar-10-batches-py"
    write_cifar(folder)
    data = (np.arange(2 * 3072) % 251).astype(np.uint8).reshape(2, 3072)
    raw = pickle.dumps({b"data": data, b"labels": [3, 4]}, protocol=2)
    (folder / "test_batch").write_bytes(raw.replace(b"numpy._core.multiarray", b"numpy.core.multiarray"))
    x, y = CIFAR10(root=str(tmp_path), split="test", download=False).load()
    assert y.tolist() == [3, 4] and torch.equal(x.reshape(2, 3072), torch.from_numpy(data))


def test_dcgan_trains_on_cifar10_files(tmp_path, tiny):
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        _train_on_cifar(tmp_path, tiny)
    finally:
        torch.set_num_threads(before)


def _train_on_cifar(tmp_path, tiny):
    write_cifar(tmp_path / "cifar-10-batches-py", sizes=(4, 4, 4, 4, 4))
    tiny.update(steps=2, log_every=1, batch_size=8)
    trainer = ganforge.Trainer(gen="dcgan", disc="dcgan", data="cifar10", data_root=str(tmp_path),
                               data_options={"download": False}, gen_options={"width": 8},
                               disc_options={"width": 8}, **tiny)
    trainer.fit()
    assert trainer.spec.data_shape == (3, 32, 32)
