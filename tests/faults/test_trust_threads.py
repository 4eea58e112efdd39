"""Issue 24, item 2: one seed, one result, on a shared machine.

The CPU thread count changes the order of floating-point sums, so it is part of a run's
identity. ``threads="auto"`` must pick it by a rule (never by timing steps while other work
competes for the cores), an explicit setting (``threads=N``, ``GANFORGE_THREADS``,
``torch.set_num_threads``, ``OMP_NUM_THREADS``) is used as given, and a resumed run keeps the
count it recorded.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest
import torch

import ganforge
from ganforge.io import checkpoint as ckpt
from ganforge.training import threads as gthreads

#: "cpu (1 CPU thread (auto: ...))" in the run's first line.
_THREADS_IN_FIRST_LINE = re.compile(r"cpu \((\d+) CPU threads? \((.*?)\)\), ")


@pytest.fixture
def clean_threads(monkeypatch):
    """No thread variable in the environment; torch's thread count as ganforge last left it, restored after."""
    for name in (gthreads.THREADS_ENV, "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        monkeypatch.delenv(name, raising=False)
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def _logged(run_dir) -> list[dict]:
    """Every metrics.jsonl record without its wall-clock field (steps_per_s)."""
    lines = (run_dir / "metrics.jsonl").read_text(encoding="utf-8").splitlines()
    return [{k: v for k, v in json.loads(line).items() if k != "steps_per_s"} for line in lines]


@pytest.mark.slow  # two real training processes beside a spinning one
def test_the_same_seeded_command_gives_the_same_values_while_another_process_spins(tmp_path, helpers):
    env = helpers.cli_env()
    for name in (gthreads.THREADS_ENV, "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        env.pop(name, None)  # the default, threads="auto", and nothing in the environment
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        runs = []
        for name in ("a", "b"):
            out = tmp_path / name
            done = subprocess.run(
                helpers.cli_command("train", "--data", "grid25", "--steps", "100", "--seed", "3", "--out", str(out),
                                    "--log-every", "10", "--sample-every", "0", "--no-progress"),
                env=env, capture_output=True, text=True, timeout=300)
            assert done.returncode == 0, done.stderr
            runs.append((out, done.stderr))
    finally:
        spinner.kill()
        spinner.wait()
    (a, a_err), (b, b_err) = runs
    a_threads, b_threads = _THREADS_IN_FIRST_LINE.search(a_err), _THREADS_IN_FIRST_LINE.search(b_err)
    assert a_threads and b_threads, (a_err, b_err)
    assert a_threads.group(1) == b_threads.group(1) == "1", (a_err, b_err)
    assert "measured" not in a_err + b_err  # no timing race decided the count
    logged = _logged(a)
    assert len(logged) == 10 and logged == _logged(b)
    # Every step's losses too, from the final checkpoints (bit for bit).
    state_a, state_b = (ckpt.load_checkpoint(r / "checkpoints" / ckpt.checkpoint_name(100)) for r in (a, b))
    for key in ("g_loss", "d_loss"):
        assert state_a["history"][key] == state_b["history"][key]
    assert state_a["thread_count"] == state_b["thread_count"] == 1


def test_omp_num_threads_in_the_environment_is_used_as_given(clean_threads, monkeypatch, small):
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    trainer = ganforge.Trainer(**small).setup()
    assert torch.get_num_threads() == 2
    assert trainer.threads_note == "2 CPU threads (from OMP_NUM_THREADS)"
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    trainer.fit()
    trainer = ganforge.Trainer(**{**small, "overwrite": True}).setup()
    assert torch.get_num_threads() == 1 and trainer.threads_note == "1 CPU thread (from OMP_NUM_THREADS)"


def test_torch_set_num_threads_before_the_trainer_is_used_as_given(clean_threads, small):
    torch.set_num_threads(2)
    trainer = ganforge.Trainer(**small).setup()
    assert torch.get_num_threads() == 2
    assert trainer.threads_note == "2 CPU threads (set by torch.set_num_threads)"


def test_auto_follows_its_rule_whatever_an_earlier_trainer_set(clean_threads, small):
    ganforge.Trainer(**small, threads=2).setup()  # an earlier run in this process, with an explicit count
    assert torch.get_num_threads() == 2
    trainer = ganforge.Trainer(**small).setup()
    assert torch.get_num_threads() == 1 and trainer.threads_note.startswith("1 CPU thread (auto")


def test_a_resumed_run_uses_the_count_it_recorded(clean_threads, monkeypatch, small):
    monkeypatch.setenv(gthreads.THREADS_ENV, "2")
    first = ganforge.Trainer(**{**small, "steps": 10})
    first.fit()
    state = ckpt.load_checkpoint(first.run_dir / "checkpoints" / ckpt.checkpoint_name(10))
    assert state["thread_count"] == 2
    monkeypatch.delenv(gthreads.THREADS_ENV)
    ganforge.Trainer(**small, threads=1).setup()  # the process now runs 1 thread, set by ganforge
    resumed = ganforge.Trainer.resume(first.run_dir).setup()
    assert torch.get_num_threads() == 2
    assert resumed.threads_note == "2 CPU threads (recorded by the run)"


def test_an_explicit_setting_on_resume_wins_and_says_so(clean_threads, small):
    first = ganforge.Trainer(**{**small, "steps": 10}, threads=2)
    first.fit()
    resumed = ganforge.Trainer.resume(first.run_dir, threads=1).setup()
    assert torch.get_num_threads() == 1
    assert resumed.threads_note == ("1 CPU thread (set by threads; the run used 2 before: from here its sums may "
                                    "differ in the last bits from an uninterrupted run)")


def test_a_checkpoint_of_the_timing_version_resumes_with_the_count_its_note_names(clean_threads, small):
    first = ganforge.Trainer(**{**small, "steps": 10})
    first.fit()
    path = first.run_dir / "checkpoints" / ckpt.checkpoint_name(10)
    state = ckpt.load_checkpoint(path)
    state.pop("thread_count", None)  # as 0.2 wrote it: only the note
    state["threads"] = "2 CPU threads (measured: 1 -> 20 step/s, 2 -> 31 step/s)"
    torch.save(state, path)
    resumed = ganforge.Trainer.resume(first.run_dir).setup()
    assert torch.get_num_threads() == 2 and resumed.threads_note == "2 CPU threads (recorded by the run)"
