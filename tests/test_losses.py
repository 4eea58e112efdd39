"""bce (non-saturating) and minimax losses, from logits."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from ganforge.losses import MinimaxLoss, NonSaturatingLoss


def _manual(logits_real, logits_fake):
    d_real, d_fake = torch.sigmoid(logits_real), torch.sigmoid(logits_fake)
    d_loss = -(torch.log(d_real).mean() + torch.log(1 - d_fake).mean())
    return d_loss, -torch.log(d_fake).mean(), torch.log(1 - d_fake).mean()


def test_losses_match_their_definitions():
    real, fake = torch.randn(64), torch.randn(64)
    ones, zeros = torch.ones(64), torch.zeros(64)
    d_loss, ns_g, mm_g = _manual(real, fake)
    for loss in (NonSaturatingLoss(), MinimaxLoss()):
        assert loss.d_loss(real, fake, ones, zeros).item() == pytest.approx(d_loss.item(), rel=1e-5)
    assert NonSaturatingLoss().g_loss(fake, ones, zeros).item() == pytest.approx(ns_g.item(), rel=1e-5)
    assert MinimaxLoss().g_loss(fake, ones, zeros).item() == pytest.approx(mm_g.item(), rel=1e-5)


def test_losses_stay_finite_where_sigmoid_saturates():
    fake = torch.tensor([-120.0, 120.0], requires_grad=True)
    ones, zeros = torch.ones(2), torch.zeros(2)
    naive = F.binary_cross_entropy(torch.sigmoid(fake), ones, reduction="none")
    assert naive[0].item() == 100.0  # BCELoss clamps log(0) to -100: the gradient is lost
    for loss in (NonSaturatingLoss(), MinimaxLoss()):
        value = loss.g_loss(fake, ones, zeros)
        assert torch.isfinite(value)
        (grad,) = torch.autograd.grad(value, fake)
        assert torch.isfinite(grad).all()
    # The non-saturating loss keeps a strong gradient for a fake D rejects with confidence.
    value = NonSaturatingLoss().g_loss(fake[:1], ones[:1], zeros[:1])
    (grad,) = torch.autograd.grad(value, fake)
    assert grad[0].item() == pytest.approx(-1.0, abs=1e-6)
    assert NonSaturatingLoss().g_loss(fake[:1].detach(), ones[:1], zeros[:1]).item() == pytest.approx(120.0)


def test_minimax_saturates_where_non_saturating_does_not():
    """Early in training D rejects fakes (logit << 0): minimax's gradient vanishes, bce's does not."""
    fake = torch.full((8,), -10.0, requires_grad=True)
    ones, zeros = torch.ones(8), torch.zeros(8)
    (mm,) = torch.autograd.grad(MinimaxLoss().g_loss(fake, ones, zeros), fake)
    (ns,) = torch.autograd.grad(NonSaturatingLoss().g_loss(fake, ones, zeros), fake)
    assert mm.abs().max() < 1e-5 < ns.abs().min()
