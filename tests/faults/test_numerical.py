"""Item 5: NaN/Inf losses or parameters stop the run (naming step and loss, keeping the last good
checkpoint); ``nan_policy="skip"`` skips the bad update; ``grad_clip`` bounds the gradient norm.

Faults are injected honestly, by test-registered plugins: a loss that returns NaN
or Inf at a chosen call, and a generator whose spare parameter turns NaN.
"""

from __future__ import annotations

import json
import math

import pytest
import torch
import torch.nn.functional as F

import ganforge
from ganforge.io import checkpoint as ckpt
from ganforge.models.mlp import MLPGenerator


class FaultyLoss(ganforge.Loss):
    """Non-saturating BCE whose ``net`` loss is multiplied by ``value`` at that net's ``at``-th call (1-based)."""

    name = "faulty_bce"

    def __init__(self, at: int = 7, value: str = "nan", net: str = "gen"):
        self.at, self.value, self.net = at, float(value), net
        self.calls = {"gen": 0, "disc": 0}

    def criterion(self, logits, targets):
        return F.binary_cross_entropy_with_logits(logits, targets)

    def _maybe_poison(self, net, loss):
        self.calls[net] += 1
        return loss * self.value if net == self.net and self.calls[net] == self.at else loss

    def g_loss(self, fake_logits, real_targets, fake_targets):
        return self._maybe_poison("gen", self.criterion(fake_logits, real_targets))

    def d_loss(self, real_logits, fake_logits, real_targets, fake_targets):
        return self._maybe_poison("disc", super().d_loss(real_logits, fake_logits, real_targets, fake_targets))


class PoisonedGenerator(MLPGenerator):
    """The MLP generator with a spare parameter (unused by forward) that becomes NaN at forward call ``at``."""

    name = "poisoned_mlp"

    def __init__(self, spec, at: int = 7, hidden=(32, 32)):
        super().__init__(spec, hidden=hidden)
        self.at, self.calls = at, 0
        self.spare = torch.nn.Parameter(torch.zeros(3))

    def forward(self, z, labels=None):
        self.calls += 1
        if self.calls == self.at:
            with torch.no_grad():
                self.spare[1] = float("nan")
        return super().forward(z, labels)


@pytest.fixture
def faulty(register, small):
    register(losses=[FaultyLoss], generators=[PoisonedGenerator])
    small.update(log_every=10, checkpoint_every=5)
    return small


def _all_finite(module):
    return all(bool(p.isfinite().all()) for p in module.state_dict().values() if p.is_floating_point())


@pytest.mark.parametrize(
    "net, value, who", [("gen", "nan", "generator"), ("gen", "inf", "generator"), ("disc", "nan", "discriminator"),
                        ("disc", "-inf", "discriminator")],
)
def test_a_nonfinite_loss_stops_the_run_and_keeps_the_last_good_checkpoint(net, value, who, faulty, tmp_path):
    faulty.update(loss="faulty_bce", loss_options={"at": 7, "value": value, "net": net})
    trainer = ganforge.Trainer(**faulty)
    with pytest.raises(ganforge.TrainingDivergedError) as info:
        trainer.fit()
    message = str(info.value)
    shown = {"nan": "nan", "inf": "inf", "-inf": "-inf"}[value]
    assert f"The {who} loss became {shown} at step 7." in message
    assert str(tmp_path / "run" / "checkpoints") in message
    assert "lower learning rate" in message and "--grad-clip" in message and "nan_policy='skip'" in message
    # Checks ran at step 5 (before its checkpoint) and at step 10 (where the NaN was found):
    # nothing after step 5 was written, neither checkpoint nor metrics line.
    assert [s for s, _ in ckpt.list_checkpoints(tmp_path / "run")] == [5]
    assert [json.loads(x)["step"] for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()] == [5]
    good = ckpt.load_checkpoint(tmp_path / "run" / "checkpoints" / ckpt.checkpoint_name(5))
    assert all(bool(t.isfinite().all()) for net_state in (good["gen"], good["disc"]) for t in net_state.values()
               if t.is_floating_point())
    assert all(math.isfinite(x) for x in good["history"]["g_loss"] + good["history"]["d_loss"])


def test_the_last_good_checkpoint_resumes_after_divergence(faulty, tmp_path):
    faulty.update(loss="faulty_bce", loss_options={"at": 7})
    with pytest.raises(ganforge.TrainingDivergedError):
        ganforge.Trainer(**faulty).fit()
    # The remedy resume allows: skip non-finite updates (the fresh loss counts its calls from 0 again).
    resumed = ganforge.Trainer.resume(tmp_path / "run", nan_policy="skip")
    resumed.fit()
    assert resumed.step == 20 and math.isnan(resumed.history.g_loss[5 + 7 - 1])
    assert _all_finite(resumed.gen) and _all_finite(resumed.disc)


def test_a_nonfinite_parameter_stops_the_run(faulty, tmp_path):
    faulty.update(gen="poisoned_mlp", gen_options={"at": 7})
    trainer = ganforge.Trainer(**faulty)
    with pytest.raises(ganforge.TrainingDivergedError, match=r"A generator parameter became NaN or infinite by step 10\."):
        trainer.fit()
    assert all(math.isfinite(x) for x in trainer.history.g_loss)  # the losses never showed it
    assert [s for s, _ in ckpt.list_checkpoints(tmp_path / "run")] == [5]
    assert bool(ckpt.load_checkpoint(tmp_path / "run" / "checkpoints" / ckpt.checkpoint_name(5))["gen"]["spare"]
                .isfinite().all())


def _count_steps(optimizer):
    counter = {"n": 0}
    optimizer.register_step_post_hook(lambda opt, args, kwargs: counter.__setitem__("n", counter["n"] + 1))
    return counter


def test_nan_policy_skip_skips_only_the_bad_update(faulty, tmp_path):
    faulty.update(loss="faulty_bce", loss_options={"at": 7}, nan_policy="skip")
    trainer = ganforge.Trainer(**faulty).setup()
    g_updates, d_updates = _count_steps(trainer.opt_g), _count_steps(trainer.opt_d)
    history = trainer.fit()
    assert trainer.step == 20
    assert (g_updates["n"], d_updates["n"]) == (19, 20)  # step 7's generator update was skipped
    assert math.isnan(history.g_loss[6]) and all(math.isfinite(x) for i, x in enumerate(history.g_loss) if i != 6)
    assert _all_finite(trainer.gen) and _all_finite(trainer.disc)
    assert [(r["step"], r.get("skipped_updates", 0)) for r in history.records] == [(5, 0), (10, 1), (15, 1), (20, 1)]
    lines = [json.loads(x) for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert lines[1]["step"] == 10 and lines[1]["g_loss"] is None  # the mean over steps 6-10 includes the NaN
    assert all(isinstance(line["g_loss"], float) for i, line in enumerate(lines) if i != 1)
    assert [s for s, _ in ckpt.list_checkpoints(tmp_path / "run")] == [5, 10, 15, 20]


def _grad_norms(trainer):
    norms = {"gen": [], "disc": []}
    for net, opt in (("gen", trainer.opt_g), ("disc", trainer.opt_d)):
        def pre(optimizer, args, kwargs, net=net):
            grads = [p.grad for g in optimizer.param_groups for p in g["params"] if p.grad is not None]
            norms[net].append(float(torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads]))))
        opt.register_step_pre_hook(pre)
    return norms


def test_grad_clip_bounds_the_norm_each_optimizer_sees(small):
    small.update(steps=10, checkpoint_every=0, g_optim={"lr": 0.05}, d_optim={"lr": 0.05})
    free = ganforge.Trainer(**small).setup()
    free_norms = _grad_norms(free)
    free.fit()
    small["out_dir"] += "-clipped"
    clipped = ganforge.Trainer(**small, grad_clip=0.01).setup()
    clipped_norms = _grad_norms(clipped)
    clipped.fit()
    for net in ("gen", "disc"):
        assert min(free_norms[net]) > 0.015  # every unclipped gradient is larger than the bound ...
        assert len(clipped_norms[net]) == 10
        assert max(clipped_norms[net]) <= 0.01 * (1 + 1e-4)  # ... clipped ones never exceed it
        # Same seed, same first batches: the first clipped gradient is the free one rescaled to norm 0.01.
        assert clipped_norms[net][0] == pytest.approx(0.01, rel=1e-4)


def test_skipped_update_count_survives_resume(faulty, tmp_path):
    faulty.update(loss="faulty_bce", loss_options={"at": 3}, nan_policy="skip")
    full = ganforge.Trainer(**{**faulty, "out_dir": str(tmp_path / "full")})
    full.fit()
    ganforge.Trainer(**{**faulty, "steps": 10, "out_dir": str(tmp_path / "half")}).fit()
    resumed = ganforge.Trainer.resume(tmp_path / "half", steps=20)
    resumed.fit()
    assert [r.get("skipped_updates") for r in full.history.records] == [1, 1, 1, 1]
    # The resumed process's loss counts its calls from zero, so it injects a second NaN at
    # step 13; the count restored from the checkpoint (1) makes that the run's second skip.
    assert [r.get("skipped_updates") for r in resumed.history.records] == [1, 1, 2, 2]
    assert math.isnan(resumed.history.g_loss[12]) and math.isnan(resumed.history.g_loss[2])
