"""The domain classifier: accuracy on held-out MNIST, caching, cache location."""

from __future__ import annotations

import sys
import time

import pytest
import torch

import ganforge
from ganforge.data.mixtures import Grid25
from ganforge.data.mnist import MNIST
from ganforge.metrics import classifier as clf


@pytest.mark.slow
def test_accuracy_on_the_held_out_part_of_the_mnist_test_split(mnist_root, cache_env):
    data = MNIST(root=str(mnist_root), split="test", download=False)
    start = time.perf_counter()
    model, meta = clf.load_or_train(data)
    assert time.perf_counter() - start < 120  # aim: well under a minute on two shared cores
    images, labels = data.load()
    _, held = clf.holdout_split(images.shape[0])
    assert len(held) == 1500
    acc = clf.accuracy(model, images[held], labels[held])
    assert acc > 0.97
    assert meta["holdout_accuracy"] == pytest.approx(acc)
    path = cache_env / "classifiers" / f"ganforge-classifier-mnist-test-{meta['hash']}-v{clf.ARCH_VERSION}.pt"
    assert meta["cache"] == str(path) and path.is_file()


def test_second_use_loads_the_cache_without_training(mnist_root, cache_env, monkeypatch):
    data = MNIST(root=str(mnist_root), split="test", download=False)
    first, meta = clf.load_or_train(data)

    def no_training(*args, **kwargs):
        raise AssertionError("trained again despite a cached classifier")

    monkeypatch.setattr(clf, "train_classifier", no_training)
    second, meta2 = clf.load_or_train(data)
    assert meta2 == meta
    for a, b in zip(first.state_dict().values(), second.state_dict().values()):
        assert torch.equal(a, b)


def test_content_hash_keys_the_cache_by_the_data():
    images = torch.zeros(10, 1, 4, 4, dtype=torch.uint8)
    labels = torch.arange(10)
    base = clf.content_hash(images, labels)
    assert clf.content_hash(images.clone(), labels.clone()) == base
    assert clf.content_hash(images, labels.flip(0)) != base
    changed = images.clone()
    changed[3, 0, 1, 1] = 1
    assert clf.content_hash(changed, labels) != base


def test_holdout_split_is_fixed_and_disjoint():
    train, held = clf.holdout_split(100)
    again_train, again_held = clf.holdout_split(100)
    assert torch.equal(held, again_held) and torch.equal(train, again_train)
    assert len(held) == 15 and set(train.tolist()).isdisjoint(held.tolist())
    assert sorted(train.tolist() + held.tolist()) == list(range(100))


def test_cache_location_is_the_user_cache_never_the_data_folder(tmp_path, monkeypatch):
    """Issue 17: the cache no longer goes beside the data (which may be read-only or shared)."""
    monkeypatch.setenv(clf.CACHE_ENV, str(tmp_path / "env"))
    assert clf.cache_dir() == tmp_path / "env" / "classifiers"
    monkeypatch.delenv(clf.CACHE_ENV)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    if sys.platform.startswith("linux"):
        assert clf.cache_dir() == tmp_path / "xdg" / "ganforge" / "classifiers"


def test_data_folder_is_where_the_idx_files_are(mnist_root):
    assert clf.data_folder(MNIST(root=str(mnist_root), split="test", download=False)) == mnist_root


def test_unlabelled_or_point_data_is_refused():
    with pytest.raises(ganforge.DataError, match="needs a labelled image data set; 'grid25'"):
        clf.load_or_train(Grid25())


def test_cnn_shapes_for_other_image_sizes():
    model = clf.DomainCNN(3, 7)
    assert model(torch.zeros(2, 3, 32, 32)).shape == (2, 7)
    assert model.features(torch.zeros(2, 3, 28, 28)).shape == (2, clf.DomainCNN.feature_dim)
