"""ganhacks #2: train the generator with flipped labels (fakes labelled real)."""

from __future__ import annotations

from torch import Tensor

from ganforge.interfaces import Loss, Trick


class FlipLabels(Trick):
    """Train G on the discriminator's own criterion with the fakes labelled real (ganhacks #2).

    The generator's loss becomes ``loss.criterion(fake_logits, real_targets)``:
    G is trained to make D classify its fakes as real, instead of to make D's
    loss on them large. With the ``minimax`` loss this replaces
    ``min log(1 - D(G(z)))``, whose gradient vanishes while D rejects the
    fakes confidently, by ``max log D(G(z))``: the non-saturating objective of
    Goodfellow et al. 2014, section 3, identical to the ``bce`` loss's
    generator term. With ``bce`` it changes nothing. The discriminator's
    loss is untouched.

    Uses the ``generator_loss`` event (the first trick in the list that
    replaces the generator loss wins) and the loss's ``criterion``, so it
    needs a loss built on targets (``uses_targets``; not hinge or wgan).

    Options: none.
    """

    name = "flip_labels"
    description = "G minimises D's criterion on fakes labelled real (non-saturating G loss)"
    ganhacks = 2
    uses_targets = True

    def generator_loss(self, loss: Loss, fake_logits: Tensor, real_targets: Tensor, fake_targets: Tensor) -> Tensor:
        return loss.criterion(fake_logits, real_targets[: fake_logits.shape[0]])
