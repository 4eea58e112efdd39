"""Measuring what a GAN produces.

Each data set declares the metric families that fit it
(:meth:`ganforge.interfaces.Dataset.metric_support`, a
:class:`MetricSupport`), or has them inferred from its samples' shape;
:func:`evaluate` computes them:

=================  ===========================================================  =================
family             metrics                                                      primary (lower)
=================  ===========================================================  =================
``mixture``        modes, hq_percent, reverse_kl (PacGAN/VEEGAN)                ``reverse_kl``
``points``         fid, kid, precision, recall, density, coverage (coordinates) ``fid``
``image``          fid, kid, precision, recall, density, coverage (+ IS)        ``fid``
``classes``        classes, class_kl                                            ``class_kl``
``stacked``        stacked_modes (of 1,000), stacked_kl (PacGAN Table 2)        ``stacked_kl``
=================  ===========================================================  =================

Builtins: ``grid25`` and ``ring8`` declare ``mixture``; ``mnist``,
``fashion-mnist``, ``cifar10`` and labelled ``image-folder`` data
``image`` + ``classes``; ``stacked-mnist`` ``stacked``.

Every key in :data:`LOWER_IS_BETTER` improves downwards, every key in
:data:`HIGHER_IS_BETTER` upwards. :func:`primary_metric` names the one
number to track or select checkpoints by; it is always lower-is-better.
:func:`measured_metrics` lists what :func:`evaluate` reports for a data set
without generating anything. The pieces live in submodules:
:mod:`~ganforge.metrics.mixture`, :mod:`~ganforge.metrics.frechet` (FID,
KID), :mod:`~ganforge.metrics.manifold` (precision/recall,
density/coverage), :mod:`~ganforge.metrics.inception_score`,
:mod:`~ganforge.metrics.coverage`, :mod:`~ganforge.metrics.features`,
:mod:`~ganforge.metrics.classifier`, :mod:`~ganforge.metrics.reference`
(statistics files and their cache), :mod:`~ganforge.metrics.sampling`,
:mod:`~ganforge.metrics.spaces` and :mod:`~ganforge.metrics.scatter`.
"""

from __future__ import annotations

from typing import Any

from ganforge.metrics.features import ClassPredictor, domain_classifier, extractor_info
from ganforge.metrics.measure import DEFAULT_N, evaluate
from ganforge.metrics.sampling import (
    generate,
    generate_with_labels,
    real_images,
    samples_as_data,
    save_samples_data,
)
from ganforge.metrics.spaces import as_trained, from_trained, to_data_units
from ganforge.metrics.support import (
    FAMILY_METRICS,
    HIGHER_IS_BETTER,
    LOWER_IS_BETTER,
    PRIMARY,
    SAMPLE_METRICS,
    MetricSupport,
    support_for,
)


def data_kind(dataset: Any) -> str:
    """The first metric family of ``dataset`` (``"mixture"``, ``"points"``, ``"image"``, ``"stacked"`` ...)."""
    return support_for(dataset).kind


def measured_metrics(dataset: Any, feature: str = "classifier", reference: bool = False) -> list[str]:
    """The metrics :func:`evaluate` reports for ``dataset``, in report order, without generating anything.

    Only metric keys (those in :data:`LOWER_IS_BETTER` or
    :data:`HIGHER_IS_BETTER`) are listed, not counts or spreads.

    Args:
        dataset: A data set instance (e.g. ``Trainer.dataset`` or one from the registry).
        feature: The feature extractor the image metrics would use (the
            Inception Score is reported only by extractors with logits, such as
            ``"inception"``).
        reference: True when FID is computed against a statistics file
            (``--reference``), which leaves out the metrics that need real features.
    """
    support = support_for(dataset)
    names: list[str] = []
    for family in support.metrics:
        for metric in FAMILY_METRICS[family]:
            if family == "image" and reference and metric in SAMPLE_METRICS:
                continue
            if metric not in names:
                names.append(metric)
        if family == "image" and extractor_info(feature).inception_score:
            names.append("inception_score")
    return names


def primary_metric(trainer: Any) -> str:
    """The key of :func:`evaluate`'s result to track for ``trainer``'s data (lower is better)."""
    trainer.setup()
    return support_for(trainer.dataset).primary_metric()


__all__ = [
    "DEFAULT_N",
    "FAMILY_METRICS",
    "HIGHER_IS_BETTER",
    "LOWER_IS_BETTER",
    "PRIMARY",
    "ClassPredictor",
    "MetricSupport",
    "as_trained",
    "data_kind",
    "domain_classifier",
    "evaluate",
    "from_trained",
    "generate",
    "generate_with_labels",
    "measured_metrics",
    "primary_metric",
    "real_images",
    "samples_as_data",
    "save_samples_data",
    "support_for",
    "to_data_units",
]
