"""soft_labels (ganhacks #6): targets within their ranges, fresh each step, used by the Trainer."""

from __future__ import annotations

import pytest
import torch

import ganforge
from ganforge.tricks.soft_labels import SoftLabels


def test_targets_lie_in_their_ranges_and_vary():
    trick = SoftLabels()
    ones, zeros = torch.ones(10_000), torch.zeros(10_000)
    real, fake = trick.targets(ones, zeros)
    assert real.min() >= 0.7 and real.max() <= 1.2
    assert fake.min() >= 0.0 and fake.max() <= 0.3
    # Uniform: the means sit mid-range and the values spread over it.
    assert real.mean().item() == pytest.approx(0.95, abs=0.01)
    assert fake.mean().item() == pytest.approx(0.15, abs=0.01)
    assert real.std().item() == pytest.approx(0.5 / 12**0.5, abs=0.01)
    again, _ = trick.targets(ones, zeros)
    assert not torch.equal(real, again)


def test_ranges_are_configurable_and_validated():
    real, fake = SoftLabels(real_range=(0.8, 0.8), fake_range=(0.1, 0.1)).targets(torch.ones(5), torch.zeros(5))
    assert torch.allclose(real, torch.full((5,), 0.8))
    assert torch.allclose(fake, torch.full((5,), 0.1))
    with pytest.raises(ganforge.ConfigError, match="'real_range' must be a pair with low <= high"):
        SoftLabels(real_range=(1.2, 0.7))
    with pytest.raises(ganforge.ConfigError, match="'fake_range' must be a pair"):
        SoftLabels(fake_range="soft")


def test_trainer_uses_soft_targets(tiny):
    """The discriminator loss with soft targets differs from the hard-target loss on the same seed."""
    hard = ganforge.Trainer(data="grid25", gen_options={"hidden": (16, 16)}, **tiny).fit()
    tiny["out_dir"] += "-soft"
    soft = ganforge.Trainer(data="grid25", gen_options={"hidden": (16, 16)}, tricks=["soft_labels"], **tiny).fit()
    # Same seed, same models, same first generator step: G's first loss matches exactly ...
    assert soft.g_loss[0] == hard.g_loss[0]
    # ... but the discriminator trained on soft targets (a different, non-zero-minimum loss).
    assert soft.d_loss[0] != pytest.approx(hard.d_loss[0], abs=1e-4)


def test_options_reach_the_trick(tiny):
    trainer = ganforge.Trainer(data="grid25", tricks=["soft_labels"],
                               trick_options={"soft_labels": {"real_range": (0.9, 1.0)}}, **tiny)
    trainer.setup()
    assert trainer.tricks[0].options.real_range == (0.9, 1.0)
    with pytest.raises(ganforge.ConfigError, match="Unknown option 'real' for trick 'soft_labels'"):
        ganforge.Trainer(data="grid25", tricks=["soft_labels"], trick_options={"soft_labels": {"real": (0, 1)}})
