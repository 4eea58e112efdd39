"""CPU threads: explicit settings as given, "auto" by a fixed rule, "measure" only when asked (ganforge.training.threads)."""

from __future__ import annotations

import pytest
import torch

import ganforge
from ganforge.training import threads as gthreads
from ganforge.training.threads import (
    THREADS_ENV,
    candidate_counts,
    describe,
    env_threads,
    time_thread_counts,
)


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


def test_auto_is_one_thread_and_never_times_steps(tiny, monkeypatch):
    """With nothing explicit, auto follows its rule: 1 thread, whatever the cores, and no step is run to decide."""
    for name in (THREADS_ENV, "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(gthreads, "_set_by_ganforge", torch.get_num_threads())  # as an earlier run left it
    monkeypatch.setattr(gthreads, "usable_cores", lambda: 8)
    trainer = ganforge.Trainer(**tiny, data="grid25").setup()
    assert torch.get_num_threads() == 1 and trainer.thread_count == 1
    assert trainer.threads_note == "1 CPU thread (auto; threads=N or OMP_NUM_THREADS=N for another count)"
    assert trainer.step == 0 and trainer.step_fn.skipped == 0


def test_measure_times_a_copy_and_leaves_the_process_as_it_was(tiny):
    before_threads, before_rng = torch.get_num_threads(), torch.random.get_rng_state()
    rates = ganforge.Trainer.measure_threads({**tiny, "data": "grid25"}, counts=[1, 2], warmup=1, timed=2)
    assert set(rates) == {1, 2} and all(r > 0 for r in rates.values())
    assert torch.get_num_threads() == before_threads
    assert torch.equal(torch.random.get_rng_state(), before_rng)


def test_threads_measure_picks_a_measured_count_and_says_so(tiny, monkeypatch):
    monkeypatch.setattr(gthreads, "usable_cores", lambda: 2)
    trainer = ganforge.Trainer(**tiny, data="grid25", threads="measure").setup()
    assert trainer.threads_note.startswith(("1 CPU thread (measured: 1 -> ", "2 CPU threads (measured: 1 -> "))
    assert "2 -> " in trainer.threads_note and torch.get_num_threads() == trainer.thread_count
    assert trainer.step == 0
    torch.set_num_threads(1)


def test_config_accepts_old_and_new_settings():
    assert ganforge.TrainConfig.from_dict({"threads": "auto"}).threads == "auto"  # configs of 0.2 load
    assert ganforge.TrainConfig(threads=" Measure ").threads == "measure"
    assert ganforge.TrainConfig(threads="3").threads == 3


def test_omp_num_threads_must_be_a_positive_integer(tiny, monkeypatch):
    monkeypatch.delenv(THREADS_ENV)
    monkeypatch.setenv("OMP_NUM_THREADS", "4,2")  # an OpenMP list: its first level counts
    assert gthreads.torch_env_threads() == (4, "OMP_NUM_THREADS")
    monkeypatch.setenv("OMP_NUM_THREADS", "lots")
    monkeypatch.setattr(gthreads, "_set_by_ganforge", torch.get_num_threads())  # torch's count: an earlier run's
    with pytest.raises(ganforge.ConfigError, match="OMP_NUM_THREADS must be a positive integer \\(got 'lots'\\)"):
        ganforge.Trainer(**tiny, data="grid25").setup()


def test_a_number_is_used_as_given(tiny):
    trainer = ganforge.Trainer(**tiny, data="grid25", threads=2).setup()
    assert torch.get_num_threads() == 2 and trainer.threads_note == "2 CPU threads (set by threads)"
    torch.set_num_threads(1)
    with pytest.raises(ganforge.ConfigError, match="'threads' must be 'auto', 'measure' or an integer >= 1 \\(got 0\\)"):
        ganforge.Trainer(**tiny, threads=0)
