"""experience_replay (ganhacks #8): part of each D fake batch comes from a ring buffer of past fakes."""

from __future__ import annotations

import io

import pytest
import torch

import ganforge
from ganforge.tricks.experience_replay import ExperienceReplay

SMALL = dict(gen_options={"hidden": (16, 16)}, disc_options={"hidden": (16, 16)})


def batch(i, n=4):
    """A batch whose rows are recognisable: row j of batch i holds (i, j)."""
    return torch.stack([torch.full((n,), float(i)), torch.arange(n, dtype=torch.float32)], dim=1)


def rows(x):
    return {tuple(r) for r in x.tolist()}


def make(size=8, fraction=0.5, conditional=False):
    trick = ExperienceReplay(size=size, fraction=fraction)
    trick.allocate(4, (2,), torch.device("cpu"), conditional)
    return trick


def test_first_batch_is_fresh_then_half_comes_from_the_past():
    trick = make()
    out, _ = trick.fakes_for_disc(batch(0), None)
    assert torch.equal(out, batch(0))  # empty buffer: nothing to replay
    assert int(trick.filled) == 4
    for i in range(1, 30):
        out, _ = trick.fakes_for_disc(batch(i), None)
        assert torch.equal(out[2:], batch(i)[2:])  # the fresh half
        stored_before = {(float(j), float(r)) for j in range(max(0, i - 2), i) for r in range(4)}
        assert rows(out[:2]) <= stored_before  # the replayed half: rows of the last size/B = 2 batches
    assert int(trick.filled) == 8 and int(trick.cursor) == (30 * 4) % 8
    assert rows(trick.buffer) == rows(torch.cat([batch(28), batch(29)]))  # ring: the newest 8 fakes


def test_replay_draws_uniformly_over_the_buffer():
    trick = make(size=8, fraction=1.0)
    trick.fakes_for_disc(batch(0), None)
    trick.fakes_for_disc(batch(1), None)
    full = {k: v.clone() for k, v in trick.state_dict().items() if torch.is_tensor(v)}
    counts = torch.zeros(8)
    torch.manual_seed(0)
    for _ in range(500):
        trick.load_state_dict(full)  # the same 8 stored fakes before every draw
        out, _ = trick.fakes_for_disc(batch(2), None)
        counts += torch.bincount((out[:, 0] * 4 + out[:, 1]).long(), minlength=8)
    assert counts.sum() == 2000 and (counts - 250).abs().max() < 60  # each stored fake ~1/8 of the draws


def test_labels_travel_with_their_fakes():
    trick = make(conditional=True)
    for i in range(6):
        x = batch(i)
        labels = (x[:, 0] * 10 + x[:, 1]).long()  # label encodes the row
        out, out_labels = trick.fakes_for_disc(x, labels)
        assert torch.equal(out_labels, (out[:, 0] * 10 + out[:, 1]).long())


def test_fraction_zero_never_replays_and_sizes_are_checked():
    trick = make(fraction=0.0)
    for i in range(3):
        out, _ = trick.fakes_for_disc(batch(i), None)
        assert torch.equal(out, batch(i))
    with pytest.raises(ganforge.ConfigError, match="'size' \\(2\\) must be at least the batch size \\(4\\)"):
        make(size=2)
    with pytest.raises(ganforge.ConfigError, match="'fraction' must be a number >= 0 and <= 1"):
        ExperienceReplay(fraction=1.5)


def test_state_round_trips_and_restores_in_place():
    trick = make()
    for i in range(3):
        trick.fakes_for_disc(batch(i), None)
    buf = io.BytesIO()
    torch.save(trick.state_dict(), buf)
    buf.seek(0)
    state = torch.load(buf, weights_only=True)
    other = make()
    storage = other.buffer
    other.load_state_dict(state)
    assert other.buffer is storage  # same tensor: a captured graph keeps pointing at it
    assert torch.equal(other.buffer, trick.buffer)
    assert int(other.cursor) == int(trick.cursor) and int(other.filled) == int(trick.filled)
    with pytest.raises(ganforge.CheckpointError, match="resume with the same 'size'"):
        make(size=12).load_state_dict(state)


def test_trainer_default_size_and_exact_resume(tiny):
    tiny.update(steps=10)
    trainer = ganforge.Trainer(data="grid25", tricks=["experience_replay"], **SMALL, **tiny)
    first = trainer.fit()
    trick = trainer.tricks[0]
    assert trick.buffer.shape == (32 * tiny["batch_size"], 2) and int(trick.filled) == 10 * tiny["batch_size"]
    resumed = ganforge.Trainer.resume(tiny["out_dir"], steps=20).fit()
    tiny.update(steps=20, out_dir=tiny["out_dir"] + "-straight")
    straight = ganforge.Trainer(data="grid25", tricks=["experience_replay"], **SMALL, **tiny).fit()
    assert resumed.d_loss == straight.d_loss and first.d_loss == straight.d_loss[:10]
