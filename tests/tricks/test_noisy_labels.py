"""noisy_labels (ganhacks #6): each D target flips with probability p."""

from __future__ import annotations

import pytest
import torch

import ganforge
from ganforge.tricks.noisy_labels import NoisyLabels
from ganforge.tricks.one_sided_label_smoothing import OneSidedLabelSmoothing

SMALL = dict(gen_options={"hidden": (16, 16)}, disc_options={"hidden": (16, 16)})
N = 200_000


@pytest.mark.parametrize("p", [0.05, 0.2])
def test_measured_flip_rate_is_p_on_both_sides(p):
    torch.manual_seed(0)
    real, fake = NoisyLabels(p=p).targets(torch.ones(N), torch.zeros(N))
    # Values stay hard labels: a flipped real is 0, a flipped fake is 1.
    assert set(real.unique().tolist()) == {0.0, 1.0} and set(fake.unique().tolist()) == {0.0, 1.0}
    sd = (p * (1 - p) / N) ** 0.5
    assert (real == 0).float().mean().item() == pytest.approx(p, abs=5 * sd)
    assert (fake == 1).float().mean().item() == pytest.approx(p, abs=5 * sd)
    # Real and fake flips are drawn independently.
    both = ((real == 0) & (fake == 1)).float().mean().item()
    assert both == pytest.approx(p * p, abs=5 * (p * p / N) ** 0.5 + 1e-4)


def test_fresh_draw_every_call_and_p_zero_is_identity():
    trick = NoisyLabels(p=0.3)
    a, _ = trick.targets(torch.ones(1000), torch.zeros(1000))
    b, _ = trick.targets(torch.ones(1000), torch.zeros(1000))
    assert not torch.equal(a, b)
    real, fake = NoisyLabels(p=0.0).targets(torch.ones(1000), torch.zeros(1000))
    assert torch.equal(real, torch.ones(1000)) and torch.equal(fake, torch.zeros(1000))


def test_flips_smoothed_targets_to_one_minus_t():
    real, fake = OneSidedLabelSmoothing().targets(torch.ones(N), torch.zeros(N))
    real, fake = NoisyLabels(p=0.5).targets(real, fake)
    assert set(torch.round(real * 100).unique().tolist()) == {10.0, 90.0}
    assert (real < 0.5).float().mean().item() == pytest.approx(0.5, abs=0.01)


@pytest.mark.parametrize("bad", [-0.1, 0.6, "0.05", None])
def test_bad_p_is_rejected(bad):
    with pytest.raises(ganforge.ConfigError, match="'p' must be a number >= 0 and <= 0.5"):
        NoisyLabels(p=bad)


def test_trainer_runs_with_noisy_targets(tiny):
    clean = ganforge.Trainer(data="grid25", **SMALL, **tiny).fit()
    tiny["out_dir"] += "-noisy"
    noisy = ganforge.Trainer(data="grid25", tricks=["noisy_labels"], trick_options={"noisy_labels": {"p": 0.5}},
                             **SMALL, **tiny).fit()
    assert noisy.g_loss[0] == clean.g_loss[0]
    assert noisy.d_loss[0] != pytest.approx(clean.d_loss[0], abs=1e-4)
