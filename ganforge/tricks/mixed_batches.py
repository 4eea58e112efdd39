"""ganhacks #4: the contrast to "construct different mini-batches for real and fake"."""

from __future__ import annotations

from ganforge.interfaces import Trick


class MixedBatches(Trick):
    """Show D one batch holding the real and the fake samples together (the contrast to ganhacks #4).

    ganhacks #4 advises separate mini-batches, all real or all fake, which is
    what ganforge does by default. This trick switches to the alternative:
    the B real and B fake samples are concatenated into one batch of 2B that
    goes through D in a single forward pass, so batch statistics (batch norm,
    minibatch discrimination) are computed over a mix of both. Use it to
    compare against the default.

    It sets :attr:`~ganforge.interfaces.Trick.mixed_batches`, which the
    training step reads. Conflicts with ``pack``, which needs pure batches.

    Options: none.
    """

    name = "mixed_batches"
    description = "D sees real and fake samples in one mixed batch (contrast to ganhacks #4)"
    ganhacks = 4
    mixed_batches = True
    conflicts = ("pack",)
