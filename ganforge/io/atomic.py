"""Writing files safely: atomic writes, and one-line explanations of what the file system refused.

A crash during :func:`atomic_write` leaves either the old file or the complete
new one, never a torn one. When the operating system refuses a write (disk
full, read-only, permission, a file where a folder should be), the error
becomes a :class:`~ganforge.errors.StorageError` whose message names the path,
the cause and the fix (:func:`describe_os_error`).

No write follows a link: :func:`atomic_write` renames its temporary file over
the destination, so a link planted there is replaced and its target keeps its
content; inside a run folder (a folder holding the marker ``.ganforge-run``) a
link in place of a folder is refused, the folders being opened one by one
without following links (``O_NOFOLLOW`` on folder descriptors, so no race can
swap one in). :func:`append_line` refuses a link at the file.
:func:`remove_file` resolves the path first and never deletes anything outside
the run or through a link. New files are ``0666`` less the umask, as other
tools' files are (``private=True``: ``0600``).
"""

from __future__ import annotations

import errno
import os
import secrets
import shutil
import stat
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


#: The marker file of a ganforge run folder (:data:`ganforge.io.rundir.MARKER_FILE`): below a folder holding it,
#: :func:`atomic_write` and the others follow no symbolic link.
RUN_MARKER = ".ganforge-run"

_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_DIRECTORY = getattr(os, "O_DIRECTORY", 0)
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
#: Folder descriptors (``openat``-style calls) are available: writes below a run are free of link races.
_BY_FD = bool(_NOFOLLOW and _DIRECTORY) and os.open in os.supports_dir_fd and os.name == "posix"
#: Mode of a new file before the umask: ordinary files honour the umask, as other tools' files do.
FILE_MODE = 0o666
#: Mode of a file that may hold something private (the umask cannot widen it).
PRIVATE_MODE = 0o600


def run_root(path: str | os.PathLike) -> Path | None:
    """The run folder ``path`` lies in: its nearest parent folder holding the run marker, or None.

    Paths are taken as written (made absolute, ``..`` removed); a link given by
    the user above the run folder is the user's choice and is followed.
    """
    folder = Path(os.path.abspath(path)).parent
    for candidate in (folder, *folder.parents):
        try:
            if stat.S_ISREG(os.lstat(candidate / RUN_MARKER).st_mode):
                return candidate
        except OSError:
            continue
    return None


def _root_for(path: Path, root: str | os.PathLike | None | bool) -> Path | None:
    """The folder below which no link is followed for ``path``: ``root``, or the run ``path`` lies in."""
    if root is False:
        return None
    if root is None or root is True:
        return run_root(path)
    root = Path(os.path.abspath(root))
    try:
        Path(os.path.abspath(path)).relative_to(root)
    except ValueError:
        return None
    return root


def link_error(path: Path, link: Path, action: str = "write") -> StorageError:
    """The :class:`StorageError` for a link found where ganforge follows none (inside a run folder)."""
    try:
        where = f" (to {os.readlink(link)})"
    except OSError:
        where = ""
    error = StorageError(
        f"Cannot {action} {path}: {link} is a symbolic link{where}, and ganforge follows no link inside a run "
        "folder (it could lead outside the run). Replace the link with a real folder or file, or choose another "
        "--out.")
    error.errno = errno.ELOOP
    return error


def _is_link(path: Path, dir_fd: int | None = None) -> bool:
    try:
        if dir_fd is not None:
            return stat.S_ISLNK(os.stat(path.name, dir_fd=dir_fd, follow_symlinks=False).st_mode)
        return path.is_symlink()
    except OSError:
        return False


def _open_folder(folder: Path, root: Path | None, target: Path, create: bool = True,
                 action: str = "write") -> int | None:
    """A descriptor of ``folder`` reached from ``root`` without following a link (None where descriptors of
    folders are not available: the links are then checked by name); ``create`` makes the missing folders."""
    if not _BY_FD:
        if create:
            folder.mkdir(parents=True, exist_ok=True)
        if root is not None:
            at = root
            for part in folder.relative_to(root).parts:
                at = at / part
                if at.is_symlink():
                    raise link_error(target, at, action)
        return None
    if root is None:
        if create:
            folder.mkdir(parents=True, exist_ok=True)
        return os.open(folder, os.O_RDONLY | _DIRECTORY | _CLOEXEC)
    fd = os.open(root, os.O_RDONLY | _DIRECTORY | _CLOEXEC)
    at = root
    try:
        for part in folder.relative_to(root).parts:
            at = at / part
            flags = os.O_RDONLY | _DIRECTORY | _NOFOLLOW | _CLOEXEC
            try:
                sub = os.open(part, flags, dir_fd=fd)
            except FileNotFoundError:
                if not create:
                    raise
                try:
                    os.mkdir(part, dir_fd=fd)  # mkdir never follows a link in its last component
                except FileExistsError:
                    pass
                sub = os.open(part, flags, dir_fd=fd)
            except OSError as exc:
                if exc.errno in (errno.ELOOP, errno.ENOTDIR) and _is_link(at, fd):
                    raise link_error(target, at, action) from None
                raise
            os.close(fd)
            fd = sub
    except BaseException:
        os.close(fd)
        raise
    return fd


#: Linux names an open folder ``/proc/self/fd/N``: a rename through that name stays in the folder opened.
_PROC_FD = os.path.isdir("/proc/self/fd")


def _replace_in(dir_fd: int, src: str, dst: str) -> None:
    """``os.replace(src, dst)`` inside the folder open as ``dir_fd`` (no link on the way can move it elsewhere)."""
    if _PROC_FD:  # plain two-argument call: the same os.replace as everywhere (tests may stand in for it)
        os.replace(f"/proc/self/fd/{dir_fd}/{src}", f"/proc/self/fd/{dir_fd}/{dst}")
    else:
        os.replace(src, dst, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)


def _fsync_folder(fd: int | None, folder: Path) -> None:
    try:
        own = fd is None
        fd = os.open(folder, os.O_RDONLY) if own else fd
        try:
            os.fsync(fd)
        finally:
            if own:
                os.close(fd)
    except OSError:  # pragma: no cover - some file systems refuse fsync on folders
        pass


def atomic_write(path: str | os.PathLike, write: Callable[[IO[Any]], None], binary: bool = True,
                 needed: int | None = None, root: str | os.PathLike | None | bool = None,
                 private: bool = False) -> Path:
    """Call ``write(file)`` on a temporary file beside ``path``, flush and fsync it, then rename it over ``path``.

    The folder is fsynced too, so the rename itself survives a power cut
    where the file system allows it. When the file system refuses (disk full,
    read-only, ...), the temporary file is removed, ``path`` is left as it was
    and a :class:`~ganforge.errors.StorageError` names the cause; ``needed``
    (bytes) makes a disk-full message say how much the file needs.

    No link is written through: a link at ``path`` is replaced by the new file
    (its target is left as it was), and below ``root`` (default: the run
    folder ``path`` lies in, see :func:`run_root`; False: none) a link in place
    of a folder is refused with a :class:`~ganforge.errors.StorageError`.
    The new file's mode is ``0666`` less the umask, or ``0600`` when ``private``.
    """
    path = Path(path)
    base = _root_for(path, root)
    folder = Path(os.path.abspath(path)).parent if base is not None else path.parent
    mode = PRIVATE_MODE if private else FILE_MODE
    try:
        dir_fd = _open_folder(folder, base, path)
    except OSError as exc:
        raise storage_error(exc, path, needed=needed) from exc
    tmp_name = None
    try:
        try:
            if dir_fd is None:  # no folder descriptors (Windows): mode bits mean little there
                fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
                tmp_name = os.path.basename(tmp)
            else:
                while True:
                    tmp_name = f".{path.name}.{secrets.token_hex(4)}.tmp"
                    try:
                        fd = os.open(tmp_name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW | _CLOEXEC, mode,
                                     dir_fd=dir_fd)
                        break
                    except FileExistsError:
                        continue
        except OSError as exc:
            raise storage_error(exc, path, needed=needed) from exc
        try:
            with os.fdopen(fd, "wb" if binary else "w", **({} if binary else {"encoding": "utf-8"})) as f:
                write(f)
                f.flush()
                os.fsync(f.fileno())
            if dir_fd is None:
                os.replace(folder / tmp_name, path)
            else:
                _replace_in(dir_fd, tmp_name, path.name)
        except BaseException as exc:
            try:
                if dir_fd is None:
                    (folder / tmp_name).unlink(missing_ok=True)
                else:
                    os.unlink(tmp_name, dir_fd=dir_fd)
            except OSError:
                pass
            if isinstance(exc, OSError):
                raise storage_error(exc, path, needed=needed) from exc
            raise
        _fsync_folder(dir_fd, folder)
    finally:
        if dir_fd is not None:
            os.close(dir_fd)
    return path


def atomic_write_bytes(path: str | os.PathLike, data: bytes, root: str | os.PathLike | None | bool = None,
                       private: bool = False) -> Path:
    """:func:`atomic_write` of ``data`` (a disk-full message says how much it needs)."""
    return atomic_write(path, lambda f: f.write(data), needed=len(data), root=root, private=private)


def append_line(path: str | os.PathLike, line: str) -> None:
    """Append ``line`` (with its newline) to a text file; a refusal becomes a :class:`StorageError`.

    As :func:`atomic_write`, it follows no link: not at ``path`` (refused), nor
    in place of a folder inside the run.
    """
    path = Path(path)
    base = run_root(path)
    folder = Path(os.path.abspath(path)).parent if base is not None else path.parent
    try:
        dir_fd = _open_folder(folder, base, path)
    except OSError as exc:
        raise storage_error(exc, path) from exc
    try:
        flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | _NOFOLLOW | _CLOEXEC
        try:
            fd = os.open(path.name if dir_fd is not None else path, flags, FILE_MODE,
                         **({"dir_fd": dir_fd} if dir_fd is not None else {}))
        except OSError as exc:
            if exc.errno == errno.ELOOP and _is_link(path, dir_fd):
                raise link_error(path, path) from None
            raise
        with os.fdopen(fd, "a", encoding="utf-8") as f:
            f.write(line)
    except OSError as exc:
        raise storage_error(exc, path) from exc
    finally:
        if dir_fd is not None:
            os.close(dir_fd)


def remove_file(path: str | os.PathLike, root: str | os.PathLike) -> bool:
    """Delete the regular file ``path`` inside the folder ``root``; True when it was deleted.

    Nothing outside ``root`` is ever deleted: ``path`` is resolved first, and a
    path that leads through a link (in place of a folder, or the file itself
    a link) is left alone, as is anything that is not a regular file.

    Raises:
        StorageError: when the system refuses to delete the file (permissions).
    """
    path, root = Path(os.path.abspath(path)), Path(os.path.abspath(root))
    try:
        rel = path.relative_to(root)
    except ValueError:
        return False
    real_root = Path(os.path.realpath(root))
    if Path(os.path.realpath(path)) != real_root / rel:  # a link somewhere on the way: it leads elsewhere
        return False
    try:
        dir_fd = _open_folder(path.parent, root, path, create=False, action="remove")
    except (OSError, StorageError):
        return False
    try:
        st = os.stat(path.name, dir_fd=dir_fd, follow_symlinks=False) if dir_fd is not None else os.lstat(path)
        if not stat.S_ISREG(st.st_mode):
            return False
        if dir_fd is not None:
            os.unlink(path.name, dir_fd=dir_fd)
        else:
            path.unlink()
        return True
    except FileNotFoundError:
        return False
    except OSError as exc:
        raise storage_error(exc, path, "remove", "check the folder's permissions") from exc
    finally:
        if dir_fd is not None:
            os.close(dir_fd)


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
