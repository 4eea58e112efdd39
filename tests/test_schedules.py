"""Learning-rate schedules and TTUR: values on the device, used by the optimizers, exact on resume."""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import pytest
import torch

import ganforge
from ganforge.config import OptimConfig
from ganforge.training.schedules import lr_factor

SMALL = dict(data="grid25", gen_options={"hidden": (16,)}, disc_options={"hidden": (16,)}, latent_dim=4)


def factors(config: OptimConfig, total: int) -> list[float]:
    return [round(float(lr_factor(config, torch.tensor(t), total)), 6) for t in range(total)]


def test_linear_decays_to_the_final_rate_at_the_last_step():
    config = OptimConfig(lr=1e-3, schedule="linear", final_lr=1e-4)
    assert factors(config, 4) == [1.0, 0.7, 0.4, 0.1]


def test_cosine_follows_half_a_cosine():
    config = OptimConfig(lr=1.0, schedule="cosine", final_lr=0.0)
    got = factors(config, 5)
    assert got == pytest.approx([(1 + math.cos(math.pi * t / 4)) / 2 for t in range(5)], abs=1e-6)


def test_warmup_rises_then_the_schedule_runs_over_the_rest():
    config = OptimConfig(lr=1.0, schedule="linear", final_lr=0.0, warmup=2)
    assert factors(config, 6) == [0.5, 1.0, 1.0, 0.666667, 0.333333, 0.0]
    assert factors(OptimConfig(lr=1.0, warmup=3), 5) == [0.333333, 0.666667, 1.0, 1.0, 1.0]


def test_the_optimizers_follow_the_schedule_during_training(tiny):
    trainer = ganforge.Trainer(**SMALL, **{**tiny, "steps": 5},
                               g_optim={"lr": 1e-3, "schedule": "linear", "final_lr": 0.0},
                               d_optim={"lr": 4e-3})  # TTUR: D faster, constant
    seen = []
    trainer.setup()
    original = trainer.step_fn.generator_update

    def spy(real, labels, condition=None):
        seen.append(float(trainer.opt_g.param_groups[0]["lr"]))
        return original(real, labels, condition)

    trainer.step_fn.generator_update = spy
    trainer.fit()
    assert seen == pytest.approx([1e-3, 7.5e-4, 5e-4, 2.5e-4, 0.0])
    assert trainer.opt_d.param_groups[0]["lr"] == 4e-3 and not torch.is_tensor(trainer.opt_d.param_groups[0]["lr"])
    assert len(trainer.schedules) == 1


def test_resume_continues_the_schedule_exactly(tiny, tmp_path):
    sched = {"lr": 1e-3, "schedule": "cosine", "final_lr": 1e-5, "warmup": 3}
    settings = dict(**SMALL, **{**tiny, "steps": 12, "checkpoint_every": 6, "log_every": 1}, g_optim=sched,
                    d_optim={**sched, "schedule": "linear"})
    whole = ganforge.Trainer(**settings)
    whole.fit()
    halfway = tmp_path / "copy" / "checkpoints"
    halfway.mkdir(parents=True)
    shutil.copy(Path(settings["out_dir"]) / "checkpoints" / "step_0000006.pt", halfway)
    resumed = ganforge.Trainer.resume(tmp_path / "copy")
    resumed.fit()
    assert resumed.history.g_loss == whole.history.g_loss
    assert resumed.history.d_loss == whole.history.d_loss
    assert float(resumed.opt_g.param_groups[0]["lr"]) == float(whole.opt_g.param_groups[0]["lr"])


def test_schedule_options_are_checked():
    with pytest.raises(ganforge.ConfigError, match="'schedule' must be one of"):
        OptimConfig(schedule="step")
    with pytest.raises(ganforge.ConfigError, match="'warmup' must be an integer >= 0"):
        OptimConfig(warmup=-1)
