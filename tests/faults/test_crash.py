"""Item 3: real training processes killed at random moments, and stopped by SIGINT/SIGTERM.

Each test starts ``python -m ganforge train`` on grid25 with a checkpoint every
3 steps. SIGKILL gives the process no chance to clean up, so what survives is
exactly what the atomic writes guarantee. Delays come from a seeded generator,
so a failure can be replayed.
"""

from __future__ import annotations

import random
import re
import shutil
import signal
import subprocess
import sys
import time

import pytest

import ganforge
from ganforge.io import checkpoint as ckpt

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")

TRAIN = ["--data", "grid25", "--steps", "1000000", "--batch-size", "16", "--latent-dim", "8",
         "--gen-option", "hidden=[32,32]", "--disc-option", "hidden=[32,32]", "--device", "cpu",
         "--log-every", "3", "--checkpoint-every", "3", "--keep-checkpoints", "4", "--sample-every", "0",
         "--tricks", "soft_labels"]


def _start(helpers, args, log, cwd):
    """``python -m ganforge train ARGS`` in ``cwd``, stderr into the open file ``log``."""
    return subprocess.Popen(helpers.cli_command("train", *args), env=helpers.cli_env(), stdout=subprocess.DEVNULL,
                            stderr=log, cwd=cwd)


def _wait_for_checkpoint_after(run, step, proc, timeout=120.0):
    """Block until ``run`` holds a checkpoint newer than ``step`` (the process is training)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = ckpt.list_checkpoints(run)
        if found and found[-1][0] > step:
            return found[-1][0]
        assert proc.poll() is None, f"training process exited early with status {proc.returncode}"
        time.sleep(0.02)
    raise AssertionError(f"no checkpoint after step {step} within {timeout} s")


def _check_all_load(run) -> list[tuple[int, object]]:
    found = ckpt.list_checkpoints(run)
    assert found, "a killed run lost all its checkpoints"
    for step, path in found:
        state = ckpt.load_checkpoint(path)  # raises CheckpointError on a torn file
        assert state["step"] == step and len(state["history"]["g_loss"]) == step
    return found


@pytest.mark.slow
def test_sigkill_at_random_moments_leaves_loadable_resumable_checkpoints(tmp_path, helpers):
    rng = random.Random(20261127)
    run = tmp_path / "run"
    last = 0
    with open(tmp_path / "stderr.txt", "wb") as log:
        for attempt in range(4):
            args = [*TRAIN, "--out", str(run), "--no-progress"] if attempt == 0 else [
                "--resume", str(run), "--no-progress"]
            proc = _start(helpers, args, log, tmp_path)
            try:
                if attempt % 2 == 0:  # mid-training, where checkpoints are written every few ms
                    _wait_for_checkpoint_after(run, last, proc)
                    time.sleep(rng.uniform(0.0, 0.4))
                else:  # any moment from launch on: start-up, resuming, rewriting metrics, training
                    time.sleep(rng.uniform(0.5, 3.0))
            finally:
                proc.kill()
                proc.wait(timeout=60)
            assert proc.returncode == -signal.SIGKILL
            found = _check_all_load(run)
            assert found[-1][0] >= last  # never lost ground
            last = found[-1][0]
    assert last > 0
    stderr = (tmp_path / "stderr.txt").read_text()
    assert "Traceback" not in stderr, stderr[-2000:]

    # Every surviving checkpoint resumes, and the chain of killed processes computed
    # exactly what one uninterrupted run computes.
    final = ckpt.load_checkpoint(found[-1][1])
    config = ganforge.TrainConfig.from_dict(final["config"]).evolve(
        steps=last + 2, out_dir=str(tmp_path / "straight"), progress=False)
    straight = ganforge.Trainer(config)
    straight.fit()
    assert straight.history.g_loss[:last] == final["history"]["g_loss"]
    assert straight.history.d_loss[:last] == final["history"]["d_loss"]
    for step, path in found:
        copy = tmp_path / f"resume-{step}" / ckpt.CHECKPOINT_DIR
        copy.mkdir(parents=True)
        shutil.copy(path, copy / path.name)
        resumed = ganforge.Trainer.resume(copy.parent, steps=step + 2, progress=False)
        resumed.fit()
        assert resumed.step == step + 2
        assert resumed.history.g_loss == straight.history.g_loss[: step + 2]


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_sigint_and_sigterm_save_a_checkpoint_and_exit_cleanly(sig, tmp_path, helpers):
    run = tmp_path / "run"
    with open(tmp_path / "stderr.txt", "wb") as log:
        proc = _start(helpers, [*TRAIN, "--out", str(run), "--checkpoint-every", "50"], log, tmp_path)
        try:
            _wait_for_checkpoint_after(run, 0, proc)
            proc.send_signal(sig)
            status = proc.wait(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    stderr = (tmp_path / "stderr.txt").read_text()
    assert status == 0, stderr[-2000:]
    assert "Traceback" not in stderr
    name = sig.name
    match = re.search(rf"Stopped at step (\d+): received {name}\. Saved (\S+\.pt); resume with "
                      rf"'ganforge train --resume {re.escape(str(run))}'", stderr)
    assert match, stderr[-2000:]
    step, path = int(match.group(1)), match.group(2)
    # The signal may land while step 50's periodic checkpoint is still being finished: then the run
    # stops at step 50 itself, which is as correct as stopping later.
    assert step >= 50 and ckpt.load_checkpoint(path)["step"] == step
    assert ckpt.list_checkpoints(run)[-1] == (step, run / ckpt.CHECKPOINT_DIR / ckpt.checkpoint_name(step))
