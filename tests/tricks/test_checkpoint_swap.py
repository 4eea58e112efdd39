"""checkpoint_swap (ganhacks #8): every `every` steps, k steps against the network from `every` steps earlier."""

from __future__ import annotations

import io

import pytest
import torch
from torch import nn

import ganforge
from ganforge.tricks.checkpoint_swap import CheckpointSwap

SMALL = dict(gen_options={"hidden": (16, 16)}, disc_options={"hidden": (16, 16)})


def test_schedule_swaps_in_the_version_from_every_steps_ago_and_restores_the_live_one():
    net = nn.BatchNorm1d(3)  # parameters and buffers
    trick = CheckpointSwap(every=4, k=2)
    trick.attach(net)  # snapshot of the initial weights (weight 1)
    seen = {}
    for step in range(13):
        trick.before_step(None, step)
        seen[step] = float(net.weight[0].detach())
        with torch.no_grad():  # "training": each step leaves the step number + 10 in the weights
            net.weight.fill_(step + 10)
            net.running_mean.fill_(step + 10)
    # Steps 4-5 run the initial version, steps 8-9 the version live before step 4 (left by step 3), ...
    assert seen[4] == 1.0 and seen[8] == 13.0 and seen[12] == 17.0
    # ... and after k = 2 steps the live version from before the swap comes back, discarding the old one's steps.
    assert seen[6] == 13.0 and seen[10] == 17.0
    assert seen[3] == 12.0 and seen[7] == 16.0
    assert float(net.running_mean[0]) == 22.0 and trick.swapped  # step 12 swapped, buffers too
    assert float(trick.snapshot["running_mean"][0]) == 21.0


def test_state_round_trips_through_weights_only_load():
    net = nn.Linear(3, 2)
    trick = CheckpointSwap(every=2, k=1)
    trick.attach(net)
    trick.before_step(None, 2)
    buf = io.BytesIO()
    torch.save(trick.state_dict(), buf)
    buf.seek(0)
    state = torch.load(buf, weights_only=True)
    other = CheckpointSwap(every=2, k=1)
    other.attach(nn.Linear(3, 2))
    other.load_state_dict(state)
    assert other.swapped_at == 2
    assert all(torch.equal(other.snapshot[n], trick.snapshot[n]) for n in trick.snapshot)
    with pytest.raises(ganforge.CheckpointError, match="resume with the same models"):
        mismatched = CheckpointSwap(every=2, k=1)
        mismatched.attach(nn.BatchNorm1d(3))
        mismatched.load_state_dict(state)


@pytest.mark.parametrize("which", ["disc", "gen"])
def test_trainer_resumes_exactly_in_the_middle_of_a_swap(tiny, which):
    options = {"checkpoint_swap": {"every": 4, "k": 3, "which": which}}
    tiny.update(steps=5)  # the checkpoint at step 5 falls inside the swap of steps 4-6
    first = ganforge.Trainer(data="grid25", tricks=["checkpoint_swap"], trick_options=options, **SMALL, **tiny)
    first.fit()
    assert first.tricks[0].swapped
    resumed = ganforge.Trainer.resume(tiny["out_dir"], steps=12).fit()
    tiny.update(steps=12, out_dir=tiny["out_dir"] + "-straight")
    straight = ganforge.Trainer(data="grid25", tricks=["checkpoint_swap"], trick_options=options, **SMALL, **tiny)
    history = straight.fit()
    assert resumed.g_loss == history.g_loss and resumed.d_loss == history.d_loss
    tiny["out_dir"] += "-none"
    plain = ganforge.Trainer(data="grid25", **SMALL, **tiny).fit()
    assert plain.g_loss[:4] == history.g_loss[:4]  # identical until the first swap ...
    assert plain.g_loss[4] != history.g_loss[4]  # ... which changes the network in use


@pytest.mark.parametrize("options, message", [
    ({"every": 0}, "'every' must be an integer >= 1"),
    ({"every": 10, "k": 10}, "'k' \\(10\\) must be smaller than 'every' \\(10\\)"),
    ({"which": "d"}, "'which' must be one of 'disc', 'gen' \\(got 'd'\\)"),
])
def test_bad_options(options, message):
    with pytest.raises(ganforge.ConfigError, match=message):
        CheckpointSwap(**options)
