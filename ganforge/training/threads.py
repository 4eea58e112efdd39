"""CPU threads of a run (``TrainConfig.threads``): an explicit setting as given, else a fixed rule.

The thread count is part of a CPU run's identity: PyTorch splits sums over
threads, and another count adds in another order, so the losses may differ in
the last bits and the runs drift apart. ganforge therefore never lets timing
decide a run's count behind the user's back. The count is, first match wins:

1. ``threads=N`` (``--threads N``; ``Trainer.resume(..., threads=N)`` too);
2. ``GANFORGE_THREADS=N`` in the environment (ganforge's own variable; ``ganforge
   tune`` gives its workers 1);
3. a count set with ``torch.set_num_threads(k)`` in this process before the
   Trainer is built (see :func:`torch_threads` for how it is told apart from
   torch's default);
4. ``MKL_NUM_THREADS`` or ``OMP_NUM_THREADS`` in the environment (MKL's first,
   as torch reads them);
5. on a resumed run, the count the checkpoint recorded;
6. ``"auto"``'s rule: :data:`AUTO_THREADS` (1) per process.

Why 1: the models GANs train on a CPU are small, so an operator's work is too
small to split well, and when another process keeps a core busy, threads that
wait on each other collapse the step rate. On the 2-core machine this project
is developed on (``benchmarks/threads.py``, docs/benchmarks.md), the README's
first run took 236 step/s idle with 1 thread and 277 with 2, but 253 against 49
while another process held a core; a quick check of a ``dcgan`` pair on MNIST
under the machine's ordinary shared load ran 2 to 3 times slower with 2 threads
than with 1. One thread is never far from the best and is the same on every
machine. Give a number (or ``OMP_NUM_THREADS``) on a machine you have to
yourself with a larger model.

``threads="measure"`` keeps the old behaviour on purpose: it times a few steps
with 1, 2, 4, ... threads (on a throwaway copy of the run, see :func:`measure`)
and keeps the fastest. That choice depends on what else runs at that moment, so
two runs of one command may differ; the count is recorded and a resume keeps it.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import torch

from ganforge.errors import ConfigError

if TYPE_CHECKING:
    from ganforge.config import TrainConfig

THREADS_ENV = "GANFORGE_THREADS"
#: The thread count ``threads="auto"`` gives a CPU run (per process) when nothing explicit is set.
AUTO_THREADS = 1
#: Environment variables torch reads for its thread count, in the order torch prefers them.
TORCH_ENV = ("MKL_NUM_THREADS", "OMP_NUM_THREADS")

#: The count ganforge last gave torch (None: it has not set one in this process).
_set_by_ganforge: int | None = None


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


def _env_count(name: str) -> int | None:
    """The positive integer environment variable ``name`` holds, None when unset or empty.

    An OpenMP list such as ``4,2`` (threads per nesting level) counts as its first entry.
    """
    text = os.environ.get(name, "").strip()
    if not text:
        return None
    first = text.split(",")[0].strip() if name != THREADS_ENV else text
    try:
        value = int(first)
    except ValueError:
        value = 0
    if value < 1:
        raise ConfigError(f"{name} must be a positive integer (got {text!r}); set it to a number of CPU threads "
                          f"such as 1, or unset it.")
    return value


def env_threads() -> int | None:
    """The count ``GANFORGE_THREADS`` names, or None when it is unset or empty.

    Raises:
        ConfigError: when it is set to something other than a positive integer.
    """
    return _env_count(THREADS_ENV)


def torch_env_threads() -> tuple[int, str] | None:
    """``(count, variable)`` of ``MKL_NUM_THREADS`` or else ``OMP_NUM_THREADS``, or None when neither is set.

    Raises:
        ConfigError: when the one that is set is not a positive integer.
    """
    for name in TORCH_ENV:
        count = _env_count(name)
        if count is not None:
            return count, name
    return None


def _torch_env_counts() -> list[int]:
    """The counts ``MKL_NUM_THREADS`` and ``OMP_NUM_THREADS`` name now (those that are valid)."""
    counts = []
    for name in TORCH_ENV:
        try:
            count = _env_count(name)
        except ConfigError:
            count = None
        if count is not None:
            counts.append(count)
    return counts


#: torch's thread count, and the counts its variables named, when ganforge was imported.
_AT_IMPORT = torch.get_num_threads()
_ENV_AT_IMPORT = tuple(_torch_env_counts())


def torch_threads() -> int | None:
    """The count a ``torch.set_num_threads`` call in this process set, or None when torch has its own count.

    The rule: once ganforge has set a count, any other current count was set by
    someone else. Before that, the count counts as set when it differs from the
    one torch had when ganforge was imported, or when that one already differed
    from every count torch picks by itself (its default for this machine, which
    torch also uses for its inter-op pool, and the values of ``MKL_NUM_THREADS``
    and ``OMP_NUM_THREADS``, when ganforge was imported or now). A call that sets exactly torch's own count cannot
    be told apart from no call; it changes nothing then.
    """
    current = torch.get_num_threads()
    if _set_by_ganforge is not None:
        return None if current == _set_by_ganforge else current
    if current != _AT_IMPORT:
        return current
    own = {torch.get_num_interop_threads(), *_ENV_AT_IMPORT, *_torch_env_counts()}
    return current if current not in own else None


def apply(count: int) -> None:
    """Give torch ``count`` threads, remembering that ganforge set them (so it is not taken for the user's)."""
    global _set_by_ganforge
    torch.set_num_threads(count)
    _set_by_ganforge = count


def choose(setting: int | str, recorded: int | None = None) -> tuple[int | None, str]:
    """The count a CPU run uses for ``config.threads == setting`` and why, by the order in the module's docstring.

    Args:
        setting: ``config.threads``: a number, ``"auto"`` or ``"measure"``.
        recorded: On a resumed run whose ``threads`` was not given again, the
            count its checkpoint recorded; else None.

    Returns:
        ``(count, source)``; ``(None, "measure")`` when the caller must measure.

    Raises:
        ConfigError: when one of the environment variables is set to something
            other than a positive integer.
    """
    if isinstance(setting, int):
        return setting, "set by threads"
    if setting == "measure":
        return (recorded, "recorded by the run") if recorded is not None else (None, "measure")
    count = env_threads()
    if count is not None:
        return count, f"from {THREADS_ENV}"
    count = torch_threads()
    if count is not None:
        return count, "set by torch.set_num_threads"
    from_env = torch_env_threads()
    if from_env is not None:
        return from_env[0], f"from {from_env[1]}"
    if recorded is not None:
        return recorded, "recorded by the run"
    return AUTO_THREADS, "auto; threads=N or OMP_NUM_THREADS=N for another count"


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


def measure(build: Callable[[TrainConfig], Any], config: TrainConfig | dict[str, Any] | None = None,
            counts: list[int] | None = None, warmup: int = 2, timed: int = 5) -> dict[int, float]:
    """Steps per second of the run ``config`` describes on the CPU with each thread count.

    A step you take on purpose (``threads="measure"`` does it for you): it
    builds a throwaway copy of the run (one process, on the CPU, nothing
    written), times ``warmup`` + ``timed`` steps at each count (default
    :func:`candidate_counts` of the usable cores) and leaves the process as it
    was: torch's thread count and every global random generator are restored.
    The rates depend on what else the machine runs meanwhile; pass the count
    you pick as ``threads=N`` to every run that must reproduce.

    ``build(config)`` returns the built run (``Trainer(config).setup()``);
    :meth:`ganforge.Trainer.measure_threads` passes it, so this module never
    imports the Trainer.

    Example::

        from ganforge import Trainer
        Trainer.measure_threads({"data": "grid25"})   # {1: 236.0, 2: 277.0}
    """
    from ganforge.config import TrainConfig
    from ganforge.training.seeding import get_rng_state, set_rng_state

    if config is None:
        config = TrainConfig()
    elif not isinstance(config, TrainConfig):
        config = TrainConfig.from_dict(dict(config))
    counts = counts or candidate_counts(usable_cores())
    before, rng = torch.get_num_threads(), get_rng_state()
    global _set_by_ganforge
    was_set = _set_by_ganforge
    try:
        trainer = build(config.evolve(threads=counts[0], device="cpu", strategy="none", progress=False,
                                      tensorboard=False))

        def run(n: int) -> None:
            for _ in range(n):
                trainer._one_step()

        return time_thread_counts(run, counts, warmup, timed)
    finally:
        torch.set_num_threads(before)
        _set_by_ganforge = was_set
        set_rng_state(rng)


def recorded_count(state: dict[str, Any]) -> int | None:
    """The CPU thread count a checkpoint recorded: ``thread_count``, else the count its ``threads`` note begins with.

    (Checkpoints of ganforge 0.2 hold only the note, e.g. ``"2 CPU threads (measured: ...)"``.)
    None for a run on a GPU.
    """
    count = state.get("thread_count")
    if isinstance(count, int) and not isinstance(count, bool) and count >= 1:
        return count
    note = state.get("threads")
    if isinstance(note, str):
        first = note.split(" ", 1)[0]
        if first.isdigit() and int(first) >= 1 and note[len(first):].startswith(" CPU thread"):
            return int(first)
    return None


def describe(chosen: int, rates: dict[int, float] | None, source: str) -> str:
    """The run's note on its threads, e.g. ``1 CPU thread (measured: 1 -> 84 step/s, 2 -> 2.1 step/s)``."""
    what = f"{chosen} CPU thread{'s' if chosen != 1 else ''}"
    if rates:
        measured = ", ".join(f"{n} -> {r:.3g} step/s" for n, r in rates.items())
        return f"{what} (measured: {measured})"
    return f"{what} ({source})"
