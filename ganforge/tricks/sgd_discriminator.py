"""ganhacks #9: SGD for the discriminator, Adam for the generator."""

from __future__ import annotations

from typing import Any

import attrs

from ganforge.errors import ConfigError
from ganforge.interfaces import Trick


class SGDDiscriminator(Trick):
    """Train D with SGD while G keeps Adam (ganhacks #9).

    Uses the ``adjust_optimizer`` event: the discriminator's optimizer
    settings become ``sgd`` with this trick's ``lr`` and ``momentum`` (its
    weight decay is kept); the generator's settings are left as configured
    (Adam by default).

    Options:
        lr: D's SGD learning rate, default 0.01. ganhacks gives no number.
            Plain SGD steps are the raw gradient times ``lr``, while Adam's
            steps are about ``lr`` per weight whatever the gradient's size, so
            SGD needs a larger rate than Adam's 2e-4; 0.01 is our choice (see
            docs/tricks.md for the measurement behind it).
        momentum: SGD momentum, default 0.9 (our choice).
    """

    name = "sgd_discriminator"
    description = "D trained with SGD (lr 0.01, momentum 0.9), G stays on Adam"
    ganhacks = 9

    def __init__(self, lr: float = 0.01, momentum: float = 0.9):
        if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not lr > 0:
            raise ConfigError(f"'lr' must be a number > 0 (got {lr!r})")
        if isinstance(momentum, bool) or not isinstance(momentum, (int, float)) or not 0 <= momentum < 1:
            raise ConfigError(f"'momentum' must be a number in [0, 1) (got {momentum!r})")
        self.lr, self.momentum = float(lr), float(momentum)

    def adjust_optimizer(self, net: str, config: Any) -> Any:
        if net != "disc":
            return config
        return attrs.evolve(config, name="sgd", lr=self.lr, momentum=self.momentum)
