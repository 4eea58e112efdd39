"""What a run prints while it trains, on stderr.

* Messages (the start line, evaluations, "Stopped at step N ... resume with
  ...", "Done") are always printed, by the main process of a run.
* Progress is shown when ``progress=True`` (default): on a terminal a tqdm
  bar; otherwise (a log file, CI, a pipe) a plain line every
  ``progress_seconds``, such as
  ``step 1200/10000 (12%), 35.2 steps/s, g=0.693 d=1.386, 4m10s left``,
  instead of thousands of carriage-return updates. ``--no-progress`` hides
  only this.

Progress lines are decided at log points only (every ``log_every`` steps),
where the losses are read to the host anyway: no extra synchronisation per step.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import IO, Any

from tqdm.auto import tqdm


def format_duration(seconds: float) -> str:
    """``seconds`` as ``"45s"``, ``"4m10s"`` or ``"3h05m"``."""
    seconds = max(0, int(round(seconds)))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


def _isatty(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # closed or not a real file
        return False


class Progress:
    """The progress output of one :meth:`~ganforge.Trainer.fit`.

    Args:
        total: The run's ``steps``.
        initial: Steps already done (on resume).
        show: Show progress (the bar or the plain lines); messages are printed regardless.
        every_s: Seconds between plain lines when ``stream`` is not a terminal.
        enabled: False on every process but the run's main one: print nothing.
        stream: Where to print (default ``sys.stderr``).
        clock: Monotonic clock in seconds (tests pass a fake one).
    """

    def __init__(self, total: int, initial: int = 0, *, show: bool = True, every_s: float = 30.0,
                 enabled: bool = True, stream: IO[str] | None = None, clock: Callable[[], float] = time.monotonic):
        self.stream = stream if stream is not None else sys.stderr
        self.total, self.enabled, self.every_s, self.clock = total, enabled, every_s, clock
        terminal = _isatty(self.stream)
        self.bar = (tqdm(total=total, initial=initial, unit="step", dynamic_ncols=True, file=self.stream)
                    if enabled and show and terminal else None)
        self.lines = enabled and show and not terminal
        self._start_step, self._start = initial, clock()
        self._last_line = self._start

    def update(self, n: int = 1) -> None:
        """``n`` more steps done (moves the bar; nothing else)."""
        if self.bar is not None:
            self.bar.update(n)

    def log(self, step: int, summary: str) -> None:
        """At a log point: the bar's postfix, or a plain line when ``every_s`` has passed since the last one.

        Args:
            step: Steps done.
            summary: The losses and extra values, e.g. ``"g=0.693 d=1.386"``.
        """
        if self.bar is not None:
            self.bar.set_postfix_str(summary, refresh=False)
            return
        if not self.lines:
            return
        now = self.clock()
        if now - self._last_line < self.every_s and step < self.total:
            return
        self._last_line = now
        done, elapsed = step - self._start_step, now - self._start
        rate = done / elapsed if elapsed > 0 else 0.0
        left = f", {format_duration((self.total - step) / rate)} left" if rate > 0 and step < self.total else ""
        self._print(f"step {step}/{self.total} ({100 * step // max(1, self.total)}%), {rate:.3g} steps/s, "
                    f"{summary}{left}")

    def say(self, message: str) -> None:
        """Print a message line (on the main process), whatever ``show`` is."""
        if self.enabled:
            self._print(message)

    def _print(self, line: str) -> None:
        if self.bar is not None:
            tqdm.write(line, file=self.stream)
        else:
            print(line, file=self.stream, flush=True)

    def close(self) -> None:
        """Close the bar (if any)."""
        if self.bar is not None:
            self.bar.close()
            self.bar = None
