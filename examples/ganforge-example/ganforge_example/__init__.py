"""ganforge-example: one module of hook implementations, one per plugin kind.

ganforge imports this module through the entry point ``example`` declared in
``pyproject.toml`` and calls each ``ganforge_register_*`` function once when
it builds its registry. Each returns the classes to register; their ``name``
class attributes are the names users select them by.
"""

from __future__ import annotations

import ganforge
from ganforge_example.data import Spiral
from ganforge_example.losses import HingeGradientPenalty, HingeLoss, LeastSquaresLoss
from ganforge_example.models import ResMLPDiscriminator, ResMLPGenerator
from ganforge_example.tricks import ClipWeights, WeightAverage

__version__ = "0.1.0"


@ganforge.hookimpl
def ganforge_register_generators():
    """The generators of this distribution."""
    return [ResMLPGenerator]


@ganforge.hookimpl
def ganforge_register_discriminators():
    """The discriminators of this distribution."""
    return [ResMLPDiscriminator]


@ganforge.hookimpl
def ganforge_register_losses():
    """The losses of this distribution."""
    return [HingeLoss, LeastSquaresLoss, HingeGradientPenalty]


@ganforge.hookimpl
def ganforge_register_tricks():
    """The tricks of this distribution."""
    return [ClipWeights, WeightAverage]


@ganforge.hookimpl
def ganforge_register_datasets():
    """The data sets of this distribution."""
    return [Spiral]
