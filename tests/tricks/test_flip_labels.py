"""flip_labels (ganhacks #2): G trains on fakes labelled real; with minimax it is the non-saturating loss."""

from __future__ import annotations

import pytest
import torch

import ganforge
from ganforge.losses import MinimaxLoss, NonSaturatingLoss
from ganforge.tricks.flip_labels import FlipLabels

SMALL = dict(gen_options={"hidden": (16, 16)}, disc_options={"hidden": (16, 16)})


def test_minimax_with_flipped_labels_is_exactly_the_bce_generator_loss():
    logits = torch.randn(256, generator=torch.Generator().manual_seed(0)) * 3
    ones, zeros = torch.ones(256), torch.zeros(256)
    flipped = FlipLabels().generator_loss(MinimaxLoss(), logits, ones, zeros)
    assert torch.equal(flipped, NonSaturatingLoss().g_loss(logits, ones, zeros))
    # ... and it is not what minimax gives on its own.
    assert not torch.allclose(flipped, MinimaxLoss().g_loss(logits, ones, zeros))


def test_flipped_objective_does_not_saturate_when_d_rejects_the_fakes():
    """Where D is sure the fakes are fake (logit -10), minimax's gradient vanishes and the flipped one does not."""
    logits = torch.full((8,), -10.0, requires_grad=True)
    ones, zeros = torch.ones(8), torch.zeros(8)
    (g_minimax,) = torch.autograd.grad(MinimaxLoss().g_loss(logits, ones, zeros), logits)
    (g_flip,) = torch.autograd.grad(FlipLabels().generator_loss(MinimaxLoss(), logits, ones, zeros), logits)
    assert g_minimax.abs().max() < 1e-5
    assert g_flip.abs().min() > 0.1  # -(1 - sigmoid(-10)) / 8


def test_trainer_minimax_plus_flip_labels_trains_exactly_like_bce(tiny):
    bce = ganforge.Trainer(data="grid25", loss="bce", **SMALL, **tiny).fit()
    tiny["out_dir"] += "-flip"
    flip = ganforge.Trainer(data="grid25", loss="minimax", tricks=["flip_labels"], **SMALL, **tiny).fit()
    tiny["out_dir"] += "-plain"
    plain = ganforge.Trainer(data="grid25", loss="minimax", **SMALL, **tiny).fit()
    assert flip.g_loss == bce.g_loss and flip.d_loss == bce.d_loss
    assert plain.g_loss[0] != pytest.approx(bce.g_loss[0], abs=1e-3)  # minimax's own G loss is another number


def test_with_pack_flips_one_target_per_pack(tiny):
    """pack no longer replaces G's loss (the step makes one target per logit), so the two combine:
    minimax + flip_labels + pack trains exactly like bce + pack."""
    packed = dict(data="grid25", **SMALL, **{**tiny, "batch_size": 32})
    bce = ganforge.Trainer(loss="bce", tricks=["pack"], **packed).fit()
    packed["out_dir"] += "-flip"
    flip = ganforge.Trainer(loss="minimax", tricks=["flip_labels", "pack"], **packed).fit()
    assert flip.g_loss == bce.g_loss and flip.d_loss == bce.d_loss


def test_refused_with_a_loss_that_ignores_targets(tiny, register):
    class TargetFree(ganforge.Loss):
        """A Wasserstein-style loss that ignores targets (a test double)."""

        name = "target_free"
        uses_targets = False

        def d_loss(self, real_logits, fake_logits, real_targets, fake_targets):
            return fake_logits.mean() - real_logits.mean()

        def g_loss(self, fake_logits, real_targets, fake_targets):
            return -fake_logits.mean()

    register(losses=[TargetFree])
    trainer = ganforge.Trainer(data="grid25", loss="target_free", tricks=["flip_labels"], **SMALL, **tiny)
    with pytest.raises(ganforge.IncompatibleError,
                       match="Trick 'flip_labels' changes the discriminator's targets, but loss 'target_free' "
                             "ignores targets"):
        trainer.setup()
    assert trainer.gen is None  # refused before anything was built
