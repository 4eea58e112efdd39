"""Writing files safely: atomic writes, and one-line explanations of what the file system refused.

A crash during :func:`atomic_write` leaves either the old file or the complete
new one, never a torn one. When the operating system refuses a write (disk
full, read-only, permission, a file where a folder should be), the error
becomes a :class:`~ganforge.errors.StorageError` whose message names the path,
the cause and the fix (:func:`describe_os_error`).
"""

from __future__ import annotations

import errno
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from ganforge.errors import StorageError

#: What each error number means for a user, and what to do about it.
_CAUSES: dict[int, tuple[str, str]] = {
    errno.ENOSPC: ("no space is left on the device", "free some space"),
    errno.EDQUOT: ("the disk quota is exceeded", "free some space or ask for a larger quota"),
    errno.EROFS: ("the file system is read-only", "choose a place on a writable file system"),
    errno.EACCES: ("permission denied", "choose a place you may write to, or change its permissions"),
    errno.EPERM: ("the operation is not permitted there", "choose a place you may write to"),
    errno.ENOTDIR: ("a part of the path is a file, not a folder", "choose a path whose folders are folders"),
    errno.ENOENT: ("a folder on the path does not exist", "create it or choose another path"),
    errno.EISDIR: ("it is a folder, not a file", "name a file"),
    errno.ENAMETOOLONG: ("the name is too long for the file system", "choose a shorter path"),
    errno.EEXIST: ("it already exists", "choose another name"),
    errno.EIO: ("an input/output error occurred (a failing disk or network file system)",
                "check the disk or the mount"),
}


def format_bytes(n: int | float) -> str:
    """``n`` bytes as a short human-readable size (``"512 B"``, ``"1.4 MB"``; powers of 1000)."""
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"  # pragma: no cover


def free_space(path: str | os.PathLike) -> int | None:
    """Bytes free for this user on the file system holding ``path`` (or its nearest existing folder); None when unknown."""
    p = Path(path)
    while not p.exists() and p != p.parent:
        p = p.parent
    try:
        return shutil.disk_usage(p).free
    except OSError:
        return None


def _file_in_the_way(path: Path) -> Path | None:
    """The first component of ``path`` that exists and is not a folder (for ENOTDIR), if any."""
    for parent in reversed(path.parents):
        if parent.exists() and not parent.is_dir():
            return parent
    return None


def describe_os_error(exc: OSError, path: str | os.PathLike | None = None, action: str = "write",
                      fix: str | None = None, needed: int | None = None) -> str:
    """One line naming the path, the cause and the fix of a refused file operation.

    Args:
        exc: The error the operating system raised.
        path: The file or folder concerned (default: the one named in ``exc``).
        action: What was being done, as a verb phrase (``"write"``, ``"create the run folder"``).
        fix: What to do, replacing the generic advice for the cause.
        needed: Bytes the write needed (disk full: the message then says how much is free).

    Example::

        Cannot write runs/x/checkpoints/step_0000100.pt: no space is left on the device (it needs
        1.2 MB; 0.3 MB free). Free some space.
    """
    target = Path(path) if path is not None else (Path(exc.filename) if exc.filename else None)
    cause, advice = _CAUSES.get(exc.errno or -1, (exc.strerror or str(exc) or type(exc).__name__, ""))
    if exc.errno == errno.ENOTDIR and target is not None:
        blocker = _file_in_the_way(target)
        if blocker is not None:
            cause = f"{blocker} is a file, not a folder"
    if exc.errno in (errno.ENOSPC, errno.EDQUOT) and needed is not None:
        free = free_space(target) if target is not None else None
        cause += f" (it needs {format_bytes(needed)}" + (f"; {format_bytes(free)} free)" if free is not None else ")")
    where = f" {target}" if target is not None else ""
    advice = fix or advice
    return f"Cannot {action}{where}: {cause}." + (f" {advice[0].upper()}{advice[1:]}." if advice else "")


def storage_error(exc: OSError, path: str | os.PathLike | None = None, action: str = "write",
                  fix: str | None = None, needed: int | None = None) -> StorageError:
    """A :class:`StorageError` with :func:`describe_os_error`'s message and ``exc``'s ``errno``."""
    if isinstance(exc, StorageError):
        return exc
    error = StorageError(describe_os_error(exc, path, action, fix, needed))
    error.errno = exc.errno
    error.__cause__ = exc
    return error


def atomic_write(path: str | os.PathLike, write: Callable[[IO[Any]], None], binary: bool = True,
                 needed: int | None = None) -> Path:
    """Call ``write(file)`` on a temporary file beside ``path``, flush and fsync it, then rename it over ``path``.

    The folder is fsynced too, so the rename itself survives a power cut
    where the file system allows it. When the file system refuses (disk full,
    read-only, ...), the temporary file is removed, ``path`` is left as it was
    and a :class:`~ganforge.errors.StorageError` names the cause; ``needed``
    (bytes) makes a disk-full message say how much the file needs.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise storage_error(exc, path, needed=needed) from exc
    try:
        with os.fdopen(fd, "wb" if binary else "w", **({} if binary else {"encoding": "utf-8"})) as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise storage_error(exc, path, needed=needed) from exc
        raise
    try:
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except OSError:  # pragma: no cover - some file systems refuse fsync on folders
        pass
    return path


def append_line(path: str | os.PathLike, line: str) -> None:
    """Append ``line`` (with its newline) to a text file; a refusal becomes a :class:`StorageError`."""
    try:
        with open(path, "a", encoding="utf-8") as f:
            f.write(line)
    except OSError as exc:
        raise storage_error(exc, path) from exc


def path_exists(path: str | os.PathLike) -> bool:
    """``Path(path).exists()``, but False where the system refuses to look (a name too long, no permission).

    :func:`probe_writable` then names the real cause.
    """
    try:
        return Path(path).exists()
    except OSError:
        return False


def probe_writable(folder: str | os.PathLike, action: str, fix: str, name: str | os.PathLike | None = None) -> None:
    """Check that files can be created in ``folder`` (or, when it does not exist yet, in its nearest existing parent).

    A hidden temporary file is created and deleted there: this sees what
    permission bits cannot (a read-only mount, root squashing on a network
    file system). Nothing is left behind. Names too long for the file system
    are refused too.

    Args:
        folder: The folder that will be created or written.
        action: What the caller will do, for the message (``"create the run folder"``).
        fix: What the user should do instead, for the message.
        name: The path the message names (default ``folder``), e.g. the file to be written in it.

    Raises:
        StorageError: naming ``name``, the cause and ``fix``.
    """
    target = Path(folder)
    named = Path(name) if name is not None else target
    probe_at = target
    while not path_exists(probe_at):
        if probe_at == probe_at.parent:
            break
        probe_at = probe_at.parent
    if path_exists(probe_at) and not probe_at.is_dir():
        exc = OSError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), str(target))
        raise storage_error(exc, named, action, fix)
    try:
        limit = os.pathconf(probe_at, "PC_NAME_MAX")
    except (OSError, ValueError, AttributeError):  # pragma: no cover - not on every platform
        limit = 255
    for part in [*target.relative_to(probe_at).parts, *named.parts[-1:]]:
        if len(os.fsencode(part)) > limit:
            exc = OSError(errno.ENAMETOOLONG, os.strerror(errno.ENAMETOOLONG), str(target))
            raise storage_error(exc, named, action, fix)
    try:
        with tempfile.TemporaryFile(prefix=".ganforge-probe-", dir=probe_at):
            pass
    except OSError as exc:
        raise storage_error(exc, named, action, fix) from exc
