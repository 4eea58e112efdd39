"""Issue 17, item 9: plugin failures during a run name the plugin, the class and the method, and the
run folder they leave is started again by the same command.

Findings: a plugin method raising NotImplementedError, or a third-party model returning the wrong shape,
failed at step 1 with a bare traceback naming nothing of the plugin.
"""

from __future__ import annotations

import torch

import ganforge
from ganforge.cli import main
from ganforge.io import checkpoint as ckpt
from ganforge.io.rundir import read_marker


class WrongShape(ganforge.Generator):
    """Test generator: returns 3 numbers per sample whatever the data's shape."""

    name = "wrong_shape"

    def __init__(self, spec):
        super().__init__(spec)
        self.net = torch.nn.Linear(spec.latent_dim, 3)

    def forward(self, z, labels=None):
        return self.net(z)


class PenaltyOnly(ganforge.Loss):
    """Test loss whose generator side is not written yet (while ``broken``)."""

    name = "penalty_only"
    broken = True

    def criterion(self, logits, targets):
        return torch.nn.functional.binary_cross_entropy_with_logits(logits, targets)

    def g_loss(self, fake_logits, real_targets, fake_targets):
        if PenaltyOnly.broken:
            raise NotImplementedError("only the gradient penalty is written so far")
        return self.criterion(fake_logits, real_targets)


class Exploding(ganforge.Trick):
    """Test trick with a bug in its after_step."""

    name = "exploding"

    def after_step(self, trainer, step):
        raise RuntimeError("index 7 is out of bounds for dimension 0 with size 4")


SMALL = ["--data", "grid25", "--batch-size", "16", "--latent-dim", "8", "--device", "cpu", "--log-every", "5",
         "--sample-every", "0", "--checkpoint-every", "5", "--steps", "10", "--no-progress"]


def _error_line(err: str) -> str:
    lines = [ln for ln in err.splitlines() if ln.startswith("ganforge: error:")]
    assert len(lines) == 1, err
    return lines[0]


def test_a_wrong_output_shape_is_named_before_the_folder_exists(tmp_path, capsys, register):
    register(generators=[WrongShape])
    run = tmp_path / "run"
    assert main(["train", *SMALL, "--gen", "wrong_shape", "--out", str(run)]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert _error_line(err) == (
        f"ganforge: error: The generator 'wrong_shape' ({WrongShape.__module__}.WrongShape, from plugin "
        "'test-plugins-0') returned shape (2, 3) from WrongShape.forward() for 2 latent vectors; the data needs (2, 2) "
        "(batch, *spec.data_shape). Fix the generator's output shape, or choose a generator that fits this data set.")
    assert not run.exists()


def test_not_implemented_at_step_1_is_named_and_the_same_command_runs_once_fixed(tmp_path, capsys, register,
                                                                                monkeypatch):
    register(losses=[PenaltyOnly])
    run = tmp_path / "run"
    command = ["train", *SMALL, "--loss", "penalty_only", "--out", str(run)]
    assert main(command) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert _error_line(err) == (
        f"ganforge: error: The loss 'penalty_only' ({PenaltyOnly.__module__}.PenaltyOnly, from plugin 'test-plugins-0') "
        "failed in PenaltyOnly.g_loss() at step 1: NotImplementedError: only the gradient penalty is written so far. "
        "PenaltyOnly does not implement g_loss(), which ganforge calls: implement it (docs/plugins.md) or ask the "
        "plugin's author.")
    assert read_marker(run) is not None and not ckpt.list_checkpoints(run)  # a run folder without a checkpoint ...
    monkeypatch.setattr(PenaltyOnly, "broken", False)  # the plugin fixed
    assert main(command) == 0  # ... that the same command starts again, without --overwrite
    assert [s for s, _ in ckpt.list_checkpoints(run)] == [5, 10]


def test_a_failing_trick_hook_is_named_and_debug_shows_the_traceback(tmp_path, capsys, register):
    register(tricks=[Exploding])
    run = tmp_path / "run"
    assert main(["train", *SMALL, "--tricks", "exploding", "--out", str(run)]) == 1
    assert _error_line(capsys.readouterr().err) == (
        f"ganforge: error: The trick 'exploding' ({Exploding.__module__}.Exploding, from plugin 'test-plugins-0') "
        "failed in Exploding.after_step() at step 1: RuntimeError: index 7 is out of bounds for dimension 0 with "
        "size 4. This is an error in the plugin: report it to its author ('ganforge --debug' shows the traceback).")
    assert main(["--debug", "train", *SMALL, "--tricks", "exploding", "--out", str(run)]) == 1
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err and 'raise RuntimeError("index 7 is out of bounds' in err
    assert err.rstrip().splitlines()[-1].startswith("ganforge: error: The trick 'exploding'")


def test_the_python_api_raises_a_plugin_error_with_the_original_attached(small, register):
    register(losses=[PenaltyOnly])
    trainer = ganforge.Trainer(**{**small, "loss": "penalty_only"})
    try:
        trainer.fit()
    except ganforge.PluginError as exc:
        assert isinstance(exc.__cause__, NotImplementedError)
        assert "failed in PenaltyOnly.g_loss() at step 1" in str(exc)
    else:
        raise AssertionError("fit() did not fail")
