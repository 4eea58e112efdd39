"""The trick events and the TrickContext of Interfaces v2, each with a trick written the way a plugin author would."""

from __future__ import annotations

import contextlib
import warnings

import pytest
import torch

import ganforge
from ganforge.training.combinations import check_plugins

SMALL = dict(data="grid25", gen_options={"hidden": (16,)}, disc_options={"hidden": (16,)}, latent_dim=4)


class Counter(ganforge.Trick):
    """Counts optimizer steps per network and records the D-update counts the step asked for."""

    name = "counter"

    def __init__(self, **options):
        super().__init__(**options)
        self.steps = {"gen": 0, "disc": 0}
        self.loaded_at = None
        self.phases: list[str] = []

    def after_optimizer_step(self, net, module):
        assert module is not None and not isinstance(module, torch.nn.parallel.DistributedDataParallel)
        self.steps[net] += 1

    def observe(self, ctx):
        self.phases.append(ctx.phase)

    def on_load(self, ctx, step):
        self.loaded_at = step

    def state_dict(self):
        return dict(self.steps)

    def load_state_dict(self, state):
        self.steps = {k: int(v) for k, v in state.items()} or self.steps


def test_after_optimizer_step_follows_every_update(tiny, register):
    register(tricks=[Counter])
    trainer = ganforge.Trainer(**SMALL, **{**tiny, "steps": 4}, tricks=["d_steps", "counter"],
                               trick_options={"d_steps": {"k": 3}})
    trainer.fit()
    counter = trainer.tricks[1]
    assert counter.steps == {"gen": 4, "disc": 12}
    trainer.update_discriminator()  # an extra D update (loss_balancing's) is an optimizer step too
    assert counter.steps["disc"] == 13


def test_on_load_tells_a_resumed_trick_where_the_run_is(tiny, register):
    register(tricks=[Counter])
    ganforge.Trainer(**SMALL, **{**tiny, "steps": 3}, tricks=["counter"]).fit()
    resumed = ganforge.Trainer.resume(tiny["out_dir"], steps=5).setup()
    assert resumed.tricks[0].loaded_at == 3 and resumed.tricks[0].steps == {"gen": 3, "disc": 3}


def test_d_steps_may_change_during_the_run(tiny, register):
    class Schedule(Counter):
        """WGAN's schedule in miniature: more critic updates at first."""

        name = "critic_schedule"

        def d_steps_at(self, step):
            return 3 if step < 2 else 1

    register(tricks=[Schedule])
    trainer = ganforge.Trainer(**SMALL, **{**tiny, "steps": 4}, tricks=["critic_schedule"])
    trainer.fit()
    assert trainer.tricks[0].phases == ["gen", "disc", "disc", "disc"] * 2 + ["gen", "disc"] * 2


def test_targets_edited_in_place_do_not_leak_into_later_updates(tiny, register):
    class Vandal(ganforge.Trick):
        """Overwrites its target tensors in place (a misbehaving trick)."""

        name = "vandal"
        uses_targets = True

        def targets(self, real_targets, fake_targets):
            seen.append((real_targets.clone(), fake_targets.clone()))
            real_targets.fill_(0.5)
            fake_targets.fill_(0.5)
            return real_targets, fake_targets

        def observe(self, ctx):
            if ctx.phase == "gen":
                gen_targets.append(ctx.real_targets.clone())

    seen, gen_targets = [], []
    register(tricks=[Vandal])
    ganforge.Trainer(**SMALL, **{**tiny, "steps": 3}, tricks=["vandal"]).fit()
    assert all(torch.all(r == 1) and torch.all(f == 0) for r, f in seen)  # fresh 1/0 targets every update
    assert all(torch.all(t == 1) for t in gen_targets)


def test_host_events_get_a_trick_context_and_old_attribute_use_warns(tiny, register):
    got = {}

    class Reader(ganforge.Trick):
        """Reads the context."""

        name = "reader"

        def setup(self, ctx):
            got["type"] = type(ctx).__name__
            got["device"] = ctx.device
            with pytest.warns(DeprecationWarning, match="'ctx.step_fn' reached into the Trainer"):
                got["step_fn"] = ctx.step_fn

        def on_log(self, ctx, step, values):
            got["records"] = [dict(r) for r in ctx.records]
            got["d_losses"] = list(ctx.d_losses)

    register(tricks=[Reader])
    trainer = ganforge.Trainer(**SMALL, **{**tiny, "steps": 20, "log_every": 10, "eval_every": 10,
                                           "eval_samples": 100}, tricks=["reader"])
    trainer.fit()
    assert got["type"] == "TrickContext" and got["device"] == torch.device("cpu")
    assert got["step_fn"] is trainer.step_fn
    assert [r["step"] for r in got["records"]] == [10]  # the evaluation record at step 10 is not among them
    assert len(got["d_losses"]) == 20


def test_failure_monitor_runs_with_evaluation(tiny):
    """Evaluation records among the history made failure_monitor raise KeyError: 'g_loss' (issue 13 defect)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        trainer = ganforge.Trainer(**SMALL, **{**tiny, "steps": 30, "log_every": 5, "eval_every": 5,
                                               "eval_samples": 100}, tricks=["failure_monitor"],
                                   trick_options={"failure_monitor": {"action": "record", "trend_intervals": 2}})
        trainer.fit()
    assert sum("failures" in r for r in trainer.history.records) == 6


def test_sampling_weights_swap_in_and_out(tiny, register):
    class Zeroed(ganforge.Trick):
        """Samples from a generator whose weights are all zero (a weight-averaging trick's shape)."""

        name = "zeroed"

        @contextlib.contextmanager
        def sampling_weights(self, gen):
            saved = {k: v.clone() for k, v in gen.state_dict().items()}
            with torch.no_grad():
                for p in gen.parameters():
                    p.zero_()
            try:
                yield
            finally:
                gen.load_state_dict(saved)

    register(tricks=[Zeroed])
    trainer = ganforge.Trainer(**SMALL, **tiny, tricks=["zeroed"])
    trainer.fit()
    before = {k: v.clone() for k, v in trainer.gen.state_dict().items()}
    samples = trainer.sample(8)
    assert torch.all(samples == 0)  # tanh(0): the swapped-in weights made them
    assert all(torch.equal(before[k], v) for k, v in trainer.gen.state_dict().items())  # restored

    with pytest.warns(UserWarning, match="Trick 'zeroed' swaps its own sampling weights.*EMA"):
        with_ema = ganforge.Trainer(**SMALL, **{**tiny, "out_dir": tiny["out_dir"] + "-ema"}, tricks=["zeroed"],
                                    ema_decay=0.9)
        with_ema.fit()
        assert not torch.all(with_ema.sample(8) == 0)  # the EMA's copy, which the trick does not touch
        assert torch.all(with_ema.sample(8, ema=False) == 0)


def test_plugins_declare_ddp_safety_and_conflicts(tiny, register):
    class Lonely(ganforge.Trick):
        """Cannot run under DDP."""

        name = "lonely"
        ddp_safe = False
        ddp_note = "it keeps per-rank state that would drift"

    class Picky(ganforge.Loss):
        """Refuses the lonely trick."""

        name = "picky"
        conflicts = {"lonely": "it needs every sample"}

        def criterion(self, logits, targets):
            return torch.nn.functional.binary_cross_entropy_with_logits(logits, targets)

        def g_loss(self, fake_logits, real_targets, fake_targets):
            return self.criterion(fake_logits, real_targets)

    register(tricks=[Lonely], losses=[Picky])
    trainer = ganforge.Trainer(**SMALL, **tiny, tricks=["lonely"])
    trainer.setup()
    with pytest.raises(ganforge.IncompatibleError,
                       match="Trick 'lonely' cannot run under DDP: it keeps per-rank state that would drift"):
        check_plugins(trainer.tricks, trainer.dataset, trainer.config, True, trainer.loss, [])
    refused = ganforge.Trainer(**SMALL, **{**tiny, "out_dir": tiny["out_dir"] + "-2"}, tricks=["lonely"],
                               loss="picky")
    with pytest.raises(ganforge.IncompatibleError,
                       match="Loss 'picky' cannot be combined with 'lonely': it needs every sample"):
        refused.setup()
    assert refused.gen is None
