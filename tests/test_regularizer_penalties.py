"""Regularizers (r1, r2, bcr) and the gradient penalty of wgan_gp, against hand computations and in training."""

from __future__ import annotations

import pytest
import torch

import ganforge
from ganforge.interfaces import LossContext
from ganforge.regularizers import input_gradient_norms


class Known(torch.nn.Module):
    """D(x) = sum(a * x^2) + b . x over the flattened sample: its input gradient is 2 a x + b."""

    def __init__(self, features: int):
        super().__init__()
        self.a = torch.nn.Parameter(torch.linspace(0.5, 1.5, features))
        self.b = torch.nn.Parameter(torch.linspace(-1.0, 1.0, features))

    def forward(self, x, labels=None):
        x = x.flatten(1)
        return (self.a * x * x).sum(1) + x @ self.b


def context(disc, real, fake, real_logits=None, fake_logits=None):
    def discriminate(x, labels=None, real=True):
        return disc(x, labels).float()

    return LossContext(real, None, fake, None, real_logits, fake_logits, phase="disc", discriminate=discriminate)


def test_r1_and_r2_equal_the_hand_computed_penalty():
    torch.manual_seed(0)
    disc = Known(6)
    real, fake = torch.randn(5, 6), torch.randn(5, 6)
    ctx = context(disc, real, fake)
    with torch.no_grad():
        r1_hand = 10 / 2 * ((2 * disc.a * real + disc.b) ** 2).sum(1).mean()
        r2_hand = 4 / 2 * ((2 * disc.a * fake + disc.b) ** 2).sum(1).mean()
    r1 = ganforge.create_plugin("regularizer", "r1").penalty(ctx)
    r2 = ganforge.create_plugin("regularizer", "r2", gamma=4.0).penalty(ctx)
    assert r1.item() == pytest.approx(r1_hand.item(), rel=1e-6)
    assert r2.item() == pytest.approx(r2_hand.item(), rel=1e-6)
    # The penalty trains D: d R1 / d b = gamma / 2 * mean(2 * (2 a x + b)) = 10 * mean(2 a x + b).
    (grad_b,) = torch.autograd.grad(r1, disc.b)
    with torch.no_grad():
        assert torch.allclose(grad_b, 10 * (2 * disc.a * real + disc.b).mean(0), rtol=1e-5)


def test_gradient_norms_are_per_logit_when_d_judges_packs():
    """With two samples per logit (as under ``pack``), a row's norm covers both samples of its pack."""
    torch.manual_seed(1)
    x = torch.randn(6, 3)
    ctx = context(lambda v, labels=None: v.reshape(3, 6).pow(2).sum(1), x, x)
    norms = input_gradient_norms(ctx, x, None, real=True)
    assert norms.shape == (3,)
    assert torch.allclose(norms, 4 * x.pow(2).reshape(3, 6).sum(1))


class ColumnRamp(torch.nn.Module):
    """D(x) = sum over pixels of x * (column index + 1): changes when the image is mirrored."""

    def forward(self, x, labels=None):
        return (x * torch.arange(1.0, x.shape[-1] + 1)).flatten(1).sum(1)


def test_bcr_equals_the_hand_computed_consistency_term():
    torch.manual_seed(2)
    disc = ColumnRamp()
    real, fake = torch.rand(8, 1, 4, 4), torch.rand(8, 1, 4, 4)
    ctx = context(disc, real, fake, disc(real), disc(fake))
    bcr = ganforge.create_plugin("regularizer", "bcr", augment=["flip"], lambda_real=3.0, lambda_fake=0.5)
    torch.manual_seed(3)
    value = bcr.penalty(ctx)
    torch.manual_seed(3)  # the same coin flips: the real batch's first, then the fake batch's
    flip_real, flip_fake = torch.rand(8) < 0.5, torch.rand(8) < 0.5
    assert 0 < int(flip_real.sum()) < 8

    def term(x, flipped):
        t = torch.where(flipped.view(-1, 1, 1, 1), x.flip(3), x)
        return ((disc(x) - disc(t)) ** 2).mean()

    expected = 3.0 * term(real, flip_real) + 0.5 * term(fake, flip_fake)
    assert value.item() == pytest.approx(expected.item(), rel=1e-6)
    # In a lazy update there are no logits: D is run on the batches afresh, to the same value.
    torch.manual_seed(3)
    assert bcr.penalty(context(disc, real, fake)).item() == pytest.approx(expected.item(), rel=1e-6)


def test_bcr_is_zero_for_a_d_blind_to_the_augmentation():
    class Mean(torch.nn.Module):  # mirroring does not change the mean
        def forward(self, x, labels=None):
            return x.flatten(1).mean(1)

    real, fake = torch.rand(8, 3, 4, 4), torch.rand(8, 3, 4, 4)
    ctx = context(Mean(), real, fake, Mean()(real), Mean()(fake))
    flip_only = ganforge.create_plugin("regularizer", "bcr", augment=["flip"])
    assert flip_only.penalty(ctx).item() == pytest.approx(0, abs=1e-10)
    assert ganforge.create_plugin("regularizer", "bcr").penalty(ctx).item() > 0  # translation zeroes a border


def test_bcr_refuses_point_data(tiny):
    ctx = context(lambda x, labels=None: x.sum(1), torch.randn(4, 2), torch.randn(4, 2))
    with pytest.raises(ganforge.IncompatibleError, match=r"^Regularizer 'bcr' augments images"):
        ganforge.create_plugin("regularizer", "bcr").penalty(ctx)
    trainer = ganforge.Trainer(**tiny, data="grid25", regularizers=["bcr"])
    with pytest.raises(ganforge.IncompatibleError, match=r"^Regularizer 'bcr' augments images"):
        trainer.setup()  # refused before anything is built (check_run)
    assert trainer.gen is None


def test_bcr_options_are_checked():
    with pytest.raises(ganforge.ConfigError, match="Option of regularizer 'bcr': 'augment' must be a list"):
        ganforge.create_plugin("regularizer", "bcr", augment=["rotate"])
    bcr = ganforge.create_plugin("regularizer", "bcr", every=4)
    assert bcr.every == 4 and bcr.options.augment == ("flip", "translation")


# -- wgan_gp in training: the critic's gradient norm on interpolates goes to 1 ------------------------


def interpolate_gradient_norms(trainer, n: int = 256) -> torch.Tensor:
    """||grad D(x_hat)|| on interpolates between fresh real points and fresh samples of the trained G."""
    torch.manual_seed(123)
    real, _ = trainer.dataset.sample(n)
    with torch.no_grad():
        fake = trainer.sample(n)
    e = torch.rand(n, 1)
    x = (e * real + (1 - e) * fake).requires_grad_(True)
    (grad,) = torch.autograd.grad(trainer.disc(x).sum(), x)
    return grad.norm(dim=1)


def train_critic(loss: str, tmp_path) -> ganforge.Trainer:
    """50 steps of 5 critic updates on grid25 (about 2 s), Adam at lr 3e-3 with the paper's betas (0, 0.9)."""
    optim = {"lr": 3e-3, "betas": (0.0, 0.9)}
    trainer = ganforge.Trainer(loss=loss, data="grid25", steps=50, batch_size=32, latent_dim=8, tricks=["d_steps"],
                               trick_options={"d_steps": {"k": 5}}, gen_options={"hidden": (64, 64)},
                               disc_options={"hidden": (64, 64)}, g_optim=optim, d_optim=optim, sample_every=0,
                               checkpoint_every=0, log_every=50, progress=False, device="cpu",
                               out_dir=str(tmp_path / loss))
    trainer.fit()
    return trainer


def test_wgan_gp_drives_the_critic_gradient_norm_to_one_and_wgan_does_not(tmp_path):
    """With the penalty nearly every interpolate's norm is within 0.3 of 1; without it the norms go where they will.

    (An unconstrained critic's norm is not pushed away from 1 either: over seeds 0-2 the share of plain WGAN's
    norms within 0.3 of 1 was 0.31, 0.0 and 0.58, WGAN-GP's 1.0 each time; seed 0 runs here.)
    """
    with_gp = interpolate_gradient_norms(train_critic("wgan_gp", tmp_path))
    assert abs(float(with_gp.mean()) - 1) < 0.1
    assert float(((with_gp - 1).abs() < 0.3).float().mean()) > 0.95
    without = interpolate_gradient_norms(train_critic("wgan", tmp_path))
    assert float(((without - 1).abs() < 0.3).float().mean()) < 0.75
    assert float(without.std()) > 5 * float(with_gp.std())
