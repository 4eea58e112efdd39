"""threads="auto": CPU threads chosen by timing real steps, without changing the run."""

from __future__ import annotations

import pytest
import torch

import ganforge
from ganforge.threads import THREADS_ENV, candidate_counts, describe, env_threads, time_thread_counts


def test_candidates_are_powers_of_two_up_to_the_cores():
    assert candidate_counts(1) == [1]
    assert candidate_counts(2) == [1, 2]
    assert candidate_counts(6) == [1, 2, 4, 6]
    assert candidate_counts(8) == [1, 2, 4, 8]


def test_the_environment_variable_must_be_a_positive_integer(monkeypatch):
    monkeypatch.setenv(THREADS_ENV, "3")
    assert env_threads() == 3
    monkeypatch.setenv(THREADS_ENV, "")
    assert env_threads() is None
    monkeypatch.setenv(THREADS_ENV, "many")
    with pytest.raises(ganforge.ConfigError, match="GANFORGE_THREADS must be a positive integer \\(got 'many'\\)"):
        env_threads()


def test_timing_picks_each_count_and_restores_the_setting():
    seen = []
    before = torch.get_num_threads()
    rates = time_thread_counts(lambda n: seen.append((torch.get_num_threads(), n)), [1, 2], warmup=1, timed=3)
    assert seen == [(1, 1), (1, 3), (2, 1), (2, 3)]
    assert set(rates) == {1, 2} and all(r > 0 for r in rates.values())
    assert torch.get_num_threads() == before
    assert describe(1, {1: 84.0, 2: 2.1}, "") == "1 CPU thread (measured: 1 -> 84 step/s, 2 -> 2.1 step/s)"


def test_auto_measures_without_changing_the_run(tiny, monkeypatch):
    """Measuring runs real steps, then restores everything: the losses equal a run fixed at the chosen count.

    (Compared with the count auto chose: 1 and 2 threads sum in different orders, so their
    losses may differ in the last bits.)
    """
    monkeypatch.delenv(THREADS_ENV)
    monkeypatch.setattr("ganforge.trainer.usable_cores", lambda: 2)
    auto_dir = tiny["out_dir"] + "-auto"
    trainer = ganforge.Trainer(**{**tiny, "out_dir": auto_dir}, data="grid25")
    auto = trainer.fit()
    assert trainer.threads_note.startswith(("1 CPU thread (measured: 1 -> ", "2 CPU threads (measured: 1 -> "))
    assert "2 -> " in trainer.threads_note
    chosen = int(trainer.threads_note.split()[0])
    assert torch.get_num_threads() == chosen
    fixed = ganforge.Trainer(**tiny, data="grid25", threads=chosen).fit()
    assert auto.g_loss == fixed.g_loss and auto.d_loss == fixed.d_loss
    torch.set_num_threads(1)


def test_a_number_is_used_as_given(tiny):
    trainer = ganforge.Trainer(**tiny, data="grid25", threads=2).setup()
    assert torch.get_num_threads() == 2 and trainer.threads_note == "2 CPU threads (set by threads)"
    torch.set_num_threads(1)
    with pytest.raises(ganforge.ConfigError, match="'threads' must be 'auto' or an integer >= 1 \\(got 0\\)"):
        ganforge.Trainer(**tiny, threads=0)
