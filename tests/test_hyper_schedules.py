"""Schedules of any numeric hyper-parameter (``TrainConfig.schedules``): Adam's betas, the EMA, plugin options.

Each value is a device tensor the step rewrites from the step count; these tests check the formula, that the
optimizer, the EMA and the plugin really use the value, the errors for what cannot be scheduled, and that a
resumed run continues exactly.
"""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import pytest
import torch

import ganforge
from ganforge.config import ScheduleConfig, TrainConfig
from ganforge.training.schedules import half_life_to_decay, schedule_value

SMALL = dict(data="grid25", gen_options={"hidden": (16,)}, disc_options={"hidden": (16,)}, latent_dim=4)


def values(spec: ScheduleConfig, total: int) -> list[float]:
    return [round(float(schedule_value(spec, torch.tensor(t), total)), 6) for t in range(total)]


# -- the formula ------------------------------------------------------------------------------


def test_linear_and_cosine_run_from_start_to_end_over_the_run():
    assert values(ScheduleConfig(kind="linear", start=0.9, end=0.99), 4) == [0.9, 0.93, 0.96, 0.99]
    got = values(ScheduleConfig(kind="cosine", start=1.0, end=0.0), 5)
    assert got == pytest.approx([(1 + math.cos(math.pi * t / 4)) / 2 for t in range(5)], abs=1e-6)
    assert values(ScheduleConfig(start=0.5), 3) == [0.5, 0.5, 0.5]


def test_steps_limits_the_change_and_the_value_then_holds():
    assert values(ScheduleConfig(kind="linear", start=0.0, end=3.0, steps=4), 7) == [0, 1, 2, 3, 3, 3, 3]


def test_warmup_rises_from_warmup_from_then_the_change_runs_over_the_rest():
    spec = ScheduleConfig(kind="linear", start=1.0, end=0.0, warmup=2, warmup_from=0.5)
    assert values(spec, 6) == [0.75, 1.0, 1.0, 0.666667, 0.333333, 0.0]


def test_a_half_life_of_h_updates_halves_the_weight_after_h_updates():
    decay = half_life_to_decay(torch.tensor([0.0, 1.0, 10.0]))
    assert decay[0] == 0.0 and decay[1] == pytest.approx(0.5)
    assert float(decay[2]) ** 10 == pytest.approx(0.5, rel=1e-5)


# -- configuration ----------------------------------------------------------------------------


def test_the_string_form_and_the_mapping_form_are_one_schedule_and_round_trip():
    config = TrainConfig(schedules={"d_optim.beta2": "cosine:0.9:0.99", "r1.gamma": "constant:2"})
    assert config.schedules["d_optim.beta2"] == ScheduleConfig(kind="cosine", start=0.9, end=0.99)
    assert config.schedules["r1.gamma"].final == 2.0
    assert TrainConfig.from_dict(config.to_dict()) == config
    assert config.to_dict()["schedules"]["d_optim.beta2"]["end"] == 0.99


@pytest.mark.parametrize("schedules, message", [
    ({"beta2": "cosine:0.9:0.99"}, "keys name a hyper-parameter as OWNER.NAME"),
    ({"d_optim.beta2": "cosin:0.9:0.99"}, "did you mean 'cosine'"),
    ({"d_optim.beta2": "cosine:a:b"}, r"must be KIND:START\[:END\]"),
    ({"d_optim.beta2": {"kind": "linear", "end": 0.99}}, "needs a 'start' value"),
    ({"d_optim.beta2": {"start": 0.9, "ramp": 3}}, "Unknown schedule 'd_optim.beta2' setting 'ramp'"),
    ({"d_optim.beta2": {"start": 0.9, "warmup": -1}}, "'warmup' must be an integer >= 0"),
])
def test_bad_schedules_name_the_problem(schedules, message):
    with pytest.raises(ganforge.ConfigError, match=message):
        TrainConfig(schedules=schedules)


def test_the_command_line_sets_schedules(tmp_path):
    from ganforge.cli import build_parser
    from ganforge.cli.train import settings_from_args

    args = build_parser().parse_args(["train", "--schedule", "d_optim.beta2=cosine:0.9:0.99",
                                      "--schedule", "ema.half_life=linear:0:100"])
    config = TrainConfig.from_dict(settings_from_args(args))
    assert config.schedules["ema.half_life"] == ScheduleConfig(kind="linear", start=0.0, end=100.0)
    assert config.schedules["d_optim.beta2"].kind == "cosine"


# -- the run uses them --------------------------------------------------------------------------


def test_logged_values_follow_the_schedules_and_the_users_read_the_tensors(tiny):
    spec = {"d_optim.beta2": "linear:0.9:0.99", "g_optim.beta1": "cosine:0.5:0.0", "r1.gamma": "cosine:0.05:0.005",
            "ema.half_life": "linear:0:10"}
    trainer = ganforge.Trainer(**SMALL, **{**tiny, "steps": 10, "log_every": 5}, regularizers=["r1"],
                               ema_decay=0.9, schedules=spec)
    trainer.fit()
    config = trainer.config.schedules
    for record in trainer.history.records:  # the values the record's last step (0-based step - 1) used
        for name in spec:
            want = float(schedule_value(config[name], torch.tensor(record["step"] - 1), 10))
            assert record[name] == pytest.approx(want, rel=1e-6), name
    b1, b2 = trainer.opt_g.param_groups[0]["betas"]
    assert torch.is_tensor(b1) and float(b1) == pytest.approx(0.0, abs=1e-7)
    assert float(trainer.opt_d.param_groups[0]["betas"][1]) == pytest.approx(0.99)
    assert float(trainer.regularizers[0].options.gamma) == pytest.approx(0.005)
    assert float(trainer.ema.decay) == pytest.approx(0.5 ** (1 / 10))
    assert "schedules: d_optim.beta2 linear 0.9->0.99" in trainer._describe(False)


def test_a_constant_schedule_trains_as_the_plain_setting(tiny, tmp_path):
    """The scheduled tensors give the same arithmetic as the floats: R1's gamma and the EMA decay bit for bit."""
    base = dict(**SMALL, **{**tiny, "steps": 8, "log_every": 1}, regularizers=["r1"],
                regularizer_options={"r1": {"gamma": 0.5}}, ema_decay=0.9)
    plain = ganforge.Trainer(**{**base, "out_dir": str(tmp_path / "plain")}).fit()
    scheduled = ganforge.Trainer(**{**base, "out_dir": str(tmp_path / "scheduled")},
                                 schedules={"r1.gamma": "constant:0.5", "ema.decay": "constant:0.9"}).fit()
    assert scheduled.d_loss == plain.d_loss and scheduled.g_loss == plain.g_loss
    z = torch.randn(16, 4, generator=torch.Generator().manual_seed(3))
    samples = [ganforge.Trainer.resume(tmp_path / name).sample(z=z) for name in ("plain", "scheduled")]
    assert torch.equal(samples[0], samples[1])  # the averages (sampled by default) are equal


def test_a_scheduled_value_changes_the_training(tiny, tmp_path):
    base = dict(**SMALL, **{**tiny, "steps": 6, "log_every": 1}, regularizers=["r1"],
                regularizer_options={"r1": {"gamma": 1.0}})
    plain = ganforge.Trainer(**{**base, "out_dir": str(tmp_path / "plain")}).fit()
    ramped = ganforge.Trainer(**{**base, "out_dir": str(tmp_path / "ramped")},
                              schedules={"r1.gamma": "linear:1:100"}).fit()
    assert ramped.d_loss[0] == plain.d_loss[0]  # step 0 uses the start value, the same gamma
    assert ramped.d_loss[-1] != plain.d_loss[-1]


def test_a_scheduled_beta2_is_the_one_adam_uses():
    """Adam with the scheduled tensor betas against Adam given the same floats by hand, step by step."""
    torch.manual_seed(0)
    net = torch.nn.Linear(3, 2)
    twin = torch.nn.Linear(3, 2)
    twin.load_state_dict(net.state_dict())
    from ganforge.training.optim import build_optimizer
    from ganforge.training.schedules import bind_schedules

    config = ganforge.config.OptimConfig(lr=1e-2, betas=(0.0, 0.9))
    opt = build_optimizer(net.parameters(), config, torch.device("cpu"), tensor_betas=True)
    ref = torch.optim.Adam(twin.parameters(), lr=1e-2, betas=(0.0, 0.9), foreach=False)
    spec = ScheduleConfig(kind="linear", start=0.9, end=0.99)
    schedule = bind_schedules({"d_optim.beta2": spec}, optimizers={"d_optim": opt}, ema=None, plugins={},
                              total=4, device=torch.device("cpu"))
    for t in range(4):
        step = torch.tensor(t)
        schedule.apply(step)
        ref.param_groups[0]["betas"] = (0.0, float(schedule_value(spec, step, 4)))
        x = torch.randn(5, 3)
        for model, o in ((net, opt), (twin, ref)):
            o.zero_grad()
            model(x).square().sum().backward()
            o.step()
    assert torch.allclose(net.weight, twin.weight, rtol=1e-5, atol=1e-6)
    assert float(opt.param_groups[0]["betas"][1]) == pytest.approx(0.99)


def test_a_zero_half_life_makes_the_average_copy_the_generator(tiny):
    trainer = ganforge.Trainer(**SMALL, **{**tiny, "steps": 4}, ema_decay=0.999,
                               schedules={"ema.half_life": "constant:0"})
    trainer.fit()
    for avg, weight in zip(trainer.ema.model.parameters(), trainer.gen.parameters()):
        assert torch.equal(avg, weight)


# -- what cannot be scheduled ------------------------------------------------------------------


@pytest.mark.parametrize("more, message", [
    ({"schedules": {"r1.every": "linear:1:4"}}, "'every' is not declared schedulable.*schedulable options: gamma"),
    ({"schedules": {"r1.gama": "linear:1:4"}}, "r1 has no option 'gama'"),
    ({"schedules": {"rl.gamma": "linear:1:4"}}, "'rl' is not an optimizer.*Did you mean 'r1.gamma'"),
    ({"schedules": {"g_optim.lr": "linear:1:0"}}, "Learning rates have their own schedule"),
    ({"schedules": {"d_optim.beta2": "linear:0.9:1.0"}}, r"reaches 1.0, but d_optim.beta2 must be in \[0, 1\)"),
    ({"schedules": {"d_optim.beta2": "constant:0.9"}, "d_optim": {"name": "sgd"}}, "SGD, which has no betas"),
    ({"schedules": {"ema.decay": "constant:0.9"}}, "keeps no generator EMA: set ema_decay"),
    ({"schedules": {"ema.decay": "constant:0.9", "ema.half_life": "constant:5"}, "ema_decay": 0.9}, "not both"),
    ({"schedules": {"r1.gamma": "linear:1:0"}}, "Schedule of 'r1.gamma' reaches 0.0: 'gamma' must be"),
])
def test_what_cannot_be_scheduled_is_refused_with_the_fix(tiny, more, message):
    settings = {**SMALL, **tiny, "regularizers": ["r1"], **more}
    with pytest.raises(ganforge.ConfigError, match=message):
        ganforge.Trainer(**settings).setup()


def test_plugins_list_their_schedulable_options():
    from ganforge.options import describe_options
    from ganforge.regularizers import R1

    options = {o.name: o for o in describe_options(R1)}
    assert options["gamma"].schedulable and not options["every"].schedulable
    assert options["gamma"].to_json()["schedulable"] is True and "schedulable" not in options["every"].to_json()


# -- resume ----------------------------------------------------------------------------------


def test_resume_continues_every_schedule_exactly(tiny, tmp_path):
    settings = dict(**SMALL, **{**tiny, "steps": 12, "checkpoint_every": 6, "log_every": 1}, regularizers=["r1"],
                    ema_decay=0.99, g_optim={"betas": (0.0, 0.9)}, d_optim={"betas": (0.0, 0.9)},
                    schedules={"d_optim.beta2": "cosine:0.9:0.99", "g_optim.beta2": "linear:0.9:0.99",
                               "r1.gamma": {"kind": "cosine", "start": 0.5, "end": 0.05, "warmup": 2,
                                            "warmup_from": 0.1},
                               "ema.half_life": "linear:0:20"})
    whole = ganforge.Trainer(**settings)
    whole.fit()
    halfway = tmp_path / "copy" / "checkpoints"
    halfway.mkdir(parents=True)
    shutil.copy(Path(settings["out_dir"]) / "checkpoints" / "step_0000006.pt", halfway)
    resumed = ganforge.Trainer.resume(tmp_path / "copy")
    resumed.fit()
    assert resumed.history.g_loss == whole.history.g_loss
    assert resumed.history.d_loss == whole.history.d_loss
    assert [r["r1.gamma"] for r in resumed.history.records[-6:]] == [r["r1.gamma"] for r in whole.history.records[-6:]]
    assert resumed.opt_d.param_groups[0]["betas"][1] is resumed.hyper_schedules.betas[resumed.opt_d][1]
    for a, b in zip(resumed.ema.model.parameters(), whole.ema.model.parameters()):
        assert torch.equal(a, b)
