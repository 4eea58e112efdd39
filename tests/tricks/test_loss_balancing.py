"""loss_balancing (ganhacks #11): extra D updates exactly as the threshold and the cap dictate."""

from __future__ import annotations

import math

import pytest
import torch

import ganforge
from ganforge.tricks.loss_balancing import LossBalancing

SMALL = dict(gen_options={"hidden": (16, 16)}, disc_options={"hidden": (16, 16)})


class ScriptedTrainer:
    """Stands in for the Trainer: each extra D update "measures" the next scripted lossD."""

    def __init__(self, trick: LossBalancing, losses: list[float]):
        self.trick, self.losses, self.updates = trick, list(losses), 0

    def update_discriminator(self) -> torch.Tensor:
        self.updates += 1
        self.trick.last_loss = torch.tensor(self.losses.pop(0))
        return self.trick.last_loss


@pytest.mark.parametrize(
    ("first", "later", "expected"),
    [
        (5.0, [4.0, 0.5, 9.0], 2),  # above, above, then below A = 1: two extra updates
        (0.5, [9.0, 9.0], 0),  # below A from the start: none
        (5.0, [9.0] * 10, 3),  # never below: capped at max_extra
    ],
)
def test_extra_updates_follow_the_measured_loss(first, later, expected):
    trick = LossBalancing(threshold=1.0, max_extra=3)
    trick.last_loss = torch.tensor(first)
    trainer = ScriptedTrainer(trick, later)
    trick.after_step(trainer, 0)
    assert trainer.updates == expected == trick.total


def test_loss_measured_is_the_plain_d_loss_of_the_latest_update():
    trick = LossBalancing()
    trick._loss = ganforge.registry.create_plugin("loss", "bce")
    real, fake = torch.tensor([2.0, -1.0]), torch.tensor([0.5, -3.0])
    batch = ganforge.interfaces.StepBatch(torch.zeros(2, 2), None, torch.zeros(2, 2), None, real, fake)
    assert trick.extra_loss("disc", batch) is None
    expected = torch.nn.functional.softplus(-real).mean() + torch.nn.functional.softplus(fake).mean()
    assert trick.last_loss.item() == pytest.approx(expected.item())


def d_optimizer_steps(trainer: ganforge.Trainer) -> int:
    param = next(trainer.disc.parameters())
    return int(trainer.opt_d.state[param]["step"])


def test_trainer_runs_capped_or_no_extra_updates(tiny):
    tiny.update(steps=6, log_every=3)
    always = ganforge.Trainer(data="grid25", tricks=["loss_balancing"],
                              trick_options={"loss_balancing": {"threshold": 0.0, "max_extra": 2}}, **SMALL, **tiny)
    history = always.fit()
    assert always.tricks[0].total == 12
    assert d_optimizer_steps(always) == 6 * (1 + 2)
    assert history["extra_d_updates"] == [6.0, 6.0]
    tiny["out_dir"] += "-never"
    never = ganforge.Trainer(data="grid25", tricks=["loss_balancing"],
                             trick_options={"loss_balancing": {"threshold": 1e9}}, **SMALL, **tiny)
    history = never.fit()
    assert never.tricks[0].total == 0
    assert d_optimizer_steps(never) == 6
    assert history["extra_d_updates"] == [0.0, 0.0]


def test_default_threshold_is_chance_level_bce_and_options_are_validated():
    assert LossBalancing().options.threshold == pytest.approx(2 * math.log(2))
    assert LossBalancing.capturable is False
    with pytest.raises(ganforge.ConfigError, match="'max_extra' must be an integer >= 0"):
        LossBalancing(max_extra=-1)
    with pytest.raises(ganforge.ConfigError, match="'threshold' must be a number >= 0"):
        LossBalancing(threshold="high")


def test_total_survives_a_checkpoint(tiny, tmp_path):
    trainer = ganforge.Trainer(data="grid25", tricks=["loss_balancing"],
                               trick_options={"loss_balancing": {"threshold": 0.0, "max_extra": 1}},
                               **SMALL, **dict(tiny, steps=4, log_every=2))
    trainer.fit()
    path = trainer.save_checkpoint(tmp_path / "c.pt")
    state = torch.load(path, weights_only=True)["tricks"]["loss_balancing"]
    restored = LossBalancing()
    restored.load_state_dict(state)
    assert restored.total == 4
