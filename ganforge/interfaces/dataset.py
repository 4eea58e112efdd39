"""Where real samples come from: :class:`Dataset`."""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import Tensor

from ganforge.errors import DataError
from ganforge.interfaces.base import _Named
from ganforge.options import build_options


class Dataset(_Named):
    """A source of real samples.

    Two flavours exist. A *finite* data set (``is_distribution = False``)
    returns all its samples at once from :meth:`load`; the Trainer keeps them
    resident on its device when they fit, or streams them. A *distribution*
    (``is_distribution = True``, e.g. the 2-D Gaussian mixtures) draws fresh
    samples on the device with :meth:`sample`.

    A finite data set too large to hold in memory can also offer its samples
    one at a time (``per_item = True``, :meth:`num_items`, :meth:`load_item`);
    the Trainer then reads them from storage in DataLoader worker processes
    (``data_placement="files"``, chosen automatically when the decoded data
    would take more than half of the free host memory).

    Subclasses accept ``root`` and ``split`` keyword arguments (they may
    ignore them) plus their own options (an ``Options`` class, as for every
    plugin; the base constructor builds ``self.options``).
    """

    is_distribution: ClassVar[bool] = False
    #: True when :meth:`num_items` and :meth:`load_item` read single samples (finite data sets only).
    per_item: ClassVar[bool] = False

    def __init__(self, root: str | None = None, split: str = "train", **options: Any):
        #: The checked options (an instance of the class's ``Options``), or None.
        self.options = build_options(type(self), options)
        self.root = root
        self.split = split

    @property
    def sample_shape(self) -> tuple[int, ...]:  # pragma: no cover
        """Shape of one sample without the batch dimension."""
        raise NotImplementedError

    @property
    def condition_shape(self) -> tuple[int, ...] | None:
        """Shape of what a generator is conditioned on, per sample, or None (the default: no condition).

        A data set for image-to-image GANs offers one: the source image of a
        paired translation, a sample of the other domain of an unpaired one,
        a low-resolution or masked copy. A generator that sets
        :attr:`~ganforge.interfaces.Generator.takes_condition` receives it in
        every call (training, sampling, evaluation), and losses and tricks see
        it as ``LossContext.condition``.
        """
        return None

    @property
    def stored_shape(self) -> tuple[int, ...]:
        """Shape of one row of :meth:`load` / :meth:`load_item`: :attr:`sample_shape` unless the
        condition is stored beside the sample (a paired image set stores both, channels stacked)."""
        return self.sample_shape

    def split_condition(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Split a batch of stored rows into ``(samples, conditions)``.

        ``x`` is ``(B, *stored_shape)``: in model space on the training device
        inside the training step (device work only: it may be captured in a
        CUDA graph), or the stored rows themselves (uint8 pixels) when
        evaluation takes real samples; return both parts in ``x``'s dtype,
        ``(B, *sample_shape)`` and ``(B, *condition_shape)``. Only data sets
        with a :attr:`condition_shape` implement it.
        """
        raise NotImplementedError

    def condition_from(self, images: Tensor) -> Tensor:
        """Conditions from a user's own inputs (``ganforge sample RUN --from DIR``), in model space.

        ``images`` is uint8 ``(N, C, H, W)`` as read from image files, or float
        already in model space. The default maps uint8 to [-1, 1] and checks
        the shape against :attr:`condition_shape`.
        """
        x = images.float().div(127.5).sub(1.0) if images.dtype == torch.uint8 else images.float()
        if self.condition_shape is None or tuple(x.shape[1:]) != tuple(self.condition_shape):
            raise DataError(f"inputs of shape {tuple(x.shape[1:])} do not fit: this run's generator is conditioned "
                            f"on {self.condition_shape}. Give images of that size and channel count.")
        return x

    @property
    def num_classes(self) -> int | None:
        """Number of label classes, or None for unlabelled data."""
        return None

    @property
    def num_attributes(self) -> int | None:
        """For several labels per sample (attributes: smiling, glasses, ...), how many; None (the default) for one
        class label or none.

        A data set that sets it returns labels of shape ``(N, num_attributes)`` from :meth:`load` (0 and 1, any
        dtype) and leaves :attr:`num_classes` None. ``conditional=True`` then gives the models the rows as float
        ``(B, num_attributes)`` labels (models that set ``takes_attributes``), and the fakes' rows are drawn from
        the data's own rows, so the generator learns the attributes' joint distribution as the data has it.
        """
        return None

    @property
    def attribute_names(self) -> tuple[str, ...] | None:
        """Names of the attributes, in the order of the label columns (shown in messages and pictures)."""
        return None

    def load(self) -> tuple[Tensor, Tensor | None]:
        """Finite data sets: return ``(samples, labels)``.

        ``samples`` is ``(N, *sample_shape)``, either uint8 in [0, 255]
        (images; the loader maps them to [-1, 1] on the device) or float
        already in model space. ``labels`` is int64 ``(N,)`` or None. A
        per-item data set need not implement it: by default its items are read
        one by one with :meth:`load_item` and stacked (used when the whole data
        set fits in memory).
        """
        if not self.per_item:  # pragma: no cover  (the contract check refuses such a class at registration)
            raise NotImplementedError
        items = [self.load_item(i) for i in range(self.num_items())]
        samples = torch.stack([torch.as_tensor(x) for x, _ in items])
        labels = None if any(y is None for _, y in items) else torch.tensor([int(y) for _, y in items])
        return samples, labels

    def num_items(self) -> int:  # pragma: no cover
        """Per-item data sets: the number of samples, without reading them."""
        raise NotImplementedError

    def load_item(self, index: int) -> tuple[Tensor, int | None]:  # pragma: no cover
        """Per-item data sets: sample ``index`` (shaped and typed like one row of :meth:`load`) and its label.

        Called in DataLoader worker processes, so it must not rely on state
        that only the main process has.
        """
        raise NotImplementedError

    def sample(self, n: int, device: torch.device | str = "cpu") -> tuple[Tensor, Tensor | None]:  # pragma: no cover
        """Distributions: draw ``n`` samples (float, model space) and labels on ``device``."""
        raise NotImplementedError

    def denormalize(self, x: Tensor) -> Tensor:
        """Map model-space samples back to data units (identity unless the data set rescales)."""
        return x

    def metric_support(self) -> Any:
        """Declare how generators trained on this data set are measured (``ganforge eval``).

        Return a :class:`ganforge.metrics.MetricSupport` naming the metric
        families that fit and supplying what they need, or None (the default)
        to let ganforge infer them from the samples' shape: images
        ``(C, H, W)`` get ``"image"`` (FID, KID, precision/recall,
        density/coverage), plus ``"classes"`` when labelled; vectors ``(D,)``
        get ``"points"`` (the same distances on the data's own coordinates).
        The builtin data sets declare theirs through this method too.
        ``MetricSupport`` is imported from ``ganforge.metrics`` (at the top of
        a plugin's module, like any other name). It is called when metrics are
        listed or computed, so it must be cheap: a classifier is supplied as a
        function that builds it (``ganforge.metrics.domain_classifier`` gives
        ganforge's own for a labelled image data set).

        Example::

            from ganforge.metrics import MetricSupport

            def metric_support(self):
                return MetricSupport(metrics=("mixture", "points"), modes=self.centres, mode_std=0.05,
                                     reference=self.reference_points)

        Returns:
            A ``MetricSupport``, or None to infer one.
        """
        return None
