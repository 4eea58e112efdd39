"""The domain classifier: a small CNN trained once on a labelled image data set, then cached.

It serves two purposes: its penultimate layer is a feature space for FID,
KID and precision/recall on data sets far from ImageNet (MNIST), and its
predictions give class coverage and the stacked-MNIST mode count.

Training uses the data set the run trains on (its ``load()``), holding out a
fixed, seeded part (:func:`holdout_split`) on which the accuracy is measured
and stored with the weights. On the MNIST test split (10,000 images) it
trains in well under a minute on two CPU cores and reaches about 98 %
held-out accuracy.

Cache: one file per (data set, split, content hash, architecture version),
so different data under the same name never share weights, in
``classifiers/`` of ganforge's per-user cache folder (:func:`ganforge.io.cache.cache_dir`:
``$GANFORGE_CACHE``, else e.g. ``~/.cache/ganforge``); never in the data
folder, which may be read-only or shared.
"""

from __future__ import annotations

import hashlib
import io
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ganforge.errors import DataError
from ganforge.io.cache import (
    CACHE_ENV,  # noqa: F401 - re-exported: tests and callers import it from here
    read_entry,
    write_entry,
)
from ganforge.io.cache import cache_dir as _cache_root
from ganforge.metrics.spaces import to_model_space

#: Bump when the architecture or training recipe changes: old cache files are then ignored.
ARCH_VERSION = 1
#: Fraction of the data held out for measuring accuracy.
HOLDOUT_FRACTION = 0.15


class DomainCNN(nn.Module):
    """Conv(16) - pool - Conv(32) - pool - FC(128) - FC(classes); accepts any image size (adaptive pooling).

    Inputs are images in [-1, 1] of shape ``(B, C, H, W)``.
    """

    feature_dim = 128

    def __init__(self, in_channels: int, num_classes: int):
        super().__init__()
        self.in_channels, self.num_classes = in_channels, num_classes
        self.body = nn.Sequential(
            nn.Conv2d(in_channels, 16, 3, padding=1), nn.ReLU(inplace=True), nn.MaxPool2d(2),
            nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(inplace=True), nn.MaxPool2d(2),
            nn.AdaptiveAvgPool2d(7), nn.Flatten(),
            nn.Linear(32 * 49, self.feature_dim), nn.ReLU(inplace=True),
        )
        self.head = nn.Linear(self.feature_dim, num_classes)

    def features(self, x: Tensor) -> Tensor:
        """Penultimate activations ``(B, 128)``."""
        return self.body(x)

    def forward(self, x: Tensor) -> Tensor:
        """Class logits ``(B, num_classes)``."""
        return self.head(self.body(x))


def content_hash(images: Tensor, labels: Tensor) -> str:
    """SHA-256 (first 16 hex digits) of the images' and labels' bytes and shapes."""
    h = hashlib.sha256()
    for t in (images, labels):
        t = t.contiguous().cpu()
        h.update(str((tuple(t.shape), str(t.dtype))).encode())
        h.update(t.numpy().tobytes())
    return h.hexdigest()[:16]


def holdout_split(n: int, fraction: float = HOLDOUT_FRACTION, seed: int = 0) -> tuple[Tensor, Tensor]:
    """Indices ``(train, held_out)`` of a fixed seeded permutation of ``range(n)``."""
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    n_out = max(1, int(round(n * fraction)))
    return perm[n_out:], perm[:n_out]


def data_folder(dataset: Any) -> Path | None:
    """The folder holding a data set's files, when it can tell (IDX data sets), else None."""
    inner = getattr(dataset, "inner", dataset)
    find = getattr(inner, "_find", None)
    if callable(find):
        found = find()
        if found:
            return Path(found[0]).parent
    root = getattr(inner, "data_root", None)
    return Path(root) if root is not None and Path(root).is_dir() else None


def cache_dir() -> Path:
    """Where classifier weights are cached: ``classifiers/`` in :func:`ganforge.io.cache.cache_dir`."""
    return _cache_root("classifiers")


def train_classifier(
    images: Tensor, labels: Tensor, num_classes: int, epochs: int = 4, batch_size: int = 64, seed: int = 0
) -> tuple[DomainCNN, float]:
    """Train a :class:`DomainCNN` on ``images`` (uint8 or [-1, 1] float, ``(N, C, H, W)``); return it and its held-out accuracy.

    Deterministic for a given seed on the CPU; the global RNG is left untouched. Runs on one
    CPU thread (restored afterwards): convolutions this small gain little from more threads,
    and on a busy machine extra threads made training four times slower in our measurement.
    """
    x, y = to_model_space(images), labels.long()
    train_idx, held_idx = holdout_split(x.shape[0])
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        model = _fit(x, y, train_idx, num_classes, epochs, batch_size, seed)
    finally:
        torch.set_num_threads(threads)
    return model, accuracy(model, x[held_idx], y[held_idx])


def _fit(x: Tensor, y: Tensor, train_idx: Tensor, num_classes: int, epochs: int, batch_size: int,
         seed: int) -> DomainCNN:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = DomainCNN(x.shape[1], num_classes)
        opt = torch.optim.Adam(model.parameters(), lr=2e-3)
        steps = epochs * (len(train_idx) // batch_size)
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=2e-3, total_steps=max(1, steps))
        gen = torch.Generator().manual_seed(seed)
        model.train()
        for _ in range(epochs):
            order = train_idx[torch.randperm(len(train_idx), generator=gen)]
            for start in range(0, len(order) - batch_size + 1, batch_size):
                idx = order[start : start + batch_size]
                loss = F.cross_entropy(model(x[idx]), y[idx])
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                sched.step()
    model.eval()
    return model


@torch.no_grad()
def accuracy(model: DomainCNN, images: Tensor, labels: Tensor, batch: int = 1000) -> float:
    """Fraction of ``images`` (uint8 or [-1, 1]) that ``model`` classifies as ``labels``."""
    x = to_model_space(images)
    correct = sum(int((model(x[s : s + batch]).argmax(1) == labels[s : s + batch]).sum()) for s in range(0, len(x), batch))
    return correct / max(1, len(x))


def load_or_train(dataset: Any, verbose: bool = False) -> tuple[DomainCNN, dict[str, Any]]:
    """The domain classifier of a labelled finite image ``dataset``, from the cache or freshly trained.

    Returns the model (CPU, eval mode) and its metadata: data set name,
    split, content hash, held-out accuracy, cache path (None when the
    cache could not be written: the model is then only in memory). A damaged cache entry is named
    in one warning, set aside as NAME.corrupt and retrained (:func:`ganforge.io.cache.read_entry`).

    Raises:
        DataError: for unlabelled, non-image or distribution data sets.
    """
    inner = getattr(dataset, "inner", dataset)  # train at the stored size, not a resized copy
    if inner.is_distribution or inner.num_classes is None or len(inner.sample_shape) != 3:
        raise DataError(
            f"The domain classifier needs a labelled image data set; '{inner.name}' is not one. Use "
            "feature='inception' for unlabelled images, or mixture metrics for 2-D data."
        )
    images, labels = inner.load()
    if inner.condition_shape is not None:  # rows hold a condition beside the sample: classify the samples
        images = inner.split_condition(images)[0]
    if labels is None:
        raise DataError(f"Data set '{inner.name}' returned no labels; the domain classifier cannot be trained.")
    digest = content_hash(images, labels)
    folder = cache_dir()
    path = folder / f"ganforge-classifier-{inner.name}-{inner.split}-{digest}-v{ARCH_VERSION}.pt"
    what = f"{inner.name} domain classifier"

    def load(file: Path) -> tuple[DomainCNN, dict[str, Any]]:
        state = torch.load(file, map_location="cpu", weights_only=True)
        if not isinstance(state, dict) or not isinstance(state.get("meta"), dict) or "model" not in state:
            raise ValueError("it is not a dict with 'model' and 'meta'")
        meta = state["meta"]
        if meta.get("hash") != digest or not isinstance(meta.get("holdout_accuracy"), float):
            raise ValueError(f"its metadata do not match the data (hash {meta.get('hash')!r}, expected {digest!r})")
        cached = DomainCNN(images.shape[1], inner.num_classes)
        cached.load_state_dict(state["model"])  # a wrong architecture or missing tensors raise here
        return cached.eval(), meta

    found = read_entry(path, load, what)
    if found is not None:
        model, meta = found
        return model, {**meta, "cache": str(path)}
    if verbose:
        print(f"Training the {inner.name} domain classifier once (cached in {path}) ...", flush=True)
    model, acc = train_classifier(images, labels, inner.num_classes)
    meta = {"dataset": inner.name, "split": inner.split, "hash": digest, "holdout_accuracy": acc,
            "version": ARCH_VERSION}
    buffer = io.BytesIO()
    torch.save({"model": model.state_dict(), "meta": meta}, buffer)
    kept = write_entry(path, lambda f: f.write(buffer.getbuffer()), what)
    return model, {**meta, "cache": str(path) if kept else None}
