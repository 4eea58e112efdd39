"""What a data set declares about how it is measured: the metric families that fit it and what they need.

A data set returns a :class:`MetricSupport` from
:meth:`~ganforge.interfaces.Dataset.metric_support`; the builtin data sets
do, and so can any plugin. A data set that returns None (the default) gets
one inferred from its samples' shape by :func:`infer_support`.

Families and the metrics each reports (see ``docs/metrics.md``):

===========  ================================================  ==============================
family       metrics                                           needs
===========  ================================================  ==============================
``mixture``  ``modes``, ``hq_percent``, ``reverse_kl``         ``modes`` and ``mode_std``
``points``   ``fid``, ``kid``, ``precision``, ``recall``,      real points (``reference``, or
             ``density``, ``coverage`` on the coordinates      the data set's own samples)
``image``    the same on image features (plus                  real images, a feature
             ``inception_score`` with ``inception``)           extractor
``classes``  ``classes``, ``class_kl``                         a classifier (default: the
                                                               domain classifier)
``stacked``  ``stacked_modes``, ``stacked_kl``                 a one-channel digit classifier
                                                               (default: MNIST's)
===========  ================================================  ==============================
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import attrs
import torch
from torch import Tensor

from ganforge.errors import DataError, PluginError

#: The metrics each family reports, in report order (keys of :func:`ganforge.metrics.evaluate`'s result).
FAMILY_METRICS: dict[str, tuple[str, ...]] = {
    "mixture": ("modes", "hq_percent", "reverse_kl"),
    "points": ("fid", "kid", "precision", "recall", "density", "coverage"),
    "image": ("fid", "kid", "precision", "recall", "density", "coverage"),
    "classes": ("classes", "class_kl"),
    "stacked": ("stacked_modes", "stacked_kl"),
}
#: The primary (lower-is-better) metric of each family; the first declared family's is the data set's.
PRIMARY: dict[str, str] = {
    "mixture": "reverse_kl", "points": "fid", "image": "fid", "classes": "class_kl", "stacked": "stacked_kl",
}
#: Metrics where a smaller value is better.
LOWER_IS_BETTER = frozenset({"reverse_kl", "fid", "kid", "class_kl", "stacked_kl"})
#: Metrics where a larger value is better.
HIGHER_IS_BETTER = frozenset({"modes", "hq_percent", "precision", "recall", "density", "coverage", "classes",
                              "stacked_modes", "inception_score"})
#: Metrics of the ``image`` family that need the real images' features, not only their mean and covariance.
SAMPLE_METRICS = ("kid", "precision", "recall", "density", "coverage")


@attrs.frozen(kw_only=True, eq=False)
class MetricSupport:
    """A data set's declaration of the metrics that fit it and what they need.

    Attributes:
        metrics: Metric families, e.g. ``("mixture",)`` or ``("image", "classes")``;
            the first one's primary metric is the data set's (see the module table).
        modes: ``"mixture"``: mode centres ``(K, D)`` in data units.
        mode_std: ``"mixture"``: standard deviation of each mode, data units; a
            sample is high quality within 3 of them of its nearest centre.
        reference: Draws real samples in data units for 2-D scatter plots and the
            ``"points"`` metrics: ``reference(n, generator)`` returns ``(n, D)``
            using only the ``torch.Generator`` given (so evaluations repeat).
            Default: the data set's own samples.
        classifier: ``"classes"`` and ``"stacked"``: a function of no arguments
            that builds the classifier (called only when measuring). The classifier
            maps samples ``(N, *sample_shape)`` in the data set's model space
            (``"stacked"``: one channel ``(N, 1, H, W)``) to class indices ``(N,)``;
            an ``accuracy`` attribute, when present, is reported as
            ``classifier_accuracy``. Default: the domain classifier trained on the
            data set (MNIST's for ``"stacked"``).
        primary: The metric to track and select checkpoints by, one the declared
            families report and lower-is-better; default the first family's.
    """

    metrics: tuple[str, ...] = attrs.field(converter=tuple)
    modes: Tensor | None = None
    mode_std: float | None = None
    reference: Callable[[int, torch.Generator], Tensor] | None = None
    classifier: Callable[[], Callable[[Tensor], Tensor]] | None = None
    primary: str | None = None

    @property
    def kind(self) -> str:
        """The first declared family (reported as ``kind``)."""
        return self.metrics[0]

    def primary_metric(self) -> str:
        """``primary``, or the first family's primary metric."""
        return self.primary or PRIMARY[self.metrics[0]]


def infer_support(dataset: Any) -> MetricSupport | None:
    """The support of a data set that declares none, from its samples' shape; None when nothing fits.

    2-D distributions with ``modes`` and ``std`` attributes get ``"mixture"``;
    3-channel images named ``*stacked*`` get ``"stacked"``; images
    ``(C, H, W)`` get ``"image"`` (and ``"classes"`` when labelled); vectors
    ``(D,)`` get ``"points"``.
    """
    shape = tuple(dataset.sample_shape)
    if getattr(dataset, "is_distribution", False) and hasattr(dataset, "modes") and hasattr(dataset, "std"):
        return MetricSupport(metrics=("mixture",), modes=dataset.modes, mode_std=float(dataset.std))
    if len(shape) == 3 and shape[0] == 3 and "stacked" in dataset.name:
        return MetricSupport(metrics=("stacked",))
    if len(shape) == 3:
        labelled = getattr(dataset, "num_classes", None) is not None
        return MetricSupport(metrics=("image", "classes") if labelled else ("image",))
    if len(shape) == 1:
        return MetricSupport(metrics=("points",))
    return None


def _check(support: Any, dataset: Any) -> MetricSupport:
    where = f"Data set '{dataset.name}' ({type(dataset).__name__}.metric_support)"
    if not isinstance(support, MetricSupport):
        raise PluginError(f"{where} returned {type(support).__name__}, not a ganforge.metrics.MetricSupport or None.")
    known = ", ".join(FAMILY_METRICS)
    if not support.metrics:
        raise PluginError(f"{where} declares no metric families; name at least one of {known}.")
    for family in support.metrics:
        if family not in FAMILY_METRICS:
            raise PluginError(f"{where} declares unknown metric family {family!r}; known: {known}.")
    if len(set(support.metrics)) != len(support.metrics) or {"points", "image"} <= set(support.metrics):
        raise PluginError(f"{where} declares {support.metrics}: name each family once, and not both 'points' "
                          "and 'image' (both report fid).")
    shape = tuple(dataset.sample_shape)
    if "image" in support.metrics and len(shape) != 3:
        raise PluginError(f"{where} declares 'image' metrics for samples of shape {shape}; they need (C, H, W).")
    if "points" in support.metrics and len(shape) != 1:
        raise PluginError(f"{where} declares 'points' metrics for samples of shape {shape}; they need (D,).")
    if "stacked" in support.metrics and (len(shape) != 3 or shape[0] != 3):
        raise PluginError(f"{where} declares 'stacked' metrics for samples of shape {shape}; they need (3, H, W).")
    if "classes" in support.metrics and not getattr(dataset, "num_classes", None):
        raise PluginError(f"{where} declares 'classes' metrics but has no labels (num_classes is None).")
    if "mixture" in support.metrics:
        modes = support.modes
        if not isinstance(modes, Tensor) or modes.ndim != 2 or modes.shape[0] < 1:
            raise PluginError(f"{where} declares 'mixture' metrics without mode centres: pass modes=, a (K, D) "
                              "tensor in data units.")
        std = support.mode_std
        if isinstance(std, bool) or not isinstance(std, (int, float)) or not 0 < std < float("inf"):
            raise PluginError(f"{where} declares 'mixture' metrics with mode_std={std!r}; pass the modes' "
                              "standard deviation in data units, a number > 0.")
    for field in ("reference", "classifier"):
        value = getattr(support, field)
        if value is not None and not callable(value):
            raise PluginError(f"{where}: {field}= must be a function (got {type(value).__name__}).")
    if support.primary is not None:
        reported = [m for family in support.metrics for m in FAMILY_METRICS[family]]
        if support.primary not in reported or support.primary not in LOWER_IS_BETTER:
            choices = ", ".join(m for m in reported if m in LOWER_IS_BETTER)
            raise PluginError(f"{where}: primary={support.primary!r} must be a lower-is-better metric its "
                              f"families report: {choices}.")
    return support


def support_for(dataset: Any) -> MetricSupport:
    """The checked :class:`MetricSupport` of ``dataset``: its declaration, else the inferred one.

    Raises:
        PluginError: when the declaration is malformed (naming the data set and what to fix).
        DataError: when nothing is declared and no metric fits the samples' shape.
    """
    declare = getattr(dataset, "metric_support", None)
    support = declare() if callable(declare) else None
    if support is None:
        support = infer_support(dataset)
    if support is None:
        raise DataError(
            f"No metrics fit data set '{dataset.name}' (samples of shape {tuple(dataset.sample_shape)}): ganforge "
            "infers them for images (C, H, W) and vectors (D,). Declare the ones that fit in the data set's "
            "metric_support() (docs/datasets.md, 'Declaring metrics')."
        )
    return _check(support, dataset)


__all__ = [
    "FAMILY_METRICS",
    "HIGHER_IS_BETTER",
    "LOWER_IS_BETTER",
    "PRIMARY",
    "SAMPLE_METRICS",
    "MetricSupport",
    "infer_support",
    "support_for",
]
