"""Reference statistics: the real images' feature mean and covariance, in pytorch-fid's ``.npz`` format.

A statistics file holds ``mu`` (``(D,)``) and ``sigma`` (``(D, D)``), the
format pytorch-fid's ``--save-stats`` writes and many papers publish, so
that a generator can be compared with a paper's statistics without the real
images. ganforge adds its metadata beside them (keys starting with
``ganforge_``: extractor, image size, sample count, data set, split), which
other tools ignore, and checks it when reading: statistics computed with
another extractor or image size are refused, naming both. A foreign file
without metadata is accepted with a note saying what could not be checked.

The statistics of a data set's real images are also cached in the per-user
cache (:func:`ganforge.io.cache.cache_dir`, ``reference/``), never in the data
folder, keyed by data set, split, extractor, image size, sample count, seed
and a hash of the chosen images. The cached file also keeps the real
features, which KID, precision/recall and density/coverage need: a 2048-d
float32 feature set takes 8 KiB per image (410 MB for 50,000 images).
"""

from __future__ import annotations

import hashlib
import os
import zipfile
from pathlib import Path
from typing import Any

import attrs
import numpy as np
from torch import Tensor

from ganforge.errors import DataError
from ganforge.io.atomic import atomic_write

_META = ("extractor", "image_size", "samples", "dataset", "split")


@attrs.frozen(eq=False)
class ReferenceStats:
    """Feature statistics of a set of real images.

    Attributes:
        mu: Mean feature ``(D,)``, float64.
        sigma: Feature covariance ``(D, D)``, float64 (unbiased, as pytorch-fid's).
        extractor: Identity of the feature extractor (``FeatureExtractor.identity``), or None when unknown.
        image_size: Side of the images given to the extractor, pixels (None: unknown).
        samples: Number of images (None: unknown).
        dataset: Data set name (None: unknown).
        split: Data set split (None: unknown).
        features: The features themselves ``(N, D)`` when kept (cache files), else None.
        source: Where the statistics came from (a path, or ``"computed"``).
    """

    mu: np.ndarray
    sigma: np.ndarray
    extractor: str | None = None
    image_size: int | None = None
    samples: int | None = None
    dataset: str | None = None
    split: str | None = None
    features: np.ndarray | None = None
    source: str = "computed"

    @property
    def has_metadata(self) -> bool:
        """True when the extractor and image size are recorded (ganforge wrote the file)."""
        return self.extractor is not None and self.image_size is not None


def stats_from_features(features: Tensor | np.ndarray, **meta: Any) -> ReferenceStats:
    """:class:`ReferenceStats` of a feature matrix ``(N, D)``; ``meta`` fills the other fields."""
    from ganforge.metrics.frechet import gaussian_stats

    mu, sigma = gaussian_stats(features)
    kept = np.asarray(features.detach().cpu() if isinstance(features, Tensor) else features, dtype=np.float32)
    return ReferenceStats(mu=mu.numpy(), sigma=sigma.numpy(), features=kept, samples=int(kept.shape[0]), **meta)


def save_reference(stats: ReferenceStats, path: str | os.PathLike, features: bool = False) -> Path:
    """Write ``stats`` as an ``.npz`` (``mu``, ``sigma``, ganforge metadata; the features when ``features``).

    The file is written beside its final name and renamed into place (never
    through a link at ``path``), so a reader never sees half a file. Returns
    the path.

    Raises:
        StorageError: when the file system refuses the write.
    """
    path = Path(path)
    if path.suffix != ".npz":
        raise DataError(f"Reference statistics are written as .npz; got {str(path)!r}. Name a file ending in .npz.")
    arrays = reference_arrays(stats, features)
    atomic_write(path, lambda f: np.savez(f, **arrays))  # never through a link; a refusal is a StorageError
    return path


def reference_arrays(stats: ReferenceStats, features: bool = False) -> dict[str, np.ndarray]:
    """The arrays :func:`save_reference` writes: ``mu``, ``sigma``, ganforge's metadata, the features when asked."""
    arrays: dict[str, Any] = {"mu": stats.mu, "sigma": stats.sigma}
    for key in _META:
        value = getattr(stats, key)
        if value is not None:
            arrays[f"ganforge_{key}"] = np.asarray(value)
    if features and stats.features is not None:
        arrays["ganforge_features"] = stats.features
    return arrays


def load_reference(path: str | os.PathLike) -> ReferenceStats:
    """Read a statistics ``.npz`` (pytorch-fid's ``mu``/``sigma``, with or without ganforge's metadata).

    Raises:
        DataError: naming the file and what is wrong: unreadable, missing
            ``mu``/``sigma``, mismatched shapes, or non-finite values.
    """
    path = Path(path).expanduser()
    expected = "an .npz file with 'mu' (D,) and 'sigma' (D, D), as pytorch-fid's --save-stats writes"
    if not path.is_file():
        raise DataError(f"Reference statistics {path} do not exist; pass {expected}.")
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {key: data[key] for key in data.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        reason = " ".join(str(exc).split())[:200]
        raise DataError(f"Cannot read reference statistics {path} ({type(exc).__name__}: {reason}); expected "
                        f"{expected}.") from None
    if "mu" not in arrays or "sigma" not in arrays:
        found = ", ".join(sorted(arrays)) or "nothing"
        raise DataError(f"Reference statistics {path} hold {found}; expected {expected}.")
    mu, sigma = arrays["mu"], arrays["sigma"]
    if mu.ndim != 1 or sigma.shape != (mu.shape[0], mu.shape[0]) or mu.shape[0] < 1:
        raise DataError(f"Reference statistics {path} have 'mu' of shape {mu.shape} and 'sigma' of shape "
                        f"{sigma.shape}; expected (D,) and (D, D).")
    if not (np.issubdtype(mu.dtype, np.number) and np.issubdtype(sigma.dtype, np.number)) or not (
            np.isfinite(mu).all() and np.isfinite(sigma).all()):
        raise DataError(f"Reference statistics {path} hold non-numeric or non-finite values; recompute them.")
    meta: dict[str, Any] = {}
    for key in _META:
        value = arrays.get(f"ganforge_{key}")
        if value is not None:
            meta[key] = value.item() if value.ndim == 0 else value.tolist()
    for key in ("image_size", "samples"):
        if key in meta:
            meta[key] = int(meta[key])
    features = arrays.get("ganforge_features")
    return ReferenceStats(mu=mu.astype(np.float64), sigma=sigma.astype(np.float64), features=features,
                          source=str(path), **meta)


def check_reference(stats: ReferenceStats, extractor: str, image_size: int, dim: int) -> str | None:
    """Refuse statistics that cannot be compared with features from ``extractor`` at ``image_size``.

    Args:
        stats: The reference statistics.
        extractor: Identity of the extractor of this evaluation.
        image_size: Side of the images this evaluation feeds it, pixels.
        dim: Width of this evaluation's features.

    Returns:
        None when everything was checked; else a note saying what could not
        be (a foreign file without metadata).

    Raises:
        DataError: naming both sides, for another extractor, another image size or another feature width.
    """
    where = f"Reference statistics {stats.source}"
    if stats.mu.shape[0] != dim:
        raise DataError(f"{where} are {stats.mu.shape[0]}-dimensional but extractor '{extractor}' gives {dim}-d "
                        "features; use statistics computed with the same extractor.")
    if stats.extractor is not None and stats.extractor != extractor:
        raise DataError(f"{where} were computed with extractor '{stats.extractor}', this evaluation uses "
                        f"'{extractor}'; their FIDs cannot be compared. Use statistics of the same extractor.")
    if stats.image_size is not None and stats.image_size != image_size:
        raise DataError(f"{where} were computed on {stats.image_size}x{stats.image_size} images, this evaluation "
                        f"feeds {image_size}x{image_size} images; compute them at the run's image size.")
    unknown = [name for name, value in (("extractor", stats.extractor), ("image size", stats.image_size))
               if value is None]
    if unknown:
        return (f"{stats.source} has no ganforge metadata, so its {' and '.join(unknown)} could not be checked: it "
                f"must come from the same network ({extractor}) on {image_size}x{image_size} images of the same data.")
    return None


def fingerprint(*parts: Any) -> str:
    """SHA-256 (first 16 hex digits) of tensors' and arrays' bytes and shapes and of other values' text."""
    h = hashlib.sha256()
    for part in parts:
        if isinstance(part, Tensor):
            part = part.detach().contiguous().cpu().numpy()
        if isinstance(part, np.ndarray):
            h.update(f"{part.shape}{part.dtype}".encode())
            h.update(np.ascontiguousarray(part).reshape(-1).view(np.uint8))  # the bytes, without a copy
        else:
            h.update(repr(part).encode())
    return h.hexdigest()[:16]


def reference_cache_path(dataset: str, split: str, extractor: str, image_size: int, samples: int, seed: int,
                         digest: str) -> Path:
    """The cache file of one data set's reference statistics (``<cache>/reference/...npz``)."""
    from ganforge.io.cache import cache_dir

    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in f"{dataset}-{split}-{extractor}")
    return cache_dir() / "reference" / f"{safe}-{image_size}px-n{samples}-seed{seed}-{digest}.npz"


__all__ = [
    "ReferenceStats",
    "check_reference",
    "fingerprint",
    "load_reference",
    "reference_cache_path",
    "save_reference",
    "stats_from_features",
]
