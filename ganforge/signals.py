"""Ctrl-C and SIGTERM end a run cleanly: the current step finishes and a checkpoint is saved.

The handlers stay installed until that checkpoint is written: a second
Ctrl-C (an impatient user, or a terminal that sends SIGINT twice) only
prints that the checkpoint is being saved, instead of interrupting the
write and losing it. SIGKILL still ends the process at once.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Callable

#: What a repeated signal prints while the run is stopping.
STILL_STOPPING = ("ganforge: already stopping: finishing the current step and saving a checkpoint; please wait "
                  "(SIGKILL, kill -9, abandons it).\n")


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
            try:  # os.write: safe even if the signal interrupted another write to stderr
                os.write(sys.stderr.fileno(), STILL_STOPPING.encode())
            except (OSError, ValueError, AttributeError):
                pass
            return
        received.append(signum)
        request_stop(f"received {signal.Signals(signum).name}")

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}

    def restore() -> None:
        for sig, old in previous.items():
            signal.signal(sig, old)

    return restore
