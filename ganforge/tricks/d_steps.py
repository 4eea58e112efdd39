"""ganhacks #14: train the discriminator more than the generator."""

from __future__ import annotations

from typing import Any

from ganforge.interfaces import Trick
from ganforge.options import integer, option, options


class DSteps(Trick):
    """k discriminator updates per generator update, each on a fresh real batch (ganhacks #14).

    ganhacks #14 (marked "notsure" there) suggests training D more, while
    noting that a good schedule of D versus G iterations is hard to find;
    WGAN (Arjovsky et al. 2017) uses 5 critic updates per generator update.
    The trick sets :attr:`d_steps`; the training step then draws ``k`` real
    batches, runs the generator update and the first D update on the first
    one (with the generator's fakes), and one more D update per further
    batch, each with freshly generated fakes. The logged ``d_loss`` is the mean
    over the ``k`` updates.

    Options:
        k: Discriminator updates per generator update, default 2 (our choice;
            ganhacks gives no number).
    """

    name = "d_steps"
    description = "k discriminator updates (default 2) per generator update, each on a fresh real batch"
    ganhacks = 14

    @options
    class Options:
        k: int = option(2, validator=integer(1), help="Discriminator updates per generator update.")

    def __init__(self, **options: Any):
        super().__init__(**options)
        self.d_steps = self.options.k
