"""Issue 24: a stop signal is honoured within seconds wherever the run is (F7), and two unclear cases.

* F7: SIGTERM during an in-training evaluation took effect only after the
  evaluation (199 s later). Now the evaluation is abandoned at the next model
  call (the chunk in flight finishes, no further one starts), nothing of it is
  logged, and the Trainer saves its stop checkpoint at once. The abandoned
  evaluation moves no training RNG: the run resumes exactly.
* A second SIGINT/SIGTERM after the stop checkpoint is saved only prints that
  the command is ending; the command ends as the first signal asked (status 0).
  SIGTERM outside the training loop ends a command cleanly with one line and
  status 143 (128 + 15), as Ctrl-C does with status 130.
* Ctrl-C during the imports prints ``ganforge: interrupted``, status 130, no traceback.

The signals are real (``os.kill`` of this process, or of a real subprocess),
sent from inside the computation they must interrupt; progress is counted in
model calls (chunks), never in seconds.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

import ganforge
from ganforge.cli import main
from ganforge.io import checkpoint as ckpt
from ganforge.io.rundir import RunFolder
from ganforge.metrics import classifier as classifier_module
from ganforge.metrics import features as features_module
from ganforge.models.mlp import MLPGenerator


class SignalingGenerator(MLPGenerator):
    """The mlp generator, counting its calls in eval mode (sampling); at call ``signal_at`` it sends SIGTERM to
    this process, as a scheduler would while an evaluation generates samples."""

    name = "signaling_mlp"
    signal_at: int | None = None
    sampling_calls = 0

    def forward(self, z, labels=None):
        if not self.training:
            cls = type(self)
            cls.sampling_calls += 1
            if cls.sampling_calls == cls.signal_at:
                os.kill(os.getpid(), signal.SIGTERM)
        return super().forward(z, labels)


@pytest.fixture
def signaling(register):
    register(generators=[SignalingGenerator])
    SignalingGenerator.signal_at, SignalingGenerator.sampling_calls = None, 0
    yield SignalingGenerator
    SignalingGenerator.signal_at, SignalingGenerator.sampling_calls = None, 0


def _records(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines() if line.strip()]


def _eval_settings(small: dict, out: Path, samples: int) -> dict:
    return {**small, "gen": "signaling_mlp", "eval_every": 10, "eval_samples": samples, "checkpoint_every": 0,
            "out_dir": str(out)}


def test_sigterm_during_an_evaluation_abandons_it_and_saves_the_stop_checkpoint_at_once(signaling, small, helpers,
                                                                                      tmp_path):
    run = tmp_path / "run"
    before = signal.getsignal(signal.SIGTERM)
    # 20,000 samples: 20 generator calls of 1,000 (ganforge.metrics.sampling.CHUNK); the signal comes in the 3rd.
    signaling.signal_at = 3
    trainer = ganforge.Trainer(**_eval_settings(small, run, 20_000))
    trainer.fit()
    assert trainer.stop_reason == "received SIGTERM"
    assert trainer.step == 10
    assert 3 <= signaling.sampling_calls <= 4  # the chunk in flight may finish; the other 17 never start
    # The stop checkpoint of step 10 (checkpoint_every=0: no periodic one), and nothing of the evaluation logged.
    assert helpers.checkpoint_steps(run) == [10]
    assert ckpt.load_checkpoint(run / ckpt.CHECKPOINT_DIR / ckpt.checkpoint_name(10))["step"] == 10
    assert [r["step"] for r in _records(run)] == [5, 10]
    assert not any(k.startswith(("eval_", "best_")) for r in _records(run) for k in r)
    assert not any(k.startswith("eval_") for r in trainer.history.records for k in r)
    assert trainer.best is None and not (run / ckpt.CHECKPOINT_DIR / ckpt.BEST_CHECKPOINT).exists()
    # Nothing of the abandonment is left behind: the handlers are restored and sampling works again.
    assert signal.getsignal(signal.SIGTERM) is before
    calls = signaling.sampling_calls
    assert trainer.sample(4).shape == (4, 2)
    assert signaling.sampling_calls == calls + 1


def test_a_run_stopped_during_an_evaluation_resumes_exactly(signaling, small, helpers, tmp_path):
    straight = ganforge.Trainer(**_eval_settings(small, tmp_path / "straight", 3000))
    straight.fit()
    signaling.signal_at = signaling.sampling_calls + 2  # the 2nd of the 3 chunks of the step-10 evaluation
    run = tmp_path / "run"
    stopped = ganforge.Trainer(**_eval_settings(small, run, 3000))
    stopped.fit()
    assert stopped.step == 10 and stopped.stop_reason == "received SIGTERM"
    signaling.signal_at = None
    resumed = ganforge.Trainer.resume(run, progress=False)
    resumed.fit()
    helpers.assert_same_run(straight, resumed)  # weights, optimizer state and every step's losses, bit for bit

    def comparable(records: list[dict]) -> list[dict]:
        # steps_per_s is a timing; best_* at step 20 may differ legitimately (the run that was stopped never
        # measured step 10, so its best so far is step 20's own value).
        return [{k: v for k, v in r.items() if k != "steps_per_s" and not k.startswith("best_")} for r in records]

    expected = [r for r in _records(tmp_path / "straight") if not (r["step"] == 10 and "eval_reverse_kl" in r)]
    assert len(expected) == len(_records(tmp_path / "straight")) - 1  # exactly the abandoned evaluation is missing
    assert any("eval_reverse_kl" in r and r["step"] == 20 for r in expected)
    assert comparable(_records(run)) == comparable(expected)


class LabelledImages(ganforge.Dataset):
    """640 deterministic 1x8x8 uint8 images in 10 classes: enough for the domain classifier to train 32 batches."""

    name = "labelled_images_640"

    @property
    def sample_shape(self) -> tuple[int, ...]:
        return (1, 8, 8)

    @property
    def num_classes(self) -> int:
        return 10

    def load(self) -> tuple[torch.Tensor, torch.Tensor]:
        gen = torch.Generator().manual_seed(0)
        labels = torch.arange(640) % 10
        images = torch.randint(0, 96, (640, 1, 8, 8), generator=gen, dtype=torch.uint8)
        for i, label in enumerate(labels.tolist()):
            r, c = divmod(label % 4, 2)
            images[i, 0, 4 * r:4 * r + 4, 4 * c:4 * c + 4] += 100 + 10 * (label // 4)
        return images, labels


@pytest.mark.parametrize("where", ["classifier training", "feature extraction"])
def test_sigterm_while_a_metric_trains_its_classifier_or_extracts_features_abandons_the_evaluation(
        where, register, small, helpers, tmp_path, monkeypatch):
    """The loops of the image metrics: the domain classifier's training (4 epochs of 8 batches) and the
    feature extraction of the generated images (4 batches of 500); the signal comes in the 3rd / 1st call."""
    monkeypatch.setenv(classifier_module.CACHE_ENV, str(tmp_path / "cache"))
    register(datasets=[LabelledImages])
    counted, signal_at = ((classifier_module.DomainCNN, 3) if where == "classifier training"
                          else (features_module._Features, 1))
    original, calls = counted.forward, []

    def counting_forward(self, x):
        if where != "classifier training" or self.training:
            calls.append(x.shape[0])
            if len(calls) == signal_at:
                os.kill(os.getpid(), signal.SIGTERM)
        return original(self, x)

    monkeypatch.setattr(counted, "forward", counting_forward)
    run = tmp_path / "run"
    trainer = ganforge.Trainer(**{**small, "data": LabelledImages.name, "eval_every": 10, "eval_samples": 2000,
                                  "checkpoint_every": 0, "out_dir": str(run)})
    trainer.fit()
    assert trainer.stop_reason == "received SIGTERM" and trainer.step == 10
    assert signal_at <= len(calls) <= signal_at + 1  # of 32 training batches / 4 extraction batches
    assert helpers.checkpoint_steps(run) == [10]
    assert not any(k.startswith("eval_") for r in _records(run) for k in r)
    cached = sorted(p.name for p in (tmp_path / "cache").rglob("*") if p.is_file())
    if where == "classifier training":  # an abandoned classifier is not cached (nor a temporary file left)
        assert cached == []
    else:  # trained before the signal: cached, for the next evaluation
        assert len(cached) == 1 and cached[0].startswith("ganforge-classifier-") and cached[0].endswith(".pt")


# -- the command line: a second signal after the stop checkpoint, SIGTERM outside training --------------------


class SignalAtStep(ganforge.Trick):
    """Test trick: sends SIGTERM to this process after step 5 (as a scheduler would)."""

    name = "sigterm_at_step_5"

    def after_step(self, trainer, step):
        if step + 1 == 5:
            os.kill(os.getpid(), signal.SIGTERM)


def _train_args(run: Path) -> list[str]:
    return ["train", "--data", "grid25", "--steps", "50", "--batch-size", "16", "--latent-dim", "8",
            "--log-every", "5", "--sample-every", "0", "--checkpoint-every", "0", "--no-progress",
            "--device", "cpu", "--gen-option", "hidden=[32]", "--disc-option", "hidden=[32]",
            "--tricks", SignalAtStep.name, "--out", str(run)]


@pytest.mark.parametrize("second", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_second_signal_after_the_stop_checkpoint_is_saved_ends_the_command_as_the_first_asked(
        second, register, tmp_path, monkeypatch, capfd):
    register(tricks=[SignalAtStep])
    release, sent = RunFolder.release, []

    def signal_then_release(self):  # after the stop checkpoint, the handlers restored: the last thing fit does
        if not sent:
            sent.append(second)
            os.kill(os.getpid(), second)
        release(self)

    monkeypatch.setattr(RunFolder, "release", signal_then_release)
    run = tmp_path / "run"
    before = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    status = main(_train_args(run))
    err = capfd.readouterr().err  # the note is written straight to file descriptor 2
    assert sent == [second]
    assert status == 0, err
    assert "Traceback" not in err
    assert f"Stopped at step 5: received SIGTERM. Saved {run / ckpt.CHECKPOINT_DIR / ckpt.checkpoint_name(5)}" in err
    assert "ganforge: already stopping: the checkpoint is saved" in err
    assert [step for step, _ in ckpt.list_checkpoints(run)] == [5]
    assert not (run / ".ganforge-run.owner").exists()  # the release was not cut short
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == before


class SignalWhileLoading(ganforge.Dataset):
    """Test data set whose loading receives SIGTERM (before the training loop and its handlers)."""

    name = "sigterm_while_loading"

    @property
    def sample_shape(self) -> tuple[int, ...]:
        return (1, 8, 8)

    @property
    def num_classes(self) -> None:
        return None

    def load(self):
        os.kill(os.getpid(), signal.SIGTERM)
        raise AssertionError("SIGTERM did not end the loading")


def test_sigterm_before_training_ends_the_command_with_one_line_and_status_143(register, tmp_path, capsys):
    register(datasets=[SignalWhileLoading])
    run = tmp_path / "run"
    status = main(["train", "--data", SignalWhileLoading.name, "--steps", "5", "--no-progress", "--device", "cpu",
                   "--out", str(run)])
    err = capsys.readouterr().err
    assert status == 128 + signal.SIGTERM, err
    assert err.strip().splitlines()[-1] == "ganforge: terminated (SIGTERM)"
    assert "Traceback" not in err and "AssertionError" not in err
    assert not run.exists()


# Installed before anything else imports (sitecustomize): SIGINT to this process the moment torch starts
# importing, as a Ctrl-C typed right after 'ganforge train' would arrive.
_CTRL_C_WHILE_IMPORTING = """
import os, signal, sys

class CtrlCAtImport:
    def find_spec(self, name, path=None, target=None):
        if name == "torch":
            sys.meta_path.remove(self)
            os.kill(os.getpid(), signal.SIGINT)
        return None

sys.meta_path.insert(0, CtrlCAtImport())
"""


@pytest.mark.xfail(strict=True, reason="needs ganforge/__init__.py to import torch lazily (issue 24 report: "
                   "the package import runs before any entry point can catch Ctrl-C); drop this mark with it")
@pytest.mark.slow
@pytest.mark.parametrize("entry", ["python -m ganforge", "ganforge.cli:main"])
def test_ctrl_c_while_the_command_imports_prints_one_line_and_status_130(entry, tmp_path, helpers):
    hook = tmp_path / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(textwrap.dedent(_CTRL_C_WHILE_IMPORTING))
    env = helpers.cli_env()
    env["PYTHONPATH"] = os.pathsep.join([str(hook), env["PYTHONPATH"]])
    args = ["train", "--data", "grid25", "--steps", "5", "--out", str(tmp_path / "run")]
    command = (helpers.cli_command(*args) if entry == "python -m ganforge" else  # what the console script does
               [sys.executable, "-c", "import sys; from ganforge.cli import main; sys.exit(main())", *args])
    proc = subprocess.run(command, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 130, proc.stderr[-2000:]
    assert proc.stderr.strip() == "ganforge: interrupted"
    assert not (tmp_path / "run").exists()
