"""Item 1: what a checkpoint holds, that it is written atomically, when, and how many are kept."""

from __future__ import annotations

import os
import random

import numpy as np
import pytest
import torch

import ganforge
from ganforge.io import checkpoint as ckpt
from ganforge.training.seeding import get_rng_state, set_rng_state


def test_checkpoint_holds_the_whole_training_state(small, register, helpers, tmp_path):

    register(tricks=[helpers.ShadowWeights])
    trainer = ganforge.Trainer(tricks=["soft_labels", "shadow_weights"], **small)
    trainer.fit()
    state = ckpt.load_checkpoint(tmp_path / "run" / "checkpoints" / "step_0000020.pt")
    assert state["format"] == ckpt.FORMAT and state["format_version"] == ckpt.FORMAT_VERSION
    assert set(ckpt.TRAINER_KEYS) <= set(state)
    # Versions, as plain strings (torch.__version__ is a str subclass that safe loading refuses).
    assert state["ganforge_version"] == ganforge.__version__ and type(state["ganforge_version"]) is str
    assert state["torch_version"] == str(torch.__version__) and type(state["torch_version"]) is str
    assert state["step"] == 20
    assert state["config"] == trainer.config.to_dict()
    assert ganforge.TrainConfig.from_dict(state["config"]).to_dict() == state["config"]  # resolved, reloadable
    for net in ("gen", "disc"):
        model = getattr(trainer, net).state_dict()
        assert state[net].keys() == model.keys()
        assert all(torch.equal(state[net][k], model[k]) for k in model)
    assert any("running_mean" in k for k in state["gen"])  # batch-norm statistics travel too
    for opt in ("opt_g", "opt_d"):
        saved = state[opt]["state"]
        live = getattr(trainer, opt).state_dict()["state"]
        assert len(saved) == len(live) == len(getattr(trainer, opt).param_groups[0]["params"])
        assert all(torch.equal(saved[i]["exp_avg_sq"], live[i]["exp_avg_sq"]) for i in live)
        assert all(float(saved[i]["step"]) == 20 for i in live)
    assert state["scaler"] is None  # fp32 on the CPU has no GradScaler; see test_scaler_state_round_trips
    assert state["data"] == {}  # grid25 draws from the global RNG, saved under "rng"
    assert set(state["rng"]) >= {"python", "numpy", "torch"}
    assert ("cuda" in state["rng"]) == (torch.cuda.is_available() and torch.cuda.is_initialized())
    assert set(state["tricks"]) == {"soft_labels", "shadow_weights"}
    shadow = state["tricks"]["shadow_weights"]
    assert shadow["count"] == 20
    assert all(torch.equal(shadow["shadow"][k], v) for k, v in trainer.tricks[1].shadow.items())
    assert len(state["history"]["g_loss"]) == 20 and [r["step"] for r in state["history"]["records"]] == [5, 10, 15, 20]


def test_loader_position_is_saved_across_epochs(small, tiny_idx, tmp_path):
    """A finite data set's shuffle order, position, epoch and generator state are in the checkpoint."""
    small.update(data="mnist", data_root=str(tiny_idx), split="test", steps=7, checkpoint_every=7)
    trainer = ganforge.Trainer(**small)
    trainer.fit()
    data = ckpt.load_checkpoint(tmp_path / "run" / "checkpoints" / "step_0000007.pt")["data"]
    # 64 samples, batch 16: 4 batches an epoch, so step 7 is the 3rd batch of epoch 1.
    assert (data["epoch"], data["position"]) == (1, 48)
    assert sorted(data["order"].tolist()) == list(range(64))
    assert torch.equal(data["order"], trainer.batches.index.order)
    assert torch.equal(data["generator"], trainer.batches.index.generator.get_state())


def test_rng_states_round_trip_through_a_file(tmp_path):
    """Python, NumPy (with its cached Gaussian) and torch CPU generators continue exactly after a reload."""
    random.seed(5), np.random.seed(5), torch.manual_seed(5)
    random.gauss(0, 1), np.random.standard_normal()  # leave a cached Gaussian in both
    ckpt.save_checkpoint(tmp_path / "rng.pt", {"rng": get_rng_state()})
    expected = (random.random(), random.gauss(0, 1), np.random.standard_normal(), np.random.rand(), torch.rand(3))
    random.seed(99), np.random.seed(99), torch.manual_seed(99)
    set_rng_state(ckpt.load_checkpoint(tmp_path / "rng.pt", required=("rng",))["rng"])
    again = (random.random(), random.gauss(0, 1), np.random.standard_normal(), np.random.rand(), torch.rand(3))
    assert expected[:4] == again[:4]
    assert torch.equal(expected[4], again[4])


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device (CUDA RNG state capture)")
def test_cuda_rng_state_round_trips(tmp_path):  # pragma: no cover - no GPU in CI
    torch.cuda.manual_seed_all(3)
    torch.rand(4, device="cuda")
    ckpt.save_checkpoint(tmp_path / "rng.pt", {"rng": get_rng_state()})
    expected = torch.rand(4, device="cuda")
    torch.cuda.manual_seed_all(4)
    set_rng_state(ckpt.load_checkpoint(tmp_path / "rng.pt", required=("rng",))["rng"])
    assert torch.equal(torch.rand(4, device="cuda"), expected)


def test_scaler_state_round_trips(small):
    """The AMP GradScaler (fp16 on CUDA) is saved and restored; checked here with a CPU scaler."""
    a = ganforge.Trainer(**small).setup()
    a.scaler = torch.amp.GradScaler("cpu", init_scale=256.0, growth_interval=7)
    a.scaler.scale(torch.ones(()))  # the scale tensor exists from the first use
    state = a.state_dict()
    assert state["scaler"]["scale"] == 256.0 and state["scaler"]["growth_interval"] == 7
    b = ganforge.Trainer(**small).setup()
    b.scaler = torch.amp.GradScaler("cpu")
    b.load_state_dict(state)
    assert b.scaler.get_scale() == 256.0 and b.scaler.get_growth_interval() == 7


@pytest.mark.parametrize(
    "steps, every, keep, expected",
    [(23, 5, 3, [15, 20, 23]), (23, 5, 10, [5, 10, 15, 20, 23]), (20, 5, 2, [15, 20]), (12, 0, 3, [12])],
)
def test_written_every_n_steps_and_at_the_end_keeping_the_last_k(small, tmp_path, steps, every, keep, expected):
    small.update(steps=steps, checkpoint_every=every, keep_checkpoints=keep)
    ganforge.Trainer(**small).fit()
    found = ckpt.list_checkpoints(tmp_path / "run")
    assert [s for s, _ in found] == expected
    assert all(ckpt.load_checkpoint(p)["step"] == s for s, p in found)
    assert sorted(os.listdir(tmp_path / "run" / "checkpoints")) == [ckpt.checkpoint_name(s) for s in expected]


def test_save_is_atomic_when_the_rename_fails(tmp_path, monkeypatch):
    path = tmp_path / "checkpoints" / "step_0000010.pt"
    ckpt.save_checkpoint(path, {"step": 10, "w": torch.arange(4.0)})
    before = path.read_bytes()

    def crash(*args, **kwargs):
        raise OSError("disk full (simulated)")

    monkeypatch.setattr(ckpt.os, "replace", crash)
    with pytest.raises(OSError, match="disk full"):
        ckpt.save_checkpoint(path, {"step": 10, "w": torch.zeros(4)})
    assert path.read_bytes() == before  # the old file is whole
    assert os.listdir(path.parent) == [path.name]  # and no temporary file is left


def test_state_that_safe_loading_would_refuse_is_never_written(tmp_path):
    class Opaque:
        pass

    with pytest.raises(ganforge.CheckpointError, match=r"state\['tricks'\]\['x'\]\['obj'\].*Opaque"):
        ckpt.save_checkpoint(tmp_path / "c.pt", {"tricks": {"x": {"obj": Opaque()}}})
    assert not (tmp_path / "c.pt").exists() and os.listdir(tmp_path) == []


def test_prune_removes_temporary_files_left_by_a_crash(tmp_path):
    folder = tmp_path / "checkpoints"
    for step in (5, 10, 15):
        ckpt.save_checkpoint(folder / ckpt.checkpoint_name(step), {"step": step})
    (folder / ".step_0000020.pt.abc123.tmp").write_bytes(b"half a checkpoint")
    (folder / ".best.pt.x9.tmp").write_bytes(b"half a best checkpoint")
    (folder / "notes.txt").write_text("mine")  # not ours: kept
    ckpt.prune_checkpoints(tmp_path, keep=2)
    assert sorted(os.listdir(folder)) == ["notes.txt", "step_0000010.pt", "step_0000015.pt"]
