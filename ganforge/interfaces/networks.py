"""Networks a plugin brings besides G and D: :class:`Network`.

An encoder (VAE-GAN, AAE), a Q head (InfoGAN), a second generator or discriminator (CycleGAN), a
task classifier: a trick declares them in :meth:`~ganforge.interfaces.Trick.networks` and keeps
using the modules it made. The Trainer moves them to the device, trains them, averages their
gradients across DDP ranks, checkpoints them (weights and optimizer state) and names them in the
run's first line and ``config.json``; a resumed run gets them back exactly.
"""

from __future__ import annotations

from typing import Any

import attrs
from torch import nn

#: Which update a network's parameters are trained in.
PHASES = ("gen", "disc")


def _check_phase(instance: Any, attribute: attrs.Attribute, value: str) -> None:
    if value not in PHASES:
        raise ValueError(f"Network.{attribute.name} must be 'gen' or 'disc', not {value!r}")


@attrs.define(eq=False)
class Network:
    """One further network of a plugin.

    Attributes:
        module: The network (built on the CPU in float32, like G and D).
        phase: The update its loss joins: ``"gen"`` (trained with G, from the
            fakes G's update makes) or ``"disc"`` (with D).
        optimizer: ``"joined"`` (the default) adds its parameters to the
            phase's optimizer as a parameter group, so the phase's loss --
            the adversarial loss plus every term of
            :meth:`~ganforge.interfaces.Trick.network_loss` -- trains it
            together with G (or D); ``"own"`` gives it an optimizer of its own
            that steps on :meth:`~ganforge.interfaces.Trick.network_loss`
            alone (its gradient reaches only its own parameters).
        optim: Settings of an ``"own"`` optimizer (an ``OptimConfig`` or a
            dict of its fields); None: the phase's optimizer settings.
    """

    module: nn.Module
    phase: str = attrs.field(default="gen", validator=_check_phase)
    optimizer: str = attrs.field(default="joined", validator=attrs.validators.in_(("joined", "own")))
    optim: Any = None
