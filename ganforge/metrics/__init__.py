"""Measuring what a GAN produces.

:func:`evaluate` picks the metrics that fit the run's data set:

===============  =====================================================  ================
data             metrics                                                primary (lower)
===============  =====================================================  ================
2-D mixtures     modes, hq_percent, reverse_kl (PacGAN/VEEGAN)           ``reverse_kl``
stacked MNIST    stacked_modes (of 1,000), stacked_kl (PacGAN Table 2)  ``stacked_kl``
labelled images  fid, kid, precision, recall, classes, class_kl          ``fid``
===============  =====================================================  ================

Every key in :data:`LOWER_IS_BETTER` improves downwards, every key in
:data:`HIGHER_IS_BETTER` upwards. :func:`primary_metric` names the one
number to track or select checkpoints by; it is always lower-is-better.
The pieces live in submodules: :mod:`~ganforge.metrics.mixture`,
:mod:`~ganforge.metrics.frechet` (FID, KID), :mod:`~ganforge.metrics.manifold`
(precision/recall), :mod:`~ganforge.metrics.coverage`,
:mod:`~ganforge.metrics.features` and :mod:`~ganforge.metrics.classifier`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from ganforge.data.loader import to_model_space
from ganforge.errors import ConfigError, DataError
from ganforge.metrics.coverage import STACKED_SAMPLES, class_coverage, stacked_modes
from ganforge.metrics.features import get_extractor
from ganforge.metrics.frechet import fid_from_features, kid_from_features
from ganforge.metrics.manifold import precision_recall
from ganforge.metrics.mixture import DEFAULT_SAMPLES, dataset_mixture_metrics, save_mixture_scatter

#: Metrics where a smaller value is better.
LOWER_IS_BETTER = frozenset({"reverse_kl", "fid", "kid", "class_kl", "stacked_kl"})
#: Metrics where a larger value is better.
HIGHER_IS_BETTER = frozenset({"modes", "hq_percent", "precision", "recall", "classes", "stacked_modes"})
#: The primary (lower-is-better) metric of each kind of data.
PRIMARY = {"mixture": "reverse_kl", "stacked": "stacked_kl", "image": "fid"}
#: Samples drawn by default for each kind of data.
DEFAULT_N = {"mixture": DEFAULT_SAMPLES, "stacked": STACKED_SAMPLES, "image": 5000}


def data_kind(dataset: Any) -> str:
    """``"mixture"`` (2-D Gaussian mixture), ``"stacked"`` (stacked MNIST) or ``"image"``."""
    if dataset.is_distribution and hasattr(dataset, "modes"):
        return "mixture"
    shape = tuple(dataset.sample_shape)
    if len(shape) == 3 and shape[0] == 3 and "stacked" in dataset.name:
        return "stacked"
    if len(shape) == 3:
        return "image"
    raise DataError(
        f"No metrics fit data set '{dataset.name}' (samples of shape {shape}): ganforge measures 2-D Gaussian "
        "mixtures, stacked MNIST and image data sets."
    )


def measured_metrics(dataset: Any) -> list[str]:
    """The metric keys :func:`evaluate` reports for ``dataset`` (checked before a run starts, e.g. ``eval_metric``).

    Raises:
        DataError: when no metrics fit the data set (see :func:`data_kind`).
    """
    kind = data_kind(dataset)
    if kind == "mixture":
        return ["modes", "hq_percent", "reverse_kl"]
    if kind == "stacked":
        return ["stacked_modes", "stacked_kl"]
    return ["fid", "kid", "precision", "recall"] + (["classes", "class_kl"] if dataset.num_classes else [])


def primary_metric(trainer: Any) -> str:
    """The key of :func:`evaluate`'s result to track for ``trainer``'s data (lower is better)."""
    trainer.setup()
    return PRIMARY[data_kind(trainer.dataset)]


def generate(trainer: Any, n: int, seed: int = 0, chunk: int = 1000) -> Tensor:
    """``n`` samples (CPU, model space) from fixed latents seeded by ``seed``; the training RNG is untouched."""
    trainer.setup()
    gen = torch.Generator().manual_seed(seed)
    classes = trainer.spec.num_classes
    out = []
    for start in range(0, n, chunk):
        m = min(chunk, n - start)
        z = torch.randn(m, trainer.spec.latent_dim, generator=gen)
        labels = torch.randint(0, classes, (m,), generator=gen) if classes else None
        out.append(trainer.sample(z=z, labels=labels))
    return torch.cat(out)


def real_images(dataset: Any, n: int, seed: int = 0) -> Tensor:
    """``n`` real samples (or all, if fewer) of a finite data set, in [-1, 1], chosen by a seeded permutation."""
    data, _ = dataset.load()
    idx = torch.randperm(data.shape[0], generator=torch.Generator().manual_seed(seed))[:n]
    return to_model_space(data[idx])


def _mnist_for(trainer: Any) -> Any:
    from ganforge.registry import get_registry

    cfg = trainer.config
    return get_registry().create("dataset", "mnist", root=cfg.data_root, split=cfg.split)


def evaluate(trainer: Any, n: int | None = None, feature: str = "classifier", seed: int = 0,
             scatter: str | Path | None = None) -> dict[str, Any]:
    """Measure ``trainer``'s generator with the metrics that fit its data set.

    Args:
        trainer: A :class:`~ganforge.Trainer` (set up here if needed), e.g.
            from ``Trainer.resume(run_dir)``.
        n: Samples to generate (default: 2,500 for mixtures as in PacGAN,
            26,000 for stacked MNIST, 5,000 for images).
        feature: Feature extractor for image FID/KID/precision/recall:
            ``"classifier"`` (default; domain classifier) or ``"inception"``.
        seed: Seeds the latents and the real subset, so repeated calls on the
            same generator give the same numbers.
        scatter: For mixtures, also save the samples over the mode centres to this PNG.

    Returns:
        A flat dict: ``kind``, ``data``, ``step``, ``samples`` and the metrics
        (see the module table). Keys in :data:`LOWER_IS_BETTER` improve
        downwards; :func:`primary_metric` names the one to track.
    """
    trainer.setup()
    dataset = trainer.dataset
    kind = data_kind(dataset)
    n = DEFAULT_N[kind] if n is None else int(n)
    if n < 2:
        raise ConfigError(f"evaluate needs n >= 2 samples (got {n})")
    result: dict[str, Any] = {"kind": kind, "data": dataset.name, "step": int(trainer.step)}
    fake = generate(trainer, n, seed)
    if kind == "mixture":
        result.update(dataset_mixture_metrics(fake, dataset))
        if scatter is not None:
            save_mixture_scatter(fake, dataset, scatter)
        return result
    if kind == "stacked":
        extractor = get_extractor("classifier", _mnist_for(trainer), device=trainer.device)
        result.update(stacked_modes(fake, extractor.predict))
        result["samples"] = n
        result["classifier_accuracy"] = extractor.info.get("holdout_accuracy")
        return result
    real = real_images(dataset, n, seed)
    extractor = get_extractor(feature, dataset, device=trainer.device)
    real_f, fake_f = extractor(real), extractor(fake)
    result["feature"] = feature
    result["samples"] = n
    result["real_samples"] = int(real.shape[0])
    result["fid"] = fid_from_features(real_f, fake_f)
    result["kid"], result["kid_std"] = kid_from_features(real_f, fake_f, seed=seed)
    result.update(precision_recall(real_f, fake_f))
    if dataset.num_classes:
        classify = extractor if extractor.classify_net is not None else get_extractor("classifier", dataset)
        result.update(class_coverage(classify.predict(fake), dataset.num_classes))
        result["classifier_accuracy"] = classify.info.get("holdout_accuracy")
    return result


__all__ = [
    "HIGHER_IS_BETTER",
    "LOWER_IS_BETTER",
    "PRIMARY",
    "data_kind",
    "evaluate",
    "generate",
    "primary_metric",
    "real_images",
]
