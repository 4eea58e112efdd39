"""ganhacks #9: SGD for the discriminator, Adam for the generator."""

from __future__ import annotations

from typing import TYPE_CHECKING

import attrs

from ganforge.interfaces import Trick
from ganforge.options import number, option, options

if TYPE_CHECKING:  # pragma: no cover
    from ganforge.config import OptimConfig


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

    @options
    class Options:
        lr: float = option(0.01, validator=number(0.0, low_open=True), help="D's SGD learning rate.")
        momentum: float = option(0.9, validator=number(0.0, 1.0, high_open=True), help="D's SGD momentum, in [0, 1).")

    def adjust_optimizer(self, net: str, config: OptimConfig) -> OptimConfig:
        if net != "disc":
            return config
        return attrs.evolve(config, name="sgd", lr=float(self.options.lr), momentum=float(self.options.momentum))
