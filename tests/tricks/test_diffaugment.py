"""diffaugment: every image D sees is augmented alike, gradients reach G, adaptive p follows D's over-fitting."""

from __future__ import annotations

from types import SimpleNamespace
from typing import ClassVar

import pytest
import torch
import torch.distributed as dist

import ganforge
from ganforge.interfaces import LossContext


class Recorder(ganforge.Trick):
    """Listed after diffaugment: keeps every batch D is given, with its real/fake flag."""

    name = "recorder"
    seen: ClassVar[list] = []

    def disc_input(self, x, real):
        Recorder.seen.append((real, x.detach().clone()))
        return x


@pytest.fixture
def recorder(register):
    Recorder.seen = []
    register(tricks=[Recorder])
    return Recorder


def settings(tmp_path, data, **more):
    return {"data": data, "steps": 2, "batch_size": 8, "latent_dim": 8, "gen_options": {"hidden": (16,)},
            "disc_options": {"hidden": (16,)}, "log_every": 1, "sample_every": 0, "checkpoint_every": 0,
            "progress": False, "device": "cpu", "out_dir": str(tmp_path / "run"), **more}


def test_every_batch_d_sees_is_cut_out_real_and_fake_in_both_updates(tmp_path, image_data, recorder):
    ganforge.Trainer(**settings(tmp_path, image_data, tricks=["diffaugment", "recorder"],
                                trick_options={"diffaugment": {"policy": ["cutout"]}})).fit()
    # Per step: G's update shows D the fakes; D's update the reals, then the fakes.
    assert [real for real, _ in recorder.seen] == [False, True, False] * 2
    for real, x in recorder.seen:
        # Model-space images are never exactly 0 (uint8 v maps to v / 127.5 - 1), nor are tanh outputs here:
        # each sample has its cutout hole, a rectangle of 2 to 4 pixels a side at 8x8, in every channel.
        hole = (x == 0).all(dim=1)
        sides = torch.stack([hole.any(2).sum(1), hole.any(1).sum(1)], 1)
        assert ((sides >= 2) & (sides <= 4)).all(), (real, sides)
        assert torch.equal(hole.sum((1, 2)), sides.prod(1))


def test_translation_zeroes_borders_of_reals_and_fakes_alike(tmp_path, image_data, recorder):
    ganforge.Trainer(**settings(tmp_path, image_data, tricks=["diffaugment", "recorder"], batch_size=64,
                                trick_options={"diffaugment": {"policy": ["translation"]}})).fit()
    for real, x in recorder.seen:
        zero_rows = (x == 0).all(dim=(1, 3))  # (B, H): rows that are zero across channels and columns
        border = zero_rows[:, 0] | zero_rows[:, -1]
        assert 0.2 < border.float().mean() < 0.9, real  # shift 1 px of 8 up or down in about 2/3 of the images
        assert not zero_rows[:, 1:-1].any()  # never more than the 1-pixel border at 8x8


def test_without_the_trick_d_sees_the_images_unchanged(tmp_path, image_data, recorder):
    trainer = ganforge.Trainer(**settings(tmp_path, image_data, tricks=["recorder"]))
    trainer.fit()
    assert all(not (x == 0).any() for _, x in recorder.seen)


def test_gradients_reach_the_generator_through_the_augmentation(tmp_path, image_data):
    trainer = ganforge.Trainer(**settings(tmp_path, image_data, tricks=["diffaugment"])).setup()
    real, labels = trainer.batches.next()
    step = trainer.step_fn
    step.optimizer_step = lambda opt: None  # keep the gradients of this update to look at them
    step.generator_update(real, labels)
    grads = [p.grad for p in trainer.gen.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert sum(float(g.abs().sum()) for g in grads) > 0


def test_refuses_point_data_before_building_models(tmp_path):
    trainer = ganforge.Trainer(**settings(tmp_path, "grid25", tricks=["diffaugment"]))
    with pytest.raises(ganforge.IncompatibleError, match=r"^Trick 'diffaugment' augments images \(channels, height, "
                                                         r"width\), but the data's samples have shape \(2,\)"):
        trainer.setup()
    assert trainer.gen is None


def test_options_are_checked():
    with pytest.raises(ganforge.ConfigError, match="'policy' must be a list of 1 or more policies"):
        ganforge.create_plugin("trick", "diffaugment", policy=["colour"])
    with pytest.raises(ganforge.ConfigError, match="'p' must be None or a number >= 0 and <= 1"):
        ganforge.create_plugin("trick", "diffaugment", p=1.5)
    assert float(ganforge.create_plugin("trick", "diffaugment").p) == 1.0
    assert float(ganforge.create_plugin("trick", "diffaugment", adaptive=True).p) == 0.0  # ADA starts at 0


# -- adaptive p ---------------------------------------------------------------------------------------


def adaptive(**options):
    trick = ganforge.create_plugin("trick", "diffaugment", adaptive=True, **options)
    trick.setup(SimpleNamespace(device=torch.device("cpu"), config=SimpleNamespace(batch_size=16), world_size=1))
    return trick


def d_update(trick, real_logits):
    n = len(real_logits)
    trick.observe(LossContext(torch.zeros(n, 3, 8, 8), None, torch.zeros(n, 3, 8, 8), None, real_logits,
                              torch.zeros(n), phase="disc"))


def test_adaptive_step_size_follows_the_500k_image_rule():
    trick = adaptive()
    assert trick.step_size == pytest.approx(4 * 16 / 500_000)  # p can go 0 -> 1 in 500k real images
    assert adaptive(adjust_every=2, adjust_images=320).step_size == pytest.approx(0.1)


def test_p_rises_for_a_d_confident_on_reals_and_falls_when_d_doubts_them():
    trick = adaptive(adjust_every=2, adjust_images=320, p=0.5)  # steps of 0.1 every 2 D updates
    overfit = torch.full((16,), 8.0)  # D calls every real image real: r_t = 1 > 0.6
    d_update(trick, overfit)
    assert float(trick.p) == 0.5  # not yet: every 2 updates
    d_update(trick, overfit)
    assert float(trick.p) == pytest.approx(0.6) and float(trick.last_rt) == 1.0
    for _ in range(10):
        d_update(trick, overfit)
    assert float(trick.p) == pytest.approx(1.0)  # clipped at 1
    doubtful = torch.tensor([3.0] * 4 + [-3.0] * 12)  # r_t = (4 - 12) / 16 = -0.5 < 0.6
    for _ in range(4):
        d_update(trick, doubtful)
    assert float(trick.p) == pytest.approx(0.8) and float(trick.last_rt) == -0.5
    # Only D's updates count; G's contexts are ignored.
    trick.observe(LossContext(torch.zeros(1), None, torch.zeros(1), None, overfit, overfit, phase="gen"))
    assert int(trick.updates) == 0


def test_p_rises_in_training_against_an_overfitting_discriminator(tmp_path, image_data):
    """A D whose logit on every image is +20 (it learns at lr 1e-12) calls all reals real: p climbs each adjustment."""
    trainer = ganforge.Trainer(**settings(tmp_path, image_data, tricks=["diffaugment"], steps=6, batch_size=16,
                                          d_optim={"lr": 1e-12},
                                          trick_options={"diffaugment": {"adaptive": True, "adjust_every": 2,
                                                                         "adjust_images": 320}})).setup()
    with torch.no_grad():
        for p in trainer.disc.head.parameters():
            p.zero_()
        trainer.disc.head.bias.fill_(20.0)
    history = trainer.fit()
    assert history["diffaugment_p"] == pytest.approx([0.0, 0.1, 0.1, 0.2, 0.2, 0.3])
    assert history["diffaugment_rt"][-1] == 1.0


def test_adaptive_statistics_are_summed_over_the_ranks_under_ddp(tmp_path, image_data, monkeypatch):
    calls = []
    all_reduce = dist.all_reduce

    def counting(tensor, *args, **kwargs):
        calls.append(tuple(tensor.shape))
        return all_reduce(tensor, *args, **kwargs)

    monkeypatch.setattr(dist, "all_reduce", counting)
    trainer = ganforge.Trainer(**settings(tmp_path, image_data, tricks=["diffaugment"], steps=3, strategy="ddp",
                                          trick_options={"diffaugment": {"adaptive": True}}))
    trainer.fit()
    assert calls.count((2,)) == 3  # one sum of (sign total, count) per D update
