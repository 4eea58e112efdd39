"""ganhacks #12: an auxiliary classifier on the discriminator (AC-GAN, Odena et al. 2017)."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ganforge.errors import ConfigError
from ganforge.interfaces import Discriminator, Generator, StepBatch, Trick
from ganforge.tricks.label_embedding import label_modules
from ganforge.tricks.minibatch_discrimination import feature_size


class ZeroLabelEmbedding(nn.Module):
    """Stands in for a discriminator's label embedding and returns zeros: D no longer sees the label.

    Args:
        out_dim: Width of the replaced embedding's output.
    """

    def __init__(self, out_dim: int):
        super().__init__()
        self.embedding_dim = int(out_dim)

    def forward(self, labels: Tensor) -> Tensor:
        return torch.zeros(labels.shape[0], self.embedding_dim, device=labels.device)


class AuxiliaryClassifier(Trick):
    """AC-GAN: D also predicts the class of every sample; G is rewarded for class-recognisable fakes (ganhacks #12).

    Following Odena et al. 2017 ("Conditional image synthesis with auxiliary
    classifier GANs"), :meth:`modify_models` adds ``disc.aux_head``, a linear
    layer from D's features to one logit per class (its parameters join D's
    optimizer). D's loss gains the cross-entropy of the class head on the
    real batch and (``fake_loss``) on the fake batch with the labels they were
    generated for; G's loss gains the cross-entropy on its fakes. In AC-GAN
    only G is conditioned on the label; D must infer it. So by default the
    trick replaces D's label embedding (``label_embedding``/``label_map``)
    with :class:`ZeroLabelEmbedding`; ``disc_sees_labels=True`` keeps it.

    The class head runs on ``disc.features`` of the (undetached or detached)
    batch in the ``extra_loss`` event: one extra feature pass of D per update.
    Instance noise or other ``disc_input`` transforms are not applied to it.

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

    def __init__(self, weight: float = 1.0, fake_loss: bool = True, disc_sees_labels: bool = False):
        if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not weight > 0:
            raise ConfigError(f"'weight' must be a number > 0 (got {weight!r})")
        for option, value in (("fake_loss", fake_loss), ("disc_sees_labels", disc_sees_labels)):
            if not isinstance(value, bool):
                raise ConfigError(f"{option!r} must be true or false (got {value!r})")
        self.weight = float(weight)
        self.fake_loss = fake_loss
        self.disc_sees_labels = disc_sees_labels
        self.disc: Discriminator | None = None
        # Sums since the last log: [D class loss, D updates, G class loss, G updates, correct real, real seen].
        self.stats = torch.zeros(6)

    def modify_models(self, gen: Generator, disc: Discriminator) -> tuple[Generator, Discriminator]:
        if disc.spec.num_classes is None:
            raise ConfigError("auxiliary_classifier needs conditional=True (--conditional) and a labelled data set.")
        if not self.disc_sees_labels:
            for attr, module in label_modules(disc):
                width = getattr(module, "embedding_dim", None)
                if width is None:
                    raise ConfigError(
                        f"auxiliary_classifier: cannot blind discriminator '{disc.name}'.{attr} (no "
                        "embedding_dim); set auxiliary_classifier.disc_sees_labels=true."
                    )
                setattr(disc, attr, ZeroLabelEmbedding(width))
        disc.aux_head = nn.Linear(feature_size(disc), disc.spec.num_classes)
        self.disc = disc
        return gen, disc

    def setup(self, trainer: Any) -> None:
        self.stats = torch.zeros(6, device=trainer.device)

    def class_logits(self, x: Tensor, labels: Tensor) -> Tensor:
        """The class head's logits ``(B, num_classes)`` for samples ``x``."""
        return self.disc.aux_head(self.disc.features(x, labels)).float()

    def extra_loss(self, net: str, batch: StepBatch) -> Tensor | None:
        if batch.fake_labels is None or self.disc is None:
            return None
        if net == "gen":
            loss = F.cross_entropy(self.class_logits(batch.fake, batch.fake_labels), batch.fake_labels)
            self.stats[2:4] += torch.stack([loss.detach(), loss.new_ones(())])
            return self.weight * loss
        real_logits = self.class_logits(batch.real, batch.real_labels)
        loss = F.cross_entropy(real_logits, batch.real_labels)
        if self.fake_loss:
            fake_loss = F.cross_entropy(self.class_logits(batch.fake, batch.fake_labels), batch.fake_labels)
            loss = loss + fake_loss
        correct = (real_logits.argmax(1) == batch.real_labels).sum().float()
        seen = loss.new_full((), float(batch.real_labels.shape[0]))
        mean = loss.detach() / (2 if self.fake_loss else 1)
        # Slices, not index lists: no host-to-device copy inside a CUDA-graph capture.
        self.stats[0:2] += torch.stack([mean, loss.new_ones(())])
        self.stats[4:6] += torch.stack([correct, seen])
        return self.weight * loss

    def on_log(self, trainer: Any, step: int, values: dict[str, float]) -> dict[str, float]:
        d_sum, d_n, g_sum, g_n, correct, seen = self.stats.tolist()
        self.stats.zero_()
        out = {}
        if d_n:
            out["aux_d_loss"] = d_sum / d_n
            out["aux_real_acc"] = correct / seen
        if g_n:
            out["aux_g_loss"] = g_sum / g_n
        return out
