"""ganhacks #12: an auxiliary classifier on the discriminator (AC-GAN, Odena et al. 2017)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ganforge.errors import ConfigError
from ganforge.interfaces import Discriminator, Generator, LossContext, Trick
from ganforge.options import boolean, number, option, options
from ganforge.tricks._layers import feature_size

if TYPE_CHECKING:  # pragma: no cover
    from ganforge.interfaces import TrickContext


def blind_labels(module: nn.Module, args: tuple[Any, ...],
                 kwargs: dict[str, Any]) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """A forward pre-hook that hands a discriminator class 0 for every sample instead of the real labels.

    Whatever the discriminator does with its labels (an embedding concatenated
    to the input, a label map, a projection in ``forward``), its output then
    cannot depend on them. Labels arrive as the second positional argument or
    as the keyword ``labels``; both are replaced (on the device, so the step
    stays capturable).
    """
    if len(args) > 1 and args[1] is not None:
        args = (args[0], torch.zeros_like(args[1]), *args[2:])
    if kwargs.get("labels") is not None:
        kwargs = {**kwargs, "labels": torch.zeros_like(kwargs["labels"])}
    return args, kwargs


class AuxiliaryClassifier(Trick):
    """AC-GAN: D also predicts the class of every sample; G is rewarded for class-recognisable fakes (ganhacks #12).

    Following Odena et al. 2017 ("Conditional image synthesis with auxiliary
    classifier GANs"), :meth:`modify_models` adds ``disc.aux_head``, a linear
    layer from D's features to one logit per class (its parameters join D's
    optimizer). D's loss gains the cross-entropy of the class head on the
    real batch and (``fake_loss``) on the fake batch with the labels they were
    generated for; G's loss gains the cross-entropy on its fakes. In AC-GAN
    only G is conditioned on the label; D must infer it. So by default the
    trick blinds D, whatever its class: a forward pre-hook
    (:func:`blind_labels`) hands it class 0 for every sample, so its output
    cannot depend on the labels; ``disc_sees_labels=True`` keeps them.

    The class head runs on ``disc.features`` of the (undetached or detached)
    batch in the ``extra_loss`` event: one extra feature pass of D per update
    (blinded the same way). Instance noise or other ``disc_input`` transforms
    are not applied to it. A discriminator without ``features`` (one that
    overrides only ``forward``) is refused.

    Logged every interval: ``aux_d_loss`` (mean class cross-entropy in D's
    updates, real and fake averaged), ``aux_g_loss`` (in G's updates) and
    ``aux_real_acc`` (class-head accuracy on real batches).

    Options:
        weight: Factor on the class loss in both networks, default 1.0
            (AC-GAN weighs the two terms equally).
        fake_loss: Include the class loss on fakes in D's loss, default True (AC-GAN).
        disc_sees_labels: Keep D's label input, default False (AC-GAN's D sees none).
    """

    name = "auxiliary_classifier"
    description = "AC-GAN: a class head on D; class cross-entropy added to D's and G's losses"
    ganhacks = 12
    requires_labels = True

    @options
    class Options:
        weight: float = option(1.0, validator=number(0.0, low_open=True), schedulable=True,
                               help="Factor on the class loss in both networks.")
        fake_loss: bool = option(True, validator=boolean(), help="Include the class loss on fakes in D's loss.")
        disc_sees_labels: bool = option(False, validator=boolean(),
                                        help="Keep D's label input (AC-GAN's D sees none).")

    def __init__(self, **options: Any):
        super().__init__(**options)
        self.disc: Discriminator | None = None
        # Sums since the last log: [D class loss, D updates, G class loss, G updates, correct real, real seen].
        self.stats = torch.zeros(6)

    def modify_models(self, gen: Generator, disc: Discriminator) -> tuple[Generator, Discriminator]:
        if disc.spec.num_classes is None:
            raise ConfigError("auxiliary_classifier needs conditional=True (--conditional) and a labelled data set.")
        width = feature_size(disc, self.name)
        if not self.options.disc_sees_labels:
            disc.register_forward_pre_hook(blind_labels, with_kwargs=True)
        disc.aux_head = nn.Linear(width, disc.spec.num_classes)
        self.disc = disc
        return gen, disc

    def setup(self, ctx: TrickContext) -> None:
        self.stats = torch.zeros(6, device=ctx.device)

    def class_logits(self, x: Tensor, labels: Tensor) -> Tensor:
        """The class head's logits ``(B, num_classes)`` for samples ``x`` (D blinded unless ``disc_sees_labels``)."""
        seen = labels if self.options.disc_sees_labels else torch.zeros_like(labels)
        return self.disc.aux_head(self.disc.features(x, seen)).float()

    def extra_loss(self, net: str, batch: LossContext) -> Tensor | None:
        if batch.fake_labels is None or self.disc is None:
            return None
        if net == "gen":
            loss = F.cross_entropy(self.class_logits(batch.fake, batch.fake_labels), batch.fake_labels)
            self.stats[2:4] += torch.stack([loss.detach(), loss.new_ones(())])
            return self.options.weight * loss
        real_logits = self.class_logits(batch.real, batch.real_labels)
        loss = F.cross_entropy(real_logits, batch.real_labels)
        if self.options.fake_loss:
            fake_loss = F.cross_entropy(self.class_logits(batch.fake, batch.fake_labels), batch.fake_labels)
            loss = loss + fake_loss
        correct = (real_logits.argmax(1) == batch.real_labels).sum().float()
        seen = loss.new_full((), float(batch.real_labels.shape[0]))
        mean = loss.detach() / (2 if self.options.fake_loss else 1)
        # Slices, not index lists: no host-to-device copy inside a CUDA-graph capture.
        self.stats[0:2] += torch.stack([mean, loss.new_ones(())])
        self.stats[4:6] += torch.stack([correct, seen])
        return self.options.weight * loss

    def on_log(self, ctx: TrickContext, step: int, values: dict[str, float]) -> dict[str, float]:
        d_sum, d_n, g_sum, g_n, correct, seen = self.stats.tolist()
        self.stats.zero_()
        out = {}
        if d_n:
            out["aux_d_loss"] = d_sum / d_n
            out["aux_real_acc"] = correct / seen
        if g_n:
            out["aux_g_loss"] = g_sum / g_n
        return out
