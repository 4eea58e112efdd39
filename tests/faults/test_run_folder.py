"""Issue 17, items 1, 2 and 4: one writer per run folder, the folder knows what it owns, and a run that
failed before its first checkpoint is started again by the same command.

Each test runs the exact command (``main([...])`` in-process, or ``python -m ganforge`` where a second
process is the point), checks the one-line message and the exit status, and that no file of the user's
and no good checkpoint was lost.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import ganforge
from ganforge.cli import main
from ganforge.io import checkpoint as ckpt
from ganforge.io.rundir import MARKER_FILE, read_marker
from ganforge.io.runlock import OWNER_FILE, RunLock

SMALL = ["--data", "grid25", "--batch-size", "16", "--latent-dim", "8", "--gen-option", "hidden=[32,32]",
         "--disc-option", "hidden=[32,32]", "--device", "cpu", "--log-every", "5", "--sample-every", "10",
         "--checkpoint-every", "5", "--no-progress"]


def _train(out, *extra) -> int:
    return main(["train", *SMALL, "--out", str(out), *extra])


def _err(capsys) -> str:
    return capsys.readouterr().err


def _one_error_line(err: str) -> str:
    """The ``ganforge: error:`` line of ``err``, checked to be the only one and without a traceback."""
    lines = [ln for ln in err.splitlines() if ln.startswith("ganforge: error:")]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


# -- item 1: one writer ---------------------------------------------------------------------------------------


def test_a_second_writer_is_refused_naming_the_holder(tmp_path, capsys, helpers):
    run = tmp_path / "run"
    assert _train(run, "--steps", "10") == 0
    before = helpers.snapshot(run)
    with RunLock(run):  # as a training process holds it for its whole run
        assert main(["train", "--resume", str(run), "--steps", "20", "--no-progress"]) == 1
        line = _one_error_line(_err(capsys))
        assert line.startswith(f"ganforge: error: Run folder {run} is in use by process {os.getpid()} on ")
        assert line.endswith("wait for it to finish or stop it (Ctrl-C saves a checkpoint), or choose another --out.")
        with pytest.raises(ganforge.RunLockedError, match="is in use by process"):  # a new run with --overwrite too
            ganforge.Trainer(data="grid25", steps=5, out_dir=str(run), overwrite=True, progress=False).fit()
    after = helpers.snapshot(run)
    assert {k: v for k, v in after.items() if k != OWNER_FILE} == before  # nothing written by the refused runs
    assert main(["train", "--resume", str(run), "--steps", "20", "--no-progress"]) == 0  # released: it resumes
    assert helpers.checkpoint_steps(run)[-1] == 20


@pytest.mark.slow  # real processes
def test_two_resumes_started_together_do_not_interleave(tmp_path, helpers):
    """The finding: two 'ganforge train --resume RUN' both ran and wrote steps 1100, 1200, 1100, 1200, ... ."""
    run = tmp_path / "run"
    assert _train(run, "--steps", "5") == 0
    args = ["train", "--resume", str(run), "--steps", "1000000", "--log-every", "5", "--checkpoint-every", "50",
            "--no-progress"]
    env = helpers.cli_env()
    first = subprocess.Popen(helpers.cli_command(*args), env=env, stderr=subprocess.PIPE, text=True, cwd=tmp_path)
    try:
        deadline = time.monotonic() + 120
        while not (run / OWNER_FILE).exists() or len((run / "metrics.jsonl").read_text().splitlines()) < 3:
            assert first.poll() is None and time.monotonic() < deadline, "the first resume did not start training"
            time.sleep(0.05)
        second = subprocess.run(helpers.cli_command(*args), env=env, capture_output=True, text=True, timeout=120,
                                cwd=tmp_path)
        assert second.returncode == 1
        line = _one_error_line(second.stderr)
        assert f"Run folder {run} is in use by process {first.pid} on " in line
        assert f"ganforge train --resume {run}" in line  # the holder's command, from the owner file
        first.send_signal(signal.SIGINT)
        first.wait(timeout=60)
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
    assert first.returncode == 0
    steps = [json.loads(line)["step"] for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert steps == sorted(steps) and len(steps) == len(set(steps))  # one writer: strictly increasing
    assert not (run / OWNER_FILE).exists()  # released at exit
    for _, path in ckpt.list_checkpoints(run):
        ckpt.load_checkpoint(path)


@pytest.mark.slow  # a real process, killed
def test_a_lock_left_by_a_killed_process_is_free(tmp_path, helpers):
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time; from ganforge.io.runlock import RunLock; "
                               "lock = RunLock(sys.argv[1]).acquire(); print('locked', flush=True); time.sleep(600)",
                               str(tmp_path)], env=helpers.cli_env(), stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(ganforge.RunLockedError, match=f"in use by process {holder.pid} on "):
            RunLock(tmp_path).acquire()
    finally:
        holder.kill()  # SIGKILL: no chance to release anything
        holder.wait()
    assert (tmp_path / OWNER_FILE).exists()  # its details are stale ...
    with RunLock(tmp_path) as lock:  # ... but the operating system released the lock with the process
        assert lock.held


# -- item 2: the folder knows what it owns ----------------------------------------------------------------------


def test_overwrite_removes_only_what_ganforge_wrote(tmp_path, capsys, helpers):
    """The finding: --overwrite deleted the user's samples/mine.png."""
    run = tmp_path / "run"
    assert _train(run, "--steps", "10") == 0
    marker = read_marker(run)
    assert "samples/step_0000010.png" in marker["files"] and "checkpoints/step_0000010.pt" in marker["files"]
    (run / "samples" / "mine.png").write_bytes(b"the user's picture")
    (run / "notes.txt").write_text("the user's notes")
    (run / "checkpoints" / "keep").mkdir()
    (run / "checkpoints" / "keep" / "mine.pt").write_bytes(b"the user's own file")
    assert _train(run, "--steps", "3") == 1  # without --overwrite: refused, nothing touched
    assert "already holds a run" in _one_error_line(_err(capsys))
    assert _train(run, "--steps", "3", "--overwrite", "--seed", "1") == 0
    assert (run / "samples" / "mine.png").read_bytes() == b"the user's picture"
    assert (run / "notes.txt").read_text() == "the user's notes"
    assert (run / "checkpoints" / "keep" / "mine.pt").read_bytes() == b"the user's own file"
    assert not (run / "samples" / "step_0000010.png").exists()
    assert helpers.checkpoint_steps(run) == [3]
    assert json.loads((run / "config.json").read_text())["seed"] == 1


def test_a_folder_without_the_marker_is_never_treated_as_a_run(tmp_path, capsys, helpers):
    """The finding: any folder with a file named config.json counted as holding a run (and --overwrite deleted it)."""
    mine = tmp_path / "project"
    mine.mkdir()
    (mine / "config.json").write_text('{"my": "own settings"}')
    before = helpers.snapshot(mine)
    for extra in ([], ["--overwrite"]):
        assert _train(mine, "--steps", "3", *extra) == 1
        assert _one_error_line(_err(capsys)) == (
            f"ganforge: error: Output folder {mine} holds config.json but is not a ganforge run (it has no "
            f"{MARKER_FILE} marker), so ganforge will not write over these files, with --overwrite or without. "
            "Move them or choose another --out.")
        assert helpers.snapshot(mine) == before
    # A folder holding only other files of the user's is used, and the files stay.
    (mine / "config.json").unlink()
    (mine / "README.txt").write_text("my experiment")
    assert _train(mine, "--steps", "3") == 0
    assert (mine / "README.txt").read_text() == "my experiment" and helpers.checkpoint_steps(mine) == [3]


# -- item 4: validate first; a failed start is started again --------------------------------------------------


def test_a_metric_the_data_set_lacks_fails_before_the_folder_exists(tmp_path, capsys):
    """The finding: a wrong --eval-metric was found at the first evaluation, 200 steps in, with no checkpoint."""
    run = tmp_path / "run"
    assert _train(run, "--steps", "200", "--eval-every", "100", "--eval-metric", "fid") == 2
    assert _one_error_line(_err(capsys)) == (
        "ganforge: error: 'eval_metric' 'fid' is not measured for data 'grid25'; choose one of modes, hq_percent, "
        "reverse_kl (--eval-metric).")
    assert not run.exists()


def test_an_output_path_problem_is_found_before_the_data_is_read(tmp_path, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("the user's file")
    status = main(["train", "--data", "mnist", "--data-root", str(tmp_path / "no-such-data"), "--out",
                   str(blocker / "run"), "--no-progress"])
    assert status == 1
    # The folder is checked first: the message is about --out, not about the missing MNIST files.
    assert _one_error_line(_err(capsys)) == (
        f"ganforge: error: Cannot create the run folder {blocker / 'run'}: {blocker} is a file, not a folder. "
        "Choose another --out (out_dir).")
    assert blocker.read_text() == "the user's file"


def _image_folder(root: Path, n: int = 24) -> Path:
    rng = np.random.default_rng(0)
    root.mkdir(parents=True)
    for k in range(n):
        Image.fromarray(rng.integers(0, 256, (8, 8), dtype=np.uint8), mode="L").save(root / f"{k:03d}.png")
    return root


@pytest.mark.slow
def test_a_data_error_in_a_worker_is_one_line_and_the_same_command_starts_again(tmp_path, capsys):
    """The findings: a corrupt image read by a DataLoader worker printed the worker's traceback, and the folder it
    left was refused ("already holds a run") while --resume said "No checkpoint found"."""
    images = _image_folder(tmp_path / "images")
    bad = images / "017.png"
    good = bad.read_bytes()
    bad.write_bytes(b"not a png")
    run = tmp_path / "run"
    command = ["train", "--data", "image-folder", "--data-root", str(images), "--data-option", "image_size=8",
               "--data-option", "channels=1", "--data-placement", "files", "--data-workers", "1", "--batch-size", "4",
               "--latent-dim", "8", "--gen-option", "hidden=[16]", "--disc-option", "hidden=[16]", "--device", "cpu",
               "--steps", "12", "--log-every", "3", "--checkpoint-every", "100", "--sample-every", "0",
               "--out", str(run), "--no-progress"]
    assert main(command) == 1
    line = _one_error_line(_err(capsys))
    assert line.startswith(f"ganforge: error: Cannot read image {bad}: ")
    assert line.endswith("Remove or replace the file. (read by DataLoader worker 0)")
    assert "Caught" not in line and "Original Traceback" not in line
    assert read_marker(run) is not None and not ckpt.list_checkpoints(run)
    # --resume of such a folder starts it again (there is nothing to resume) ...
    assert main(["train", "--resume", str(run), "--no-progress"]) == 1
    err = _err(capsys)
    assert f"{run} has no checkpoint yet (the run stopped before its first one): starting it again" in err
    # ... and, the image replaced, the very same command runs.
    bad.write_bytes(good)
    assert main(command) == 0
    assert "Removed" in _err(capsys)
    assert [s for s, _ in ckpt.list_checkpoints(run)] == [12]
    assert sorted(p.name for p in images.iterdir()) == [f"{k:03d}.png" for k in range(24)]  # data untouched


def test_a_finished_run_still_needs_overwrite(tmp_path, capsys, helpers):
    run = tmp_path / "run"
    assert _train(run, "--steps", "5") == 0
    before = helpers.snapshot(run)
    assert _train(run, "--steps", "5") == 1
    assert _one_error_line(_err(capsys)).startswith(f"ganforge: error: Output folder {run} already holds a run.")
    assert helpers.snapshot(run) == before


def test_overwrite_replaces_metrics_even_when_a_picture_came_before_the_first_log(small, tmp_path):
    run = tmp_path / "run"
    ganforge.Trainer(**{**small, "steps": 10, "log_every": 10, "sample_every": 4}).fit()
    assert {"config.json", "metrics.jsonl", "samples/step_0000004.png"} <= set(read_marker(run)["files"])
    ganforge.Trainer(**{**small, "steps": 3, "log_every": 3, "overwrite": True}).fit()
    assert [json.loads(line)["step"] for line in (run / "metrics.jsonl").read_text().splitlines()] == [3]
    assert not (run / "samples" / "step_0000004.png").exists()
