"""clip_weights: every discriminator update ends with each D parameter in [-c, c]; G is left alone."""

from __future__ import annotations

from typing import ClassVar

import pytest

import ganforge


class AfterEachUpdate(ganforge.Trick):
    """Listed after clip_weights: records D's largest |parameter| after every D optimizer step."""

    name = "after_each_update"
    seen: ClassVar[list] = []

    def after_optimizer_step(self, net, module):
        AfterEachUpdate.seen.append((net, max(float(p.detach().abs().max()) for p in module.parameters())))


@pytest.fixture
def watcher(register):
    AfterEachUpdate.seen = []
    register(tricks=[AfterEachUpdate])
    return AfterEachUpdate


def run(tmp_path, tricks, loss="wgan", **more):
    trainer = ganforge.Trainer(loss=loss, tricks=tricks, data="grid25", steps=4, batch_size=16, latent_dim=8,
                               gen_options={"hidden": (16,)}, disc_options={"hidden": (16,)}, log_every=4,
                               sample_every=0, checkpoint_every=0, progress=False, device="cpu",
                               out_dir=str(tmp_path / "run"), **more)
    trainer.fit()
    return trainer


def test_every_d_update_under_d_steps_ends_clipped(tmp_path, watcher):
    trainer = run(tmp_path, ["d_steps", "clip_weights", "after_each_update"],
                  trick_options={"d_steps": {"k": 3}, "clip_weights": {"clip": 0.02}})
    d_updates = [m for net, m in watcher.seen if net == "disc"]
    assert len(d_updates) == 4 * 3  # every one of the k = 3 updates of each step, not once per step
    assert max(d_updates) <= 0.02
    largest = max(float(p.detach().abs().max()) for p in trainer.disc.parameters())
    assert largest == pytest.approx(0.02)  # the bound is hit
    assert max(float(p.detach().abs().max()) for p in trainer.gen.parameters()) > 0.02  # G's weights are not clipped


def test_without_it_the_critic_weights_exceed_the_bound(tmp_path, watcher):
    run(tmp_path, ["d_steps", "after_each_update"], trick_options={"d_steps": {"k": 3}})
    assert min(m for net, m in watcher.seen if net == "disc") > 0.02


def test_extra_discriminator_updates_are_clipped_too(tmp_path, watcher):
    """loss_balancing's extra D updates (outside d_steps) run through the same event."""
    run(tmp_path, ["clip_weights", "loss_balancing", "after_each_update"], loss="bce",  # bce: D's loss is > 0
        trick_options={"loss_balancing": {"threshold": 0.0, "max_extra": 2}})
    d_updates = [m for net, m in watcher.seen if net == "disc"]
    assert len(d_updates) == 4 * 3 and max(d_updates) <= 0.01


def test_clip_must_be_positive():
    with pytest.raises(ganforge.ConfigError, match=r"Option of trick 'clip_weights': 'clip' must be a number > 0 "
                                                   r"\(got -1\)"):
        ganforge.create_plugin("trick", "clip_weights", clip=-1)
    assert ganforge.create_plugin("trick", "clip_weights").options.clip == 0.01  # the WGAN paper's c
