"""Where ganforge keeps what it computes once and reuses: the per-user cache folder.

The metrics' domain classifiers and reference statistics are cached here,
never beside the data (a data folder may be read-only or shared by several
users). The folder is ``$GANFORGE_CACHE`` when that variable is set, else the
platform's per-user cache folder (``platformdirs.user_cache_path("ganforge")``:
``~/.cache/ganforge`` on Linux, ``~/Library/Caches/ganforge`` on macOS,
``%LOCALAPPDATA%\\ganforge\\Cache`` on Windows).

A cache only saves time, so it never stops an evaluation: an entry that is
damaged (truncated, garbage, a folder, unreadable, content that does not fit)
is named in one :class:`CacheWarning`, renamed to ``NAME.corrupt`` and built
again (:func:`read_entry`); entries are written by a temporary file renamed
into place, never through a link (:func:`write_entry`), and a cache that
cannot be written (read-only, full) is named in one warning with
``$GANFORGE_CACHE`` while the evaluation goes on with what it computed.
"""

from __future__ import annotations

import errno
import os
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from ganforge.errors import StorageError

#: The environment variable that moves the cache.
CACHE_ENV = "GANFORGE_CACHE"


def cache_dir(*parts: str) -> Path:
    """The cache folder, or a subfolder of it (``cache_dir("classifiers")``); not created here.

    Args:
        *parts: Subfolder names below the cache root.
    """
    env = os.environ.get(CACHE_ENV)
    if env:
        root = Path(env).expanduser()
    else:
        import platformdirs

        root = platformdirs.user_cache_path("ganforge", appauthor=False)
    return root.joinpath(*parts)


class CacheWarning(UserWarning):
    """A cache entry could not be read or kept; ganforge went on without it (rebuilding it, or keeping it in memory)."""


def _reason(exc: BaseException, path: Path | None = None) -> str:
    """One short line for why reading a cache entry failed (torch's multi-line texts cut to their first line)."""
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    if "pickle" in type(exc).__module__ or "Weights only" in str(exc) or "PytorchStreamReader" in str(exc):
        from ganforge.io.checkpoint import (
            describe_load_error,  # torch's hint to load unsafely is never passed on
        )

        return describe_load_error(exc, path)
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    first = lines[0][:160] if lines else ""
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__


def _is_folder(path: Path) -> bool:
    return path.is_dir() and not path.is_symlink()


def _set_aside(path: Path) -> Path | None:
    """Rename a damaged entry to ``NAME.corrupt``; None when the file system refuses.

    An older ``NAME.corrupt`` file is replaced, so repeated damage does not pile
    up; a folder is never replaced or deleted (it may hold something of the
    user's): it goes to, or makes way for, a free ``NAME.corrupt-N``.
    """
    target = path.with_name(path.name + ".corrupt")
    n = 1
    while os.path.lexists(target) and (_is_folder(path) or _is_folder(target)):
        n += 1
        target = path.with_name(f"{path.name}.corrupt-{n}")
    try:
        os.replace(path, target)  # a link is renamed itself, never what it points to
    except OSError:
        return None
    return target


def read_entry(path: str | os.PathLike, load: Callable[[Path], Any], what: str) -> Any | None:
    """``load(path)`` for a cache entry; None when there is none, or when it is damaged.

    A damaged entry -- unreadable, truncated, garbage, a folder, content that
    ``load`` rejects by raising -- is named in one :class:`CacheWarning` and set
    aside as ``NAME.corrupt`` so that the caller rebuilds it. ``load`` must
    read safely (e.g. ``torch.load(..., weights_only=True)``).

    Args:
        path: The entry's file.
        load: Reads the file; raises on anything wrong with it.
        what: What the entry is, for the message (``"mnist domain classifier"``).
    """
    path = Path(path)
    if not os.path.lexists(path):
        return None
    try:
        if not path.is_file():
            raise IsADirectoryError(errno.EISDIR, "it is a folder, not a file" if path.is_dir() else "it is not a file")
        return load(path)
    except Exception as exc:  # noqa: BLE001 - whatever is wrong with the file, the entry is rebuilt
        reason = _reason(exc, path)
    aside = _set_aside(path)
    kept = f"moved it to {aside.name}" if aside is not None else "could not move it aside (the folder is read-only?)"
    warnings.warn(CacheWarning(f"The cached {what} {path} is damaged or unreadable ({reason}); ganforge {kept} and "
                               "builds it again."), stacklevel=3)
    return None


def write_entry(path: str | os.PathLike, write: Callable[[IO[bytes]], None], what: str) -> bool:
    """Write a cache entry atomically (a temporary file renamed into place, never through a link).

    When the cache cannot be written (read-only, full, a file where a folder
    should be), one :class:`CacheWarning` names the folder and ``$GANFORGE_CACHE``
    and False is returned: the caller goes on with what it has in memory.
    """
    from ganforge.io.atomic import atomic_write

    path = Path(path)
    try:
        atomic_write(path, write)
    except OSError as exc:  # StorageError included
        cause = str(exc) if isinstance(exc, StorageError) else _reason(exc)
        warnings.warn(CacheWarning(
            f"The {what} is not cached in {path.parent} and is used from memory this time ({cause.rstrip('.')}). "
            f"Set {CACHE_ENV} to a writable folder to keep it."), stacklevel=3)
        return False
    return True
