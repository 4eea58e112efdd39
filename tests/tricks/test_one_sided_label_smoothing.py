"""one_sided_label_smoothing (ganhacks #6): real targets 0.9, fake targets untouched."""

from __future__ import annotations

import pytest
import torch

import ganforge
from ganforge.tricks.one_sided_label_smoothing import OneSidedLabelSmoothing

SMALL = dict(gen_options={"hidden": (16, 16)}, disc_options={"hidden": (16, 16)})


def test_only_the_real_side_is_smoothed():
    real, fake = OneSidedLabelSmoothing().targets(torch.ones(32), torch.zeros(32))
    assert torch.equal(real, torch.full((32,), 0.9))
    assert torch.equal(fake, torch.zeros(32))
    real, _ = OneSidedLabelSmoothing(real_target=0.75).targets(torch.ones(4), torch.zeros(4))
    assert torch.equal(real, torch.full((4,), 0.75))


@pytest.mark.parametrize("bad", [0, 1.5, -0.1, "0.9", True])
def test_bad_real_target_is_rejected(bad):
    with pytest.raises(ganforge.ConfigError, match="'real_target' must be a number > 0 and <= 1"):
        OneSidedLabelSmoothing(real_target=bad)


def test_trainer_discriminator_sees_smoothed_targets(tiny):
    hard = ganforge.Trainer(data="grid25", **SMALL, **tiny).fit()
    tiny["out_dir"] += "-smooth"
    smooth = ganforge.Trainer(data="grid25", tricks=["one_sided_label_smoothing"], **SMALL, **tiny).fit()
    assert smooth.g_loss[0] == hard.g_loss[0]  # same seed, same first G step
    # BCE against 0.9 has a non-zero minimum: the first D loss moves up by more than rounding.
    assert smooth.d_loss[0] != pytest.approx(hard.d_loss[0], abs=1e-4)


def test_conflicts_with_soft_labels(tiny):
    with pytest.raises(ganforge.IncompatibleError, match="cannot be combined with 'soft_labels'"):
        ganforge.Trainer(data="grid25", tricks=["soft_labels", "one_sided_label_smoothing"], **tiny).setup()
