"""CPU threads chosen by measurement (``TrainConfig.threads="auto"``).

PyTorch runs CPU operators on as many threads as the machine has cores. For
the small models GANs on a CPU usually are, that is often the slowest choice:
the work per operator is too small to split, and when another process keeps
a core busy, threads that wait on each other collapse the step rate (on the
2-core machine this project is developed on, a small MLP GAN step ran about
40 times slower with 2 threads than with 1 while another process held a
core; ``benchmarks/threads.py`` measures it). So ``"auto"`` times a few real
steps with each sensible thread count and keeps the fastest.

``GANFORGE_THREADS=N`` in the environment makes ``"auto"`` mean N without
measuring (the test suite uses it, as may a job scheduler that knows better).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable

import torch

from ganforge.errors import ConfigError

THREADS_ENV = "GANFORGE_THREADS"


def usable_cores() -> int:
    """CPU cores this process may run on (its affinity mask where the OS has one)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover  (macOS, Windows)
        return max(1, os.cpu_count() or 1)


def candidate_counts(cores: int) -> list[int]:
    """Thread counts worth timing: 1, 2, 4, ... up to ``cores``, and ``cores`` itself."""
    out, n = [], 1
    while n < cores:
        out.append(n)
        n *= 2
    out.append(cores)
    return out


def env_threads() -> int | None:
    """The count ``GANFORGE_THREADS`` names, or None when it is unset or empty.

    Raises:
        ConfigError: when it is set to something other than a positive integer.
    """
    text = os.environ.get(THREADS_ENV, "").strip()
    if not text:
        return None
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise ConfigError(f"{THREADS_ENV} must be a positive integer (got {text!r}); unset it to measure.")
    return value


def time_thread_counts(run_steps: Callable[[int], None], counts: list[int], warmup: int = 2,
                       timed: int = 5) -> dict[int, float]:
    """Steps per second of ``run_steps(n)`` at each thread count: ``warmup`` untimed steps, then ``timed`` steps.

    ``run_steps(n)`` must run ``n`` training steps and wait for them to
    finish (on the CPU they do). The thread count in effect before the call
    is restored.
    """
    before = torch.get_num_threads()
    rates = {}
    try:
        for count in counts:
            torch.set_num_threads(count)
            run_steps(warmup)
            start = time.perf_counter()
            run_steps(timed)
            rates[count] = timed / max(time.perf_counter() - start, 1e-9)
    finally:
        torch.set_num_threads(before)
    return rates


def describe(chosen: int, rates: dict[int, float] | None, source: str) -> str:
    """The run's note on its threads, e.g. ``1 CPU thread (measured: 1 -> 84 step/s, 2 -> 2.1 step/s)``."""
    what = f"{chosen} CPU thread{'s' if chosen != 1 else ''}"
    if rates:
        measured = ", ".join(f"{n} -> {r:.3g} step/s" for n, r in rates.items())
        return f"{what} (measured: {measured})"
    return f"{what} ({source})"
