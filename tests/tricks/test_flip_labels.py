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


def test_conflicts_with_pack(tiny):
    with pytest.raises(ganforge.IncompatibleError, match="'flip_labels' cannot be combined with 'pack'"):
        ganforge.Trainer(data="grid25", tricks=["flip_labels", "pack"], **SMALL, **tiny).setup()
