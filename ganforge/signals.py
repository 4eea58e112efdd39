"""Ctrl-C and SIGTERM end a run cleanly: the current step finishes and a checkpoint is saved."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable


def catch_stop_signals(request_stop: Callable[[str], None]) -> Callable[[], None]:
    """Route SIGINT and SIGTERM to ``request_stop(reason)``; return a function that restores the old handlers.

    Python only lets the main thread install handlers, so in any other thread
    this does nothing (and the returned function too).
    """
    if threading.current_thread() is not threading.main_thread():
        return lambda: None

    def handler(signum: int, frame: object) -> None:
        request_stop(f"received {signal.Signals(signum).name}")

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}

    def restore() -> None:
        for sig, old in previous.items():
            signal.signal(sig, old)

    return restore
