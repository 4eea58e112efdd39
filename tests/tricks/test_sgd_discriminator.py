"""sgd_discriminator (ganhacks #9): D on SGD, G stays on Adam."""

from __future__ import annotations

import pytest
import torch

import ganforge

SMALL = dict(gen_options={"hidden": (16, 16)}, disc_options={"hidden": (16, 16)})


def test_discriminator_gets_sgd_and_generator_keeps_adam(tiny):
    trainer = ganforge.Trainer(data="grid25", tricks=["sgd_discriminator"], **SMALL, **tiny).setup()
    assert type(trainer.opt_d) is torch.optim.SGD
    assert type(trainer.opt_g) is torch.optim.Adam
    group = trainer.opt_d.param_groups[0]
    assert group["lr"] == 0.01 and group["momentum"] == 0.9
    assert trainer.opt_g.param_groups[0]["lr"] == 2e-4


def test_options_and_weight_decay_reach_the_optimizer(tiny):
    trainer = ganforge.Trainer(data="grid25", tricks=["sgd_discriminator"], d_optim={"weight_decay": 1e-4},
                               trick_options={"sgd_discriminator": {"lr": 0.05, "momentum": 0.0}}, **SMALL, **tiny)
    history = trainer.fit()
    group = trainer.opt_d.param_groups[0]
    assert (group["lr"], group["momentum"], group["weight_decay"]) == (0.05, 0.0, 1e-4)
    assert len(history.d_loss) == tiny["steps"]


@pytest.mark.parametrize("options, message", [
    ({"lr": 0}, "'lr' must be a number > 0"),
    ({"momentum": 1.0}, "'momentum' must be a number >= 0 and < 1"),
])
def test_bad_options(options, message):
    with pytest.raises(ganforge.ConfigError, match=message):
        ganforge.create_plugin("trick", "sgd_discriminator", **options)
