"""The builtin losses: bce, minimax, hinge, wgan, wgan_gp, lsgan, ragan and rpgan, on known logits and known critics."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import ganforge
from ganforge.interfaces import LossContext
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


# -- hinge, wgan, lsgan, ragan: values on known logits, computed by hand ----------------------------

REAL = torch.tensor([2.0, 0.5, -1.0])
FAKE = torch.tensor([-3.0, 0.0, 1.5])
ONES, ZEROS = torch.ones(3), torch.zeros(3)


def loss(name, **options):
    return ganforge.create_plugin("loss", name, **options)


def test_hinge_values():
    hinge = loss("hinge")
    # relu(1 - real) = [0, 0.5, 2] -> mean 5/6; relu(1 + fake) = [0, 1, 2.5] -> mean 7/6
    assert hinge.d_loss(REAL, FAKE, ONES, ZEROS).item() == pytest.approx(5 / 6 + 7 / 6)
    assert hinge.g_loss(FAKE, ONES, ZEROS).item() == pytest.approx(-(-3.0 + 0.0 + 1.5) / 3)
    # The targets are ignored: soft targets give the same loss.
    assert hinge.d_loss(REAL, FAKE, ONES * 0.9, ZEROS + 0.1).item() == pytest.approx(2.0)
    assert hinge.uses_targets is False


def test_wgan_values():
    wgan = loss("wgan")
    # E[D(G(z))] - E[D(x)] = (-1.5 / 3) - (1.5 / 3)
    assert wgan.d_loss(REAL, FAKE, ONES, ZEROS).item() == pytest.approx(-1.0)
    assert wgan.g_loss(FAKE, ONES, ZEROS).item() == pytest.approx(0.5)
    assert wgan.uses_targets is False and loss("wgan_gp").uses_targets is False


def test_lsgan_values_with_the_default_and_the_pearson_coding():
    lsgan = loss("lsgan")  # a=0, b=1, c=1
    # 1/2 mean((real - 1)^2) = 1/2 * (1 + 0.25 + 4) / 3; 1/2 mean(fake^2) = 1/2 * (9 + 0 + 2.25) / 3
    assert lsgan.d_loss(REAL, FAKE, ONES, ZEROS).item() == pytest.approx(5.25 / 6 + 11.25 / 6)
    # 1/2 mean((fake - 1)^2) = 1/2 * (16 + 1 + 0.25) / 3
    assert lsgan.g_loss(FAKE, ONES, ZEROS).item() == pytest.approx(17.25 / 6)
    pearson = loss("lsgan", a=-1, b=1, c=0)
    # 1/2 mean((real - 1)^2) + 1/2 mean((fake + 1)^2) = (5.25 + (4 + 1 + 6.25)) / 6
    assert pearson.d_loss(REAL, FAKE, ONES, ZEROS).item() == pytest.approx((5.25 + 11.25) / 6)
    assert pearson.g_loss(FAKE, ONES, ZEROS).item() == pytest.approx(11.25 / 6)
    # A target t regresses D to a + t (b - a): soft real targets 0.9 -> 0.8 with a=-1, b=1.
    assert pearson.criterion(torch.tensor([0.8]), torch.tensor([0.9])).item() == pytest.approx(0.0)
    with pytest.raises(ganforge.ConfigError, match="Option of loss 'lsgan': 'a' and 'b' must differ"):
        loss("lsgan", a=1.0)


def _bce(logits, target):
    """-mean(log sigmoid(l)) for target 1, -mean(log(1 - sigmoid(l))) for target 0, by hand."""
    s = 1 / (1 + torch.exp(-logits.double()))
    return float(-(torch.log(s) if target == 1 else torch.log(1 - s)).mean())


def test_ragan_values():
    ragan = loss("ragan")
    mean_real, mean_fake = REAL.mean(), FAKE.mean()  # 0.5, -0.5
    d_expected = _bce(REAL - mean_fake, 1) + _bce(FAKE - mean_real, 0)
    g_expected = _bce(FAKE - mean_real, 1) + _bce(REAL - mean_fake, 0)
    assert ragan.d_loss(REAL, FAKE, ONES, ZEROS).item() == pytest.approx(d_expected, rel=1e-6)
    ctx = LossContext(torch.zeros(3, 2), None, torch.zeros(3, 2), None, REAL, FAKE, ONES, ZEROS, phase="gen")
    assert ragan.generator_loss(ctx).item() == pytest.approx(g_expected, rel=1e-6)
    assert ragan.needs_real_logits_in_g is True
    with pytest.raises(TypeError, match="needs D's logits on real data"):
        ragan.g_loss(FAKE, ONES, ZEROS)


def test_ragan_gets_real_logits_in_the_generator_update_without_gradient_to_them(tmp_path, register):
    seen = []

    class Spy(ganforge.Trick):
        name = "spy"

        def observe(self, ctx):
            if ctx.phase == "gen":
                seen.append((ctx.real_logits, ctx.fake_logits))

    register(tricks=[Spy])
    ganforge.Trainer(loss="ragan", tricks=["spy"], data="grid25", steps=1, batch_size=8, latent_dim=4,
                     gen_options={"hidden": (8,)}, disc_options={"hidden": (8,)}, sample_every=0,
                     checkpoint_every=0, progress=False, device="cpu", out_dir=str(tmp_path / "run")).fit()
    (real_logits, fake_logits), = seen
    assert real_logits.shape == fake_logits.shape == (8,)
    assert not real_logits.requires_grad and fake_logits.requires_grad


def test_rpgan_values_pair_each_real_with_the_fake_at_its_position():
    rpgan = loss("rpgan")
    soft = lambda t: float(torch.log1p(torch.exp(t.double())).mean())  # softplus by hand
    assert rpgan.d_loss(REAL, FAKE, ONES, ZEROS).item() == pytest.approx(soft(FAKE - REAL), rel=1e-6)
    ctx = LossContext(torch.zeros(3, 2), None, torch.zeros(3, 2), None, REAL, FAKE, ONES, ZEROS, phase="gen")
    assert rpgan.generator_loss(ctx).item() == pytest.approx(soft(REAL - FAKE), rel=1e-6)
    # pairing, not averages: reordering the fakes changes the loss (ragan's would not change)
    assert rpgan.d_loss(REAL, FAKE.flip(0), ONES, ZEROS).item() != pytest.approx(soft(FAKE - REAL), rel=1e-3)
    assert (rpgan.needs_real_logits_in_g, rpgan.uses_targets) == (True, False)
    with pytest.raises(TypeError, match="needs D's logits on real data"):
        rpgan.g_loss(FAKE, ONES, ZEROS)


def test_rpgan_refuses_batches_it_cannot_pair():
    with pytest.raises(ganforge.ConfigError, match=r"rpgan pairs each real logit with a fake one, but D gave \(3,\) "
                                                   r"for the real batch and \(2,\) for the fakes"):
        loss("rpgan").d_loss(REAL, FAKE[:2], ONES, ZEROS[:2])


def test_rpgan_trains_with_r1_and_r2_as_r3gan_does(tmp_path):
    trainer = ganforge.Trainer(loss="rpgan", regularizers=["r1", "r2"], data="grid25", steps=30, batch_size=16,
                               latent_dim=4, gen_options={"hidden": (16,)}, disc_options={"hidden": (16,)},
                               sample_every=0, checkpoint_every=0, progress=False, device="cpu",
                               out_dir=str(tmp_path / "run"), log_every=1)
    history = trainer.fit()
    assert len(history.d_loss) == 30 and all(torch.isfinite(torch.tensor(history.d_loss)))
    assert trainer.step == 30 and len(set(history.d_loss)) > 1


# -- wgan_gp: the penalty on a known critic ---------------------------------------------------------


class Linear(torch.nn.Module):
    """D(x) = w . x: its input gradient is w everywhere."""

    def __init__(self, w):
        super().__init__()
        self.w = torch.nn.Parameter(torch.tensor(w))

    def forward(self, x, labels=None):
        return x.flatten(1) @ self.w


def _context(disc, real, fake):
    def discriminate(x, labels=None, real=True):
        return disc(x, labels).float()

    return LossContext(real, None, fake, None, disc(real), disc(fake), torch.ones(len(real)), torch.zeros(len(fake)),
                       phase="disc", discriminate=discriminate)


def test_wgan_gp_penalty_on_a_linear_critic():
    real, fake = torch.randn(6, 2), torch.randn(6, 2)
    ctx = _context(Linear([3.0, 4.0]), real, fake)  # ||grad|| = 5 at every interpolate
    gp = loss("wgan_gp")
    assert gp.gradient_penalty(ctx).item() == pytest.approx(16.0)
    wasserstein = ctx.fake_logits.mean() - ctx.real_logits.mean()
    assert gp.discriminator_loss(ctx).item() == pytest.approx(wasserstein.item() + 10 * 16.0, rel=1e-6)
    assert loss("wgan_gp", lambda_gp=2.5).discriminator_loss(ctx).item() == pytest.approx(wasserstein.item() + 40.0,
                                                                                           rel=1e-6)
    flat = _context(Linear([0.3, 0.4]), real, fake)  # ||grad|| = 0.5
    assert gp.gradient_penalty(flat).item() == pytest.approx(0.25)
    assert loss("wgan_gp", one_sided=True).gradient_penalty(flat).item() == 0.0  # below 1: not penalised
    assert loss("wgan_gp", one_sided=True).gradient_penalty(ctx).item() == pytest.approx(16.0)


def test_wgan_gp_penalty_on_a_quadratic_critic_at_the_interpolates():
    """D(x) = sum(x^2): grad = 2 x_hat, with x_hat on the segment between each real and its fake."""

    class Quadratic(torch.nn.Module):
        def forward(self, x, labels=None):
            return x.pow(2).sum(1)

    real, fake = torch.randn(5, 3), torch.randn(5, 3)
    ctx = _context(Quadratic(), real, fake)
    torch.manual_seed(7)
    value = loss("wgan_gp").gradient_penalty(ctx)
    torch.manual_seed(7)
    e = torch.rand(5, 1)
    x_hat = e * real + (1 - e) * fake
    expected = ((2 * x_hat.norm(dim=1) - 1) ** 2).mean()
    assert value.item() == pytest.approx(expected.item(), rel=1e-6)
    # The penalty trains D: it has a gradient with respect to D's parameters (here the linear critic's w).
    lin = Linear([3.0, 4.0])
    (grad,) = torch.autograd.grad(loss("wgan_gp").gradient_penalty(_context(lin, real[:, :2], fake[:, :2])), lin.w)
    # d/dw (||w|| - 1)^2 = 2 (||w|| - 1) w / ||w|| = 2 * 4 * w / 5
    assert torch.allclose(grad, torch.tensor([4.8, 6.4]))


# -- what the losses refuse --------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["hinge", "wgan", "wgan_gp"])
def test_losses_that_ignore_targets_refuse_label_tricks(name, tmp_path):
    trainer = ganforge.Trainer(loss=name, tricks=["soft_labels"], data="grid25", steps=1, device="cpu",
                               progress=False, out_dir=str(tmp_path / "run"))
    with pytest.raises(ganforge.IncompatibleError,
                       match=rf"^Trick 'soft_labels' changes the discriminator's targets, but loss '{name}' ignores "
                             r"targets, so the trick would do nothing\. Drop the trick"):
        trainer.setup()
    assert trainer.gen is None


def test_ragan_refuses_flip_labels(tmp_path):
    trainer = ganforge.Trainer(loss="ragan", tricks=["flip_labels"], data="grid25", steps=1, device="cpu",
                               progress=False, out_dir=str(tmp_path / "run"))
    with pytest.raises(ganforge.IncompatibleError,
                       match=r"^Loss 'ragan' cannot be combined with 'flip_labels': ragan's generator objective"):
        trainer.setup()
