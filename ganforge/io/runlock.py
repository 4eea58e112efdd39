"""One writer per run folder: an operating-system file lock held for the whole run.

The lock is ``RUN/.ganforge-run.lock``, taken with the ``filelock`` library
(``flock`` on POSIX, ``LockFileEx`` on Windows). The operating system releases
it when the process ends, however it ends, so a crash or SIGKILL never leaves
a stale lock behind. Who holds it (PID, host, start time, command) is written
beside it, to ``RUN/.ganforge-run.owner``, for the message a second writer gets (by a temporary file
renamed over it, so a link planted there is replaced, not written through).

Network file systems: ``flock`` works across machines on NFSv4 and Lustre
with their usual settings; where the mount does not support it, two machines
may not see each other's lock.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import time
from pathlib import Path
from typing import Any

import filelock

from ganforge.errors import RunLockedError

LOCK_FILE = ".ganforge-run.lock"
OWNER_FILE = ".ganforge-run.owner"


def _holder(run_dir: Path) -> str:
    """Who holds the lock, from the owner file, as a phrase for the message."""
    try:
        owner = json.loads((run_dir / OWNER_FILE).read_text(encoding="utf-8"))
        started = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(float(owner["started"])))
        return (f"process {int(owner['pid'])} on {owner['host']} (started {started}: "
                f"{owner.get('command') or 'a ganforge run'})")
    except (OSError, ValueError, KeyError, TypeError):
        return "another process (it has not written its details yet)"


class RunLock:
    """The exclusive lock of one run folder.

    Args:
        run_dir: The run folder (it must exist).

    Use :meth:`acquire` and :meth:`release`, or ``with RunLock(path):``.
    Acquiring never waits: a folder in use raises :class:`RunLockedError` at once.
    """

    def __init__(self, run_dir: str | os.PathLike):
        self.run_dir = Path(run_dir)
        self._lock = filelock.FileLock(self.run_dir / LOCK_FILE)

    @property
    def held(self) -> bool:
        """True while this object holds the lock."""
        return self._lock.is_locked

    def acquire(self) -> RunLock:
        """Take the lock and write the owner file.

        Raises:
            RunLockedError: when another process (or another Trainer in this
                process) holds it, naming the holder.
            StorageError: when the lock file cannot be created (read-only folder, ...).
        """
        if self.held:
            return self
        try:
            self._lock.acquire(blocking=False)
        except filelock.Timeout:
            raise RunLockedError(
                f"Run folder {self.run_dir} is in use by {_holder(self.run_dir)}. Two runs writing one folder "
                "would mix their checkpoints and metrics: wait for it to finish or stop it (Ctrl-C saves a "
                "checkpoint), or choose another --out."
            ) from None
        except OSError as exc:
            from ganforge.io.atomic import link_error, storage_error

            lock = self.run_dir / LOCK_FILE
            if lock.is_symlink():  # filelock opens it without following links
                raise link_error(lock, lock, "lock the run folder at") from None
            raise storage_error(exc, lock, "lock the run folder at", "choose a writable --out") from exc
        owner = {"pid": os.getpid(), "host": socket.gethostname(), "started": time.time(),
                 "command": " ".join(["ganforge", *sys.argv[1:]]) if _is_cli() else "Python: " + sys.argv[0]}
        from ganforge.io.atomic import atomic_write

        text = json.dumps(owner) + "\n"
        try:  # by a temporary file renamed over it: a link planted there is replaced, never written through
            atomic_write(self.run_dir / OWNER_FILE, lambda f: f.write(text), binary=False, root=self.run_dir)
        except OSError:  # the details are a courtesy; the lock itself is held
            pass
        return self

    def release(self) -> None:
        """Give the lock back (and remove the owner file); safe to call when not held."""
        if not self.held:
            return
        from ganforge.io.atomic import remove_file

        try:
            remove_file(self.run_dir / OWNER_FILE, self.run_dir)  # the file it wrote; a link is left for all to see
        except OSError:
            pass
        self._lock.release()

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(self, *exc: Any) -> None:
        self.release()


def _is_cli() -> bool:
    """True when this process is the ``ganforge`` command (or ``python -m ganforge``)."""
    main = Path(sys.argv[0]).name if sys.argv and sys.argv[0] else ""
    return main in ("ganforge", "__main__.py", "ganforge.exe") or main.startswith("ganforge-")
