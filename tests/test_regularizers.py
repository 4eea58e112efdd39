"""Regularizers: penalties computed with D, every step or lazily, with any loss."""

from __future__ import annotations

import pytest
import torch

import ganforge
from ganforge.regularizers import R1

SMALL = dict(data="grid25", gen_options={"hidden": (16,)}, disc_options={"hidden": (16,)}, latent_dim=4)


def record_lazy_terms(trainer) -> list:
    """Set ``trainer`` up and return a list that collects the term of every lazy-regularization update it runs."""
    trainer.setup()
    terms = []
    original = trainer.step_fn.regularization_update
    trainer.step_fn.regularization_update = lambda reg, r, y, c=None: terms.append(original(reg, r, y, c)) or terms[-1]
    return terms


def test_options_are_checked_with_the_plugin_named():
    with pytest.raises(ganforge.ConfigError, match="regularizer 'r1'.*'gamma' must be a number > 0 \\(got -1\\)"):
        R1(gamma=-1)
    with pytest.raises(ganforge.ConfigError, match="Unknown option 'gama' for regularizer 'r1'. Did you mean 'gamma'"):
        R1(gama=1)


def test_r1_in_training_lowers_ds_gradient_on_reals(tiny):
    def grad_norm(trainer):
        real, _ = trainer.dataset.sample(512, "cpu")
        real = real.requires_grad_(True)
        (g,) = torch.autograd.grad(trainer.disc(real).sum(), real)
        return float(g.norm(dim=1).mean())

    plain = ganforge.Trainer(**SMALL, **{**tiny, "steps": 150}, loss="bce", d_optim={"lr": 2e-3})
    plain.fit()
    tiny["out_dir"] += "-r1"
    with_r1 = ganforge.Trainer(**SMALL, **{**tiny, "steps": 150}, loss="bce", d_optim={"lr": 2e-3},
                               regularizers=["r1"], regularizer_options={"r1": {"gamma": 10.0}})
    with_r1.fit()
    assert grad_norm(with_r1) < 0.5 * grad_norm(plain)


def test_lazy_regularization_runs_every_k_steps_k_times_stronger(tiny, register):
    calls = []

    class Probe(ganforge.Regularizer):
        """Records when it is applied and returns a known penalty (a test double)."""

        name = "probe"

        def __init__(self, every: int = 1):
            super().__init__()
            self.every = every

        def penalty(self, ctx):
            calls.append((ctx.phase, ctx.real_logits is None))
            return ctx.discriminate(ctx.real, None, True).mean() * 0.0 + 1.0

    register(regularizers=[Probe])
    trainer = ganforge.Trainer(**SMALL, **{**tiny, "steps": 8}, regularizers=["probe"],
                               regularizer_options={"probe": {"every": 4}})
    terms = record_lazy_terms(trainer)
    trainer.fit()
    assert calls == [("disc", True)] * 2  # after steps 4 and 8, in updates of their own (no logits)
    assert [float(t) for t in terms] == [4.0, 4.0]  # k times the penalty


def test_every_step_penalties_join_ds_loss(tiny):
    base = ganforge.Trainer(**SMALL, **{**tiny, "steps": 1}).fit()
    tiny["out_dir"] += "-r2"
    with_r2 = ganforge.Trainer(**SMALL, **{**tiny, "steps": 1}, regularizers=["r2"]).fit()
    assert with_r2.g_loss == base.g_loss  # same G update (R2 only touches D's loss)
    assert with_r2.d_loss[0] > base.d_loss[0]  # the penalty is part of D's logged loss


def test_a_penalty_sees_d_through_the_tricks_input_transforms(tiny, register):
    """ctx.discriminate runs D on what the tricks' disc_input makes of the batch, real and fake alike."""
    seen = []

    class Shift(ganforge.Trick):
        """Moves real inputs by +3 and fake ones by -3 before D (a deterministic stand-in for instance noise)."""

        name = "shift"

        def setup(self, ctx):
            self.disc = ctx.disc
            Shift.last = self  # the instance the run built, for the probe below

        def disc_input(self, x, real):
            return x + (3.0 if real else -3.0)

    class Probe(ganforge.Regularizer):
        """Compares ctx.discriminate with D called by hand on the shifted batch (a test double)."""

        name = "probe_shift"

        def penalty(self, ctx):
            trick = Shift.last
            probe = torch.full_like(ctx.real, 0.25)
            for real in (True, False):
                via_ctx = ctx.discriminate(probe, None, real)
                by_hand = trick.disc(probe + (3.0 if real else -3.0), None).float()
                unshifted = trick.disc(probe, None).float()
                seen.append((torch.allclose(via_ctx, by_hand), torch.allclose(via_ctx, unshifted)))
            return via_ctx.mean() * 0.0

    register(tricks=[Shift], regularizers=[Probe])
    ganforge.Trainer(**SMALL, **{**tiny, "steps": 2}, tricks=["shift"], regularizers=["probe_shift"]).fit()
    assert seen and all(matches and not unshifted for matches, unshifted in seen), seen


def test_a_lazy_generator_penalty_does_not_advance_the_ema_twice(tiny, register):
    class GenProbe(ganforge.Regularizer):
        """A lazy penalty on G's side (as path-length regularization would be); a test double."""

        name = "gen_probe"
        net = "gen"

        def __init__(self, every: int = 2):
            super().__init__()
            self.every = every

        def penalty(self, ctx):
            return ctx.fake.square().mean() * 1e-3

    register(regularizers=[GenProbe])
    trainer = ganforge.Trainer(**SMALL, **{**tiny, "steps": 6}, regularizers=["gen_probe"], ema_decay=0.9)
    terms = record_lazy_terms(trainer)
    trainer.fit()
    assert len(terms) == 3  # the penalty ran on steps 2, 4 and 6 ...
    assert int(trainer.ema.updates) == 6  # ... and the average moved once per step all the same
