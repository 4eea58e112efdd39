"""Issue 17, item 5: time-based checkpoints, and a second Ctrl-C that does not lose the stop checkpoint.

Findings: checkpoints came every 1,000 steps only, so a run killed before its first one lost everything;
a double Ctrl-C before the first checkpoint left a folder that could be neither resumed nor re-run.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import pytest

import ganforge
from ganforge.io import checkpoint as ckpt

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")


def test_the_timer_is_due_after_its_minutes():
    now = [100.0]
    timer = ckpt.CheckpointTimer(2.0, clock=lambda: now[0])
    assert not timer.due()
    now[0] += 119.9
    assert not timer.due()
    now[0] += 0.1
    assert timer.due()
    timer.reset()
    assert not timer.due()
    assert not ckpt.CheckpointTimer(0.0, clock=lambda: now[0] + 1e9).due()  # 0: off


@pytest.mark.parametrize("minutes, steps", [(1e-9, [5, 10, 15, 20]), (10.0, [20]), (0.0, [20])])
def test_time_based_checkpoints_come_at_log_points(minutes, steps, small, tmp_path, helpers):
    """checkpoint_every=0 (only at the end): with a tiny checkpoint_minutes, a checkpoint at every log (5 steps)."""
    trainer = ganforge.Trainer(**{**small, "checkpoint_every": 0, "checkpoint_minutes": minutes})
    trainer.fit()
    assert helpers.checkpoint_steps(tmp_path / "run") == steps
    for step, path in ckpt.list_checkpoints(tmp_path / "run"):
        assert ckpt.load_checkpoint(path)["history"]["g_loss"] == trainer.history.g_loss[:step]


TRAIN = ["train", "--data", "grid25", "--steps", "1000000", "--batch-size", "16", "--latent-dim", "8",
         "--gen-option", "hidden=[32,32]", "--disc-option", "hidden=[32,32]", "--device", "cpu", "--sample-every", "0",
         "--no-progress"]


@pytest.mark.slow  # a real process, killed
def test_a_kill_before_the_first_step_checkpoint_keeps_the_timed_one(tmp_path, helpers):
    """checkpoint_every=1000000, checkpoint_minutes=0.005 (0.3 s): SIGKILL still leaves a checkpoint to resume."""
    run = tmp_path / "run"
    proc = subprocess.Popen(helpers.cli_command(*TRAIN, "--log-every", "5", "--checkpoint-every", "1000000",
                                                "--checkpoint-minutes", "0.005", "--out", str(run)),
                            env=helpers.cli_env(), stderr=subprocess.DEVNULL, cwd=tmp_path)
    try:
        deadline = time.monotonic() + 120
        while not ckpt.list_checkpoints(run):
            assert proc.poll() is None and time.monotonic() < deadline, "no time-based checkpoint appeared"
            time.sleep(0.05)
        time.sleep(0.5)
    finally:
        proc.kill()
        proc.wait()
    found = ckpt.list_checkpoints(run)
    assert found and all(step % 5 == 0 for step, _ in found)  # written at log points
    step, path = found[-1]
    assert ckpt.load_checkpoint(path)["step"] == step
    resumed = ganforge.Trainer.resume(run, steps=step + 3, progress=False)
    resumed.fit()
    assert resumed.step == step + 3


@pytest.mark.slow
def test_a_second_ctrl_c_while_the_stop_checkpoint_is_written_does_not_lose_it(tmp_path, helpers):
    """Big models (about 100 MB checkpoints) so that the second SIGINT lands while the first one's checkpoint is
    being written (its temporary file exists); before, it interrupted the write and the checkpoint was lost."""
    run = tmp_path / "run"
    args = [*TRAIN, "--gen-option", "hidden=[1024,1024,1024]", "--disc-option", "hidden=[1024,1024,1024]",
            "--log-every", "2", "--checkpoint-every", "1000000", "--checkpoint-minutes", "0", "--out", str(run)]
    with open(tmp_path / "stderr.txt", "wb") as log:
        proc = subprocess.Popen(helpers.cli_command(*args), env=helpers.cli_env(), stderr=log, cwd=tmp_path)
        try:
            deadline = time.monotonic() + 120
            while b"Training" not in (tmp_path / "stderr.txt").read_bytes():
                assert proc.poll() is None and time.monotonic() < deadline, "training did not start"
                time.sleep(0.05)
            time.sleep(1.0)
            proc.send_signal(signal.SIGINT)
            folder = run / "checkpoints"
            while not any(p.name.endswith(".tmp") for p in folder.iterdir()):  # the write has begun
                assert proc.poll() is None and time.monotonic() < deadline, "no checkpoint write was seen"
                time.sleep(0.001)
            proc.send_signal(signal.SIGINT)
            status = proc.wait(timeout=120)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    err = (tmp_path / "stderr.txt").read_text()
    assert status == 0, err[-2000:]
    assert "ganforge: already stopping: finishing the current step and saving a checkpoint; please wait" in err
    assert "Traceback" not in err and "interrupted" not in err
    (step, path), = ckpt.list_checkpoints(run)
    assert f"Stopped at step {step}: received SIGINT. Saved {path}" in err
    assert ckpt.load_checkpoint(path)["step"] == step
