"""Item 2: a run of N steps resumed for N more equals a run of 2N steps, bit for bit (CPU).

Checked through ``Trainer.resume`` and through ``ganforge train --resume``, on
grid25 (distribution data, global RNG), on MNIST (finite data set: shuffle order
and position) and with every registered trick, since tricks may keep state.
"""

from __future__ import annotations

import json

import pytest
import torch

import ganforge
from ganforge.cli import main
from ganforge.io import checkpoint as ckpt
from ganforge.registry import Registry, make_plugin_manager

N = 10

#: Tricks with state that the brief names; each is tested when registered, and
#: reported as a skip (with the reason) while it is not there yet.
EXPECTED_STATEFUL = ("soft_labels", "instance_noise", "experience_replay", "failure_monitor", "checkpoint_swap")
#: Options for the comparison. instance_noise anneals over the run's ``steps`` by default
#: and keeps that horizon on resume (documented), so the N-step run would anneal faster
#: than the 2N-step one: an explicit horizon makes the two comparable. The others are
#: shortened so that their state is live within 2N steps: checkpoint_swap swaps D at step
#: 8 for 3 steps, so the N-step run stops (and resumes) in the middle of a swap;
#: failure_monitor's window fills several times.
TRICK_OPTIONS = {
    "instance_noise": {"anneal_steps": 2 * N},
    "checkpoint_swap": {"every": 8, "k": 3},
    "failure_monitor": {"window": 4, "trend_intervals": 2},
    "experience_replay": {"size": 48},
    # adaptive p moves by 0.1 every 3 D updates: the N-step run stops with a partial sum to carry over.
    "diffaugment": {"adaptive": True, "adjust_every": 3, "adjust_images": 480},
}


def _builtin_tricks() -> list[str]:
    registry = Registry(*make_plugin_manager(load_entry_points=False))
    return [i.name for i in registry.list("trick") if not i.cls.requires_condition]  # image-to-image: own tests


ALL_TRICKS = sorted(set(_builtin_tricks()) | set(EXPECTED_STATEFUL))


def _full_and_resumed(settings: dict, tmp_path) -> tuple[ganforge.Trainer, ganforge.Trainer]:
    full = ganforge.Trainer(**{**settings, "steps": 2 * N, "out_dir": str(tmp_path / "full")})
    full.fit()
    ganforge.Trainer(**{**settings, "steps": N, "out_dir": str(tmp_path / "half")}).fit()
    resumed = ganforge.Trainer.resume(tmp_path / "half", steps=2 * N)
    resumed.fit()
    return full, resumed


def test_python_resume_on_grid25_is_bitwise_identical(small, tmp_path, helpers):
    full, resumed = _full_and_resumed(small, tmp_path)
    assert len(resumed.history.g_loss) == 2 * N
    helpers.assert_same_run(full, resumed)
    # The per-step losses of the resumed half were computed after the reload, not copied.
    assert resumed.history.g_loss[N:] != resumed.history.g_loss[:N]


def test_python_resume_on_mnist_is_bitwise_identical(small, mnist_root, tmp_path, helpers):
    small.update(data="mnist", data_root=str(mnist_root), split="test", batch_size=16)
    full, resumed = _full_and_resumed(small, tmp_path)
    helpers.assert_same_run(full, resumed)
    assert resumed.batches.index.position == full.batches.index.position == 2 * N * 16


def test_resume_across_an_epoch_boundary(small, tiny_idx, tmp_path, helpers):
    """64 samples in batches of 16: the resumed half crosses two reshuffles."""
    small.update(data="mnist", data_root=str(tiny_idx), split="test", batch_size=16)
    full, resumed = _full_and_resumed(small, tmp_path)
    helpers.assert_same_run(full, resumed)
    assert resumed.batches.epoch == full.batches.epoch == 4


@pytest.mark.filterwarnings(r"ignore:Step \d+:")  # failure_monitor's findings on tiny runs are expected
@pytest.mark.parametrize("trick", ALL_TRICKS)
def test_resume_with_each_trick_is_bitwise_identical(trick, small, tmp_path, helpers, data_for):
    info = {i.name: i for i in ganforge.list_plugins("trick")}.get(trick)
    if info is None:
        pytest.skip(f"trick '{trick}' is not registered yet (ganforge.list_plugins('trick'))")
    small["data"] = data_for([trick])  # grid25, or tiny images for an image-only trick
    if info.cls.requires_labels:
        small["conditional"] = True  # grid25's modes (and the tiny images' classes) are labels
    options = {trick: TRICK_OPTIONS[trick]} if trick in TRICK_OPTIONS else {}
    full, resumed = _full_and_resumed({**small, "tricks": [trick], "trick_options": options}, tmp_path)
    helpers.assert_same_run(full, resumed)
    assert resumed.tricks[0].state_dict().keys() == full.tricks[0].state_dict().keys()


LOSSES = sorted(Registry(*make_plugin_manager(load_entry_points=False)).names("loss"))
REGULARIZERS = sorted(Registry(*make_plugin_manager(load_entry_points=False)).names("regularizer"))


@pytest.mark.parametrize("loss", LOSSES)
def test_resume_with_each_loss_is_bitwise_identical(loss, small, tmp_path, helpers):
    full, resumed = _full_and_resumed({**small, "loss": loss}, tmp_path)
    helpers.assert_same_run(full, resumed)


@pytest.mark.parametrize("regularizer", REGULARIZERS)
def test_resume_with_each_regularizer_applied_lazily_is_bitwise_identical(regularizer, small, tmp_path, helpers,
                                                                          data_for):
    """Every 3 steps: the N-step run stops between two lazy updates. On images, which every regularizer accepts."""
    small["data"] = data_for(images=True)
    settings = {**small, "regularizers": [regularizer], "regularizer_options": {regularizer: {"every": 3}}}
    full, resumed = _full_and_resumed(settings, tmp_path)
    helpers.assert_same_run(full, resumed)


def test_resume_with_a_stateful_test_trick(small, register, tmp_path, helpers):
    """A trick's tensors (here an EMA of G's weights, like an EMA generator would keep) resume exactly."""
    register(tricks=[helpers.ShadowWeights])
    full, resumed = _full_and_resumed({**small, "tricks": ["shadow_weights"]}, tmp_path)
    helpers.assert_same_run(full, resumed)
    assert resumed.tricks[0].count == 2 * N
    for k, v in full.tricks[0].shadow.items():
        assert torch.equal(resumed.tricks[0].shadow[k], v)


#: Spectral normalisation keeps power-iteration vectors (buffers) that every training forward pass moves. The sngan
#: case is conditional (class-conditional batch norm in G, a projection D) and keeps a generator EMA, which copies
#: G's buffers, the vectors included.
SPECTRAL_NORM_RUNS = {
    "mlp": lambda data: dict(gen_options={"hidden": (32, 32), "spectral_norm": True},
                             disc_options={"hidden": (32, 32), "spectral_norm": True}),
    "sngan": lambda data: dict(gen="sngan", disc="sngan", data="mnist", data_root=str(data), split="test",
                               image_size=32, conditional=True, ema_decay=0.9,
                               gen_options={"width": 8, "spectral_norm": True}, disc_options={"width": 8}),
}


@pytest.mark.parametrize("family", sorted(SPECTRAL_NORM_RUNS))
def test_resume_with_spectral_norm_is_bitwise_identical(family, small, tiny_idx, tmp_path, helpers):
    full, resumed = _full_and_resumed({**small, **SPECTRAL_NORM_RUNS[family](tiny_idx)}, tmp_path)
    helpers.assert_same_run(full, resumed)  # weights and buffers: the power-iteration vectors u and v included
    saved = ckpt.load_checkpoint(tmp_path / "half" / "checkpoints" / ckpt.checkpoint_name(N))
    for net in ("gen", "disc"):
        vectors = [k for k in saved[net] if k.endswith("parametrizations.weight.0._u")]
        assert vectors, f"{net}: no power-iteration state in the checkpoint"
        now = getattr(resumed, net).state_dict()
        assert any(not torch.equal(saved[net][k], now[k]) for k in vectors)  # they moved after the resume
    if full.ema is not None:
        a, b = full.ema.model.state_dict(), resumed.ema.model.state_dict()
        assert all(torch.equal(a[k], b[k]) for k in a)


def _cli_args(small: dict, out, steps: int) -> list[str]:
    return ["train", "--data", "grid25", "--steps", str(steps), "--batch-size", str(small["batch_size"]),
            "--latent-dim", str(small["latent_dim"]), "--log-every", "5", "--checkpoint-every", "5",
            "--sample-every", "0", "--device", "cpu", "--gen-option", "hidden=[32,32]",
            "--disc-option", "hidden=[32,32]", "--tricks", "soft_labels", "--out", str(out), "--no-progress"]


def test_cli_resume_is_bitwise_identical(small, tmp_path):
    assert main(_cli_args(small, tmp_path / "full", 2 * N)) == 0
    assert main(_cli_args(small, tmp_path / "half", N)) == 0
    assert main(["train", "--resume", str(tmp_path / "half"), "--steps", str(2 * N), "--no-progress"]) == 0
    a = ckpt.load_checkpoint(tmp_path / "full" / "checkpoints" / ckpt.checkpoint_name(2 * N))
    b = ckpt.load_checkpoint(tmp_path / "half" / "checkpoints" / ckpt.checkpoint_name(2 * N))
    assert a["history"]["g_loss"] == b["history"]["g_loss"] and a["history"]["d_loss"] == b["history"]["d_loss"]
    for net in ("gen", "disc"):
        assert all(torch.equal(a[net][k], b[net][k]) for k in a[net])
    for opt in ("opt_g", "opt_d"):
        assert all(torch.equal(a[opt]["state"][i]["exp_avg"], b[opt]["state"][i]["exp_avg"]) for i in a[opt]["state"])
    assert torch.equal(a["rng"]["torch"], b["rng"]["torch"])


def test_metrics_file_after_resume_matches_an_uninterrupted_run(small, tmp_path):
    """Lines logged after the checkpoint, and a half-written line from a crash, are dropped on resume."""
    small["checkpoint_every"] = 10
    ganforge.Trainer(**{**small, "steps": 2 * N, "out_dir": str(tmp_path / "full")}).fit()
    ganforge.Trainer(**{**small, "steps": N + 5, "out_dir": str(tmp_path / "half")}).fit()
    (tmp_path / "half" / "checkpoints" / ckpt.checkpoint_name(N + 5)).unlink()  # as if killed before it
    with open(tmp_path / "half" / "metrics.jsonl", "a") as f:
        f.write('{"step": 20, "g_lo')  # killed mid-line
    ganforge.Trainer.resume(tmp_path / "half", steps=2 * N).fit()

    def rows(run):
        lines = (tmp_path / run / "metrics.jsonl").read_text().splitlines()
        return [{k: v for k, v in json.loads(line).items() if k != "steps_per_s"} for line in lines]

    assert rows("half") == rows("full")
    assert [r["step"] for r in rows("half")] == [5, 10, 15, 20]


def test_resume_from_a_chosen_checkpoint_file(small, tmp_path, helpers):
    full = ganforge.Trainer(**{**small, "steps": 2 * N, "out_dir": str(tmp_path / "full")})
    full.fit()
    ganforge.Trainer(**{**small, "steps": 2 * N, "out_dir": str(tmp_path / "again")}).fit()
    resumed = ganforge.Trainer.resume(tmp_path / "again" / "checkpoints" / ckpt.checkpoint_name(5))
    assert resumed.setup().step == 5
    resumed.fit()
    helpers.assert_same_run(full, resumed)


def test_resume_may_extend_steps_and_apply_remedies(small, tmp_path):
    ganforge.Trainer(**{**small, "steps": N}).fit()
    trainer = ganforge.Trainer.resume(tmp_path / "run", steps=N + 5, grad_clip=1.0, nan_policy="skip", log_every=1)
    assert trainer.fit() is trainer.history
    assert trainer.step == N + 5 and len(trainer.history.g_loss) == N + 5
    assert trainer.config.grad_clip == 1.0 and trainer.config.batch_size == small["batch_size"]


@pytest.mark.parametrize(
    "change, field",
    [({"batch_size": 32}, "batch_size"), ({"seed": 1}, "seed"), ({"gen_options": {"hidden": (64, 64)}}, "gen_options"),
     ({"g_optim": {"lr": 1e-5}}, "g_optim"), ({"tricks": ["soft_labels"]}, "tricks"), ({"data": "ring8"}, "data")],
)
def test_resume_refuses_changes_the_checkpoint_fixes(small, tmp_path, change, field):
    ganforge.Trainer(**{**small, "steps": 5}).fit()
    before = sorted(p.name for p in (tmp_path / "run" / "checkpoints").iterdir())
    with pytest.raises(ganforge.ConfigError, match=rf"Cannot change {field} when resuming from .*step_0000005\.pt"):
        ganforge.Trainer.resume(tmp_path / "run", **change)
    assert sorted(p.name for p in (tmp_path / "run" / "checkpoints").iterdir()) == before


def test_cli_resume_refuses_a_model_change(small, tmp_path, capsys):
    ganforge.Trainer(**{**small, "steps": 5}).fit()
    capsys.readouterr()  # the run's start and end messages
    status = main(["train", "--resume", str(tmp_path / "run"), "--gen-option", "hidden=[64,64]", "--no-progress"])
    err = capsys.readouterr().err
    assert status == 2
    assert err.startswith("ganforge: error: Cannot change gen_options when resuming") and err.count("\n") == 1
