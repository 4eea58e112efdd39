"""failure_monitor (ganhacks #10): each check fires on a constructed failure and stays quiet on a healthy run."""

from __future__ import annotations

import math
import warnings

import pytest
import torch
from torch import nn

import ganforge
from ganforge.io.checkpoint import latest_checkpoint, load_checkpoint
from ganforge.tricks.failure_monitor import (
    CHECKS,
    FailureMonitor,
    TrainingFailureWarning,
)

SMALL = dict(gen_options={"hidden": (32, 32)}, disc_options={"hidden": (32, 32)})


def rec(g: float, d: float) -> dict[str, float]:
    return {"g_loss": g, "d_loss": d}


def test_d_loss_zero_needs_a_full_window_below_the_floor():
    m = FailureMonitor(d_loss_floor=0.01, window=5)
    assert m.check([0.005] * 5, [], [1.0, 1.0]) == ["d_loss_zero"]
    assert m.check([0.005] * 4, [], [1.0, 1.0]) == []  # window not yet full
    assert m.check([0.005] * 4 + [0.02], [], [1.0, 1.0]) == []  # one step above the floor
    assert m.check([1.3] * 20 + [0.001] * 5, [], [1.0, 1.0]) == ["d_loss_zero"]  # only the last window counts


def test_grad_norm_check_uses_the_limit_and_treats_nan_as_failure():
    m = FailureMonitor(grad_norm_max=100.0)
    assert m.check([], [], [100.0, 3.0]) == []
    assert m.check([], [], [3.0, 100.5]) == ["grad_norm"]
    assert m.check([], [], [math.nan, 3.0]) == ["grad_norm"]


def test_g_fools_d_needs_steadily_falling_g_loss_while_d_wins():
    m = FailureMonitor(trend_intervals=3, d_win_below=1.0)
    falling = [rec(2.0, 0.5), rec(1.5, 0.5), rec(1.0, 0.4), rec(0.5, 0.3)]
    assert m.check([], falling, [0.0, 0.0]) == ["g_fools_d"]
    assert m.check([], falling[1:], [0.0, 0.0]) == []  # too few intervals
    bumpy = [rec(2.0, 0.5), rec(1.5, 0.5), rec(1.6, 0.4), rec(0.5, 0.3)]
    assert m.check([], bumpy, [0.0, 0.0]) == []
    d_losing = [rec(2.0, 0.5), rec(1.5, 0.5), rec(1.0, 1.2), rec(0.5, 0.3)]
    assert m.check([], d_losing, [0.0, 0.0]) == []


def test_after_backward_keeps_the_running_maximum_norm_per_network():
    m = FailureMonitor()
    net = nn.Linear(3, 1)
    net.weight.grad = torch.full((1, 3), 4.0)
    net.bias.grad = torch.tensor([0.0])
    m.after_backward("disc", net)  # norm sqrt(3 * 16)
    net.weight.grad = torch.full((1, 3), 1.0)
    m.after_backward("disc", net)  # smaller: the maximum stays
    m.after_backward("gen", net)
    assert m.grad_norms.tolist() == pytest.approx([math.sqrt(3), math.sqrt(48)])


def test_options_are_validated():
    with pytest.raises(ganforge.ConfigError, match="'action' must be one of"):
        FailureMonitor(action="panic")
    with pytest.raises(ganforge.ConfigError, match="'window' must be an integer >= 1"):
        FailureMonitor(window=0)
    with pytest.raises(ganforge.ConfigError, match="'grad_norm_max' must be a number > 0"):
        FailureMonitor(grad_norm_max=-1)


def test_huge_gradients_are_reported_in_the_logged_values(tiny):
    tiny.update(steps=20, log_every=10)
    trainer = ganforge.Trainer(data="grid25", tricks=["failure_monitor"], **SMALL, **tiny)
    trainer.setup()
    with torch.no_grad():
        trainer.disc.head.weight.mul_(1e4)  # logits, and so every gradient, scale by 10^4
    with pytest.warns(TrainingFailureWarning, match="gradient norm over 100"):
        history = trainer.fit()
    first = history.records[0]
    assert first["failure_grad_norm"] == 1.0 and first["failures"] >= 1.0
    assert max(first["grad_norm_gen"], first["grad_norm_disc"]) > 100
    assert [10, CHECKS.index("grad_norm")] in trainer.tricks[0].findings
    assert trainer.step == 20  # action 'warn' does not stop the run


def test_d_winning_outright_stops_the_run_and_the_findings_reach_the_checkpoint(tiny):
    """A constant generator against a fast discriminator on ring8: D's loss falls to ~0."""
    tiny.update(steps=300, log_every=10)
    trainer = ganforge.Trainer(
        data="ring8", tricks=["failure_monitor"],
        trick_options={"failure_monitor": {"action": "stop", "window": 20}},
        g_optim={"lr": 1e-9}, d_optim={"lr": 1e-2}, **SMALL, **tiny,
    )
    trainer.setup()
    with torch.no_grad():
        trainer.gen.net[-2].weight.zero_()  # G outputs one point, off the ring
    with pytest.warns(TrainingFailureWarning, match="D loss below 0.01 for 20 steps"):
        history = trainer.fit()
    assert trainer.step < 300
    assert history.records[-1]["failure_d_loss_zero"] == 1.0
    assert all(d < 0.01 for d in history.d_loss[-20:])
    state = load_checkpoint(latest_checkpoint(trainer.run_dir))["tricks"]["failure_monitor"]
    assert [trainer.step, CHECKS.index("d_loss_zero")] in state["findings"]
    restored = FailureMonitor()
    restored.load_state_dict(state)
    assert restored.findings == trainer.tricks[0].findings


def test_record_action_neither_warns_nor_stops(tiny):
    tiny.update(steps=20, log_every=10)
    trainer = ganforge.Trainer(data="grid25", tricks=["failure_monitor"],
                               trick_options={"failure_monitor": {"action": "record"}}, **SMALL, **tiny)
    trainer.setup()
    with torch.no_grad():
        trainer.disc.head.weight.mul_(1e4)
    with warnings.catch_warnings():
        warnings.simplefilter("error", TrainingFailureWarning)
        history = trainer.fit()
    assert trainer.step == 20
    assert history["failure_grad_norm"] == [1.0, 1.0]


def test_healthy_run_stays_quiet(tiny):
    tiny.update(steps=60, log_every=10)  # long enough for every check to be evaluated
    trainer = ganforge.Trainer(data="grid25", tricks=["failure_monitor"], **SMALL, **tiny)
    with warnings.catch_warnings():
        warnings.simplefilter("error", TrainingFailureWarning)
        history = trainer.fit()
    assert history["failures"] == [0.0] * 6
    assert all(0 < n < 100 for n in history["grad_norm_gen"] + history["grad_norm_disc"])
    assert trainer.tricks[0].findings == []


def test_findings_reach_the_progress_line(tiny):
    trainer = ganforge.Trainer(data="grid25", tricks=["failure_monitor"], **tiny)
    trainer.setup()
    line = trainer._progress_line({"g_loss": 1.0, "d_loss": 0.5, "failures": 2.0, "grad_norm_gen": 3.0})
    assert line == "g=1.000 d=0.500 failures=2"
