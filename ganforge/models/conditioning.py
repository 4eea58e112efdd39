"""Ways for a model to use class labels other than as inputs: conditional batch norm and projection.

* :class:`ConditionalBatchNorm2d` (de Vries et al. 2017, "Modulating early
  visual processing by language"; used for class labels in G by Miyato and
  Koyama 2018): batch normalisation without its own scale and shift, followed
  by a gain and a bias looked up per class.
* :class:`Projection` (Miyato and Koyama 2018, "cGANs with projection
  discriminator"): the class term of a projection discriminator's logit,
  ``<embed(y), phi(x)>``, added to the unconditional ``linear(phi(x))``.
* :func:`label_encoder`: the input embedding of labels, class indices or
  attribute rows (several labels per sample).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn


class ConditionalBatchNorm2d(nn.Module):
    """Batch normalisation with a per-class gain and bias: ``gain[y] * BN(x) + bias[y]``.

    The normalisation itself (running statistics, eps, momentum) is an
    ``nn.BatchNorm2d`` without affine parameters; the gains start at 1 and
    the biases at 0, so before training every class is treated alike.

    Args:
        num_features: Channels ``C`` of the ``(B, C, H, W)`` input.
        num_classes: Number of classes (rows of the gain and bias tables).
        eps: BatchNorm epsilon, default 1e-5.
        momentum: BatchNorm momentum for the running statistics, default 0.1.
    """

    def __init__(self, num_features: int, num_classes: int, eps: float = 1e-5, momentum: float = 0.1):
        super().__init__()
        self.norm = nn.BatchNorm2d(num_features, eps=eps, momentum=momentum, affine=False)
        #: Per-class gains, ``(num_classes, C)``; start at 1.
        self.gain = nn.Embedding(num_classes, num_features)
        #: Per-class biases, ``(num_classes, C)``; start at 0.
        self.bias = nn.Embedding(num_classes, num_features)
        nn.init.ones_(self.gain.weight)
        nn.init.zeros_(self.bias.weight)

    def forward(self, x: Tensor, labels: Tensor) -> Tensor:
        """Normalise ``x`` ``(B, C, H, W)`` and apply the gains and biases of ``labels`` ``(B,)`` (int64)."""
        h = self.norm(x)
        gain = self.gain(labels).to(h.dtype)[:, :, None, None]
        bias = self.bias(labels).to(h.dtype)[:, :, None, None]
        return torch.addcmul(bias, gain, h)


class Projection(nn.Module):
    """The class term of a projection discriminator: ``<embed(y), phi>`` per sample.

    The discriminator's logit is ``head(phi) + Projection(phi, y)``, where
    ``phi`` is its feature vector: the inner product with a learned class
    embedding replaces feeding the label in as an input (Miyato and Koyama
    2018 derive it from the form of the optimal discriminator's log density
    ratio for a class-conditional model).

    Args:
        num_classes: Number of classes.
        num_features: Width ``F`` of ``phi``.
        init_std: Standard deviation of the initial embedding (normal, mean 0);
            None (default) for Xavier-uniform initialisation.
    """

    def __init__(self, num_classes: int, num_features: int, init_std: float | None = None,
                 attributes: bool = False):
        super().__init__()
        #: The class embedding ``(num_classes, F)`` (with ``attributes``: a linear map of the attribute rows).
        self.embed = nn.Linear(num_classes, num_features, bias=False) if attributes else nn.Embedding(
            num_classes, num_features)
        if init_std is None:
            nn.init.xavier_uniform_(self.embed.weight)
        else:
            nn.init.normal_(self.embed.weight, 0.0, init_std)

    def forward(self, features: Tensor, labels: Tensor) -> Tensor:
        """``(B,)``: each row of ``features`` ``(B, F)`` dotted with its class's embedding (or its attribute
        row's image under the linear map)."""
        return (self.embed(labels).to(features.dtype) * features).sum(dim=1)


def label_encoder(spec: Any, width: int) -> nn.Module:
    """The layer that turns a conditional model's labels into ``(B, width)`` vectors.

    Class indices (``spec.num_classes``): an ``nn.Embedding`` (one learned vector per class). Attribute rows
    (``spec.num_attributes``, float ``(B, k)`` of 0 and 1): a bias-free ``nn.Linear(k, width)``, the sum of one
    learned vector per attribute that is on -- the embedding's generalisation to several labels per sample.
    """
    if spec.num_attributes is not None:
        return nn.Linear(spec.num_attributes, width, bias=False)
    return nn.Embedding(spec.num_classes, width)


def label_count(spec: Any) -> int:
    """The classes, or the attributes, a conditional model's labels range over."""
    return int(spec.num_classes if spec.num_classes is not None else spec.num_attributes)
