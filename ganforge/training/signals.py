"""Ctrl-C and SIGTERM end a run cleanly: the current step finishes and a checkpoint is saved.

The handlers stay installed until that checkpoint is written: a second
Ctrl-C (an impatient user, or a terminal that sends SIGINT twice) only
prints that the checkpoint is being saved, instead of interrupting the
write and losing it. SIGKILL still ends the process at once.

A stop request also cuts an in-training evaluation short
(:mod:`ganforge.training.evaluation`): it is abandoned at its next model call, so the
stop checkpoint is written within seconds wherever the run is.

The ``ganforge`` command adds :func:`command_signals` around everything it
does: outside a run's training loop SIGINT raises :class:`KeyboardInterrupt`
(as Python's default does) and SIGTERM raises :class:`Terminated` (a
KeyboardInterrupt), so both end the command through its clean-up with one
line (status 130 and 143, 128 + the signal's number). Once a run of the
command has received a stop signal, later ones only print that the command
is ending: the command ends as the first signal asked (status 0, the
"Stopped at step N" line), even when they arrive after the checkpoint is saved.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator

#: What a repeated signal prints while the run is stopping.
STILL_STOPPING = ("ganforge: already stopping: finishing the current step and saving a checkpoint; please wait "
                  "(SIGKILL, kill -9, abandons it).\n")
#: What a repeated signal prints after the stop checkpoint is written, while the command ends.
ALREADY_STOPPED = "ganforge: already stopping: the checkpoint is saved and the command is ending.\n"

#: The signals that ask a run to stop.
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Terminated(KeyboardInterrupt):
    """SIGTERM outside a run's training loop, under :func:`command_signals`: ends the command like Ctrl-C.

    A :class:`KeyboardInterrupt`, so the clean-up written for Ctrl-C runs for
    SIGTERM too; ``signum`` is the signal's number (the command exits with 128 + it).
    """

    def __init__(self, signum: int = signal.SIGTERM):
        super().__init__(signal.Signals(signum).name)
        self.signum = int(signum)


class _Command:
    """State of one :func:`command_signals` scope: whether a run in it has received a stop signal."""

    def __init__(self) -> None:
        self.stopping = False


_command: _Command | None = None


def _write(text: str) -> None:
    try:  # os.write: safe even if the signal interrupted another write to stderr
        os.write(sys.stderr.fileno(), text.encode())
    except (OSError, ValueError, AttributeError):
        pass


def catch_stop_signals(request_stop: Callable[[str], None]) -> Callable[[], None]:
    """Route SIGINT and SIGTERM to ``request_stop(reason)``; return a function that restores the old handlers.

    The first signal calls ``request_stop``; later ones print
    :data:`STILL_STOPPING` and are otherwise ignored. Python only lets the main
    thread install handlers, so in any other thread this does nothing (and
    the returned function too).
    """
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    received: list[int] = []

    def handler(signum: int, frame: object) -> None:
        if received:
            _write(STILL_STOPPING)
            return
        received.append(signum)
        if _command is not None:
            _command.stopping = True
        request_stop(f"received {signal.Signals(signum).name}")

    previous = {sig: signal.signal(sig, handler) for sig in STOP_SIGNALS}

    def restore() -> None:
        for sig, old in previous.items():
            signal.signal(sig, old)

    return restore


@contextlib.contextmanager
def command_signals() -> Iterator[None]:
    """The signal handling of one ``ganforge`` command (see the module's text); the old handlers are restored.

    In a thread other than the main one this changes nothing.
    """
    global _command
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    scope, outer = _Command(), _command

    def handler(signum: int, frame: object) -> None:
        if scope.stopping:  # a run was stopped by a signal: its checkpoint is saved, the command is ending
            _write(ALREADY_STOPPED)
            return
        if signum == signal.SIGINT:
            raise KeyboardInterrupt
        raise Terminated(signum)

    previous = {sig: signal.signal(sig, handler) for sig in STOP_SIGNALS}
    _command = scope
    try:
        yield
    finally:
        _command = outer
        for sig, old in previous.items():
            signal.signal(sig, old)
