"""The run folder: what it holds, who may write it, and what ganforge may delete in it.

A folder is a ganforge run when it holds the marker ``.ganforge-run``, a JSON
file that ganforge writes when a run starts and keeps up to date: the
configuration it wrote to ``config.json`` and every file and folder the run
created. A folder without the marker is never treated as a run: ganforge
refuses to write over files there, and ``--overwrite`` deletes only the files
the marker lists, so a user's own files in the folder (even in ``samples/``)
survive. What ``--overwrite`` deletes is resolved first: an entry that leads
through a link, or out of the folder, is left alone. No file of the run is
written through a link (:mod:`ganforge.io.atomic`), and a link in place of
``samples/`` or ``checkpoints/`` is refused.

``--resume`` into a folder without the marker adopts it only when it looks like
a run of an older ganforge (``checkpoints/`` holding checkpoints, and
``config.json`` and ``metrics.jsonl`` as ganforge writes them); a folder where
the resume would write over someone else's ``config.json``, ``metrics.jsonl``
or ``samples/step_*.png`` is refused, naming them.

:class:`RunFolder` does the work for :meth:`ganforge.Trainer.fit`, in two steps:

* :meth:`RunFolder.check`, before any data is read: the path can be created
  and written; an existing folder is locked (:mod:`ganforge.io.runlock`) and
  checked (another run's checkpoints, files in the way, an edited
  ``config.json`` on resume);
* :meth:`RunFolder.open`, once the run is built: the folder is created and
  locked, the previous attempt's files removed where allowed, newer
  checkpoints of an abandoned continuation moved aside on resume, and the
  marker and ``config.json`` written.

A run that failed before its first checkpoint (no checkpoint in the folder)
is simply started again by the same command.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import attrs

from ganforge.config import TrainConfig
from ganforge.errors import ConfigError, RunDirectoryError
from ganforge.io.atomic import (
    RUN_MARKER,
    atomic_write,
    atomic_write_bytes,
    link_error,
    path_exists,
    probe_writable,
    remove_file,
    storage_error,
)
from ganforge.io.checkpoint import (
    BEST_CHECKPOINT,
    CHECKPOINT_DIR,
    list_checkpoints,
    may_change_on_resume,
)
from ganforge.io.runlock import LOCK_FILE, OWNER_FILE, RunLock

CONFIG_FILE = "config.json"
METRICS_FILE = "metrics.jsonl"
SAMPLES_DIR = "samples"
#: The marker file that makes a folder a ganforge run.
MARKER_FILE = RUN_MARKER
MARKER_FORMAT = "ganforge-run"
MARKER_VERSION = 1
#: Newer checkpoints of an abandoned continuation go to ``checkpoints/abandoned-<time>/``.
ABANDONED_PREFIX = "abandoned-"
_INTERNAL = (MARKER_FILE, LOCK_FILE, OWNER_FILE)
_OUT_FIX = "choose another --out (out_dir)"


def read_marker(path: str | os.PathLike) -> dict[str, Any] | None:
    """The marker of the run in ``path``, or None when ``path`` is not a ganforge run (or the marker is unreadable)."""
    try:
        marker = json.loads((Path(path) / MARKER_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return marker if isinstance(marker, dict) and marker.get("format") == MARKER_FORMAT else None


def holds_run(path: str | os.PathLike) -> bool:
    """True when ``path`` holds a ganforge run (its marker)."""
    return read_marker(path) is not None


def has_checkpoint(path: str | os.PathLike) -> bool:
    """True when ``path/checkpoints`` holds any checkpoint (periodic, ``best.pt``, or set aside)."""
    folder = Path(path) / CHECKPOINT_DIR
    return folder.is_dir() and any(p.is_file() for p in folder.rglob("*.pt"))


def _in_the_way(path: Path) -> list[str]:
    """Files ganforge would write over in a folder that is not a run."""
    found = [name for name in (CONFIG_FILE, METRICS_FILE) if (path / name).exists()]
    ckpts = path / CHECKPOINT_DIR
    if ckpts.exists() and (not ckpts.is_dir() or any(ckpts.glob("*.pt"))):
        found.append(f"{CHECKPOINT_DIR}/")
    samples = path / SAMPLES_DIR
    if samples.exists() and (not samples.is_dir() or any(samples.glob("step_*.png"))):
        found.append(f"{SAMPLES_DIR}/step_*.png")
    return found


def _looks_like_old_run(path: Path) -> bool:
    """True when a folder without marker looks like a run of an older ganforge, whose files a resume may adopt.

    That is: ``checkpoints/`` is a real folder holding checkpoints, ``config.json``
    (if any) is a JSON object naming ``gen`` and ``data``, and ``metrics.jsonl``
    (if any) starts with a JSON record holding ``step``, as ganforge writes them.
    """
    folder = path / CHECKPOINT_DIR
    if folder.is_symlink() or not folder.is_dir() or not any(folder.glob("*.pt")):
        return False
    config = path / CONFIG_FILE
    if config.exists() or config.is_symlink():
        try:
            saved = json.loads(config.read_text(encoding="utf-8")) if not config.is_symlink() else None
        except (OSError, ValueError):
            return False
        if not isinstance(saved, dict) or "gen" not in saved or "data" not in saved:
            return False
    metrics = path / METRICS_FILE
    if metrics.exists() or metrics.is_symlink():
        if metrics.is_symlink() or not metrics.is_file():
            return False
        try:
            with open(metrics, encoding="utf-8") as f:
                first = f.readline()
            if first.strip():
                record = json.loads(first)
                if not isinstance(record, dict) or "step" not in record:
                    return False
        except (OSError, ValueError):
            return False
    return True


def check_config_edits(run_dir: str | os.PathLike, saved: dict[str, Any]) -> None:
    """Refuse to resume when ``config.json`` was edited after ganforge wrote it.

    A resume takes its settings from the checkpoint (``saved``) and rewrites
    ``config.json``, so an edit would otherwise be lost without a word. A
    field that a resume may not change is compared with the checkpoint; the
    others with what ganforge last wrote (kept in the marker).

    Raises:
        ConfigError: naming the changed fields and how to proceed.
    """
    path = Path(run_dir) / CONFIG_FILE
    if not path.is_file():
        return  # deleted: the resume writes it again
    try:
        current = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{path} cannot be read as JSON ({exc}); it was edited or damaged. Delete it (a resume "
                          "rewrites it from the checkpoint) and pass changes as flags instead.") from None
    if not isinstance(current, dict):
        current = {}
    marker = read_marker(run_dir) or {}
    written = marker.get("config") if isinstance(marker.get("config"), dict) else None
    changed = {}
    for key in sorted(set(current) | set(saved)):
        if may_change_on_resume(key):
            if written is not None and current.get(key) != written.get(key):
                changed[key] = (written.get(key), current.get(key))
        elif current.get(key) != saved.get(key):
            changed[key] = (saved.get(key), current.get(key))
    if not changed:
        return
    detail = "; ".join(f"{k}: {old!r} -> {new!r}" for k, (old, new) in changed.items())
    msg = (f"{path} was edited after ganforge wrote it ({detail}). A resume takes its settings from the "
           "checkpoint and rewrites config.json, so the edit would be lost. ")
    fixed = [k for k in changed if not may_change_on_resume(k)]
    if fixed:
        msg += (f"{', '.join(fixed)} cannot change on resume (the checkpoint's weights, optimizer state and data "
                "position belong to the saved values): undo the edit (or delete config.json) to resume, or start a "
                "new run with the new settings in another --out.")
    else:
        key, (_, new) = next(iter(changed.items()))
        example = f"{attrs.fields_dict(TrainConfig)[key].metadata['flag']} {new}" if not isinstance(new, bool) \
            else f"{key}={new}"
        msg += f"Undo the edit (or delete config.json) and pass the change with --resume instead, e.g. {example}."
    raise ConfigError(msg)


def restart_config(run_dir: str | os.PathLike) -> dict[str, Any] | None:
    """The configuration of a run that stopped before its first checkpoint, to start it again; else None.

    Raises:
        ConfigError: when its ``config.json`` was edited (see :func:`check_config_edits`).
    """
    marker = read_marker(run_dir)
    if marker is None or has_checkpoint(run_dir) or not isinstance(marker.get("config"), dict):
        return None
    check_config_edits(run_dir, marker["config"])
    return dict(marker["config"])


def _checkpoint_step(path: Path) -> int | None:
    """The step stored in a checkpoint file, or None when it cannot be read."""
    import torch

    try:
        state = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
        return int(state["step"])
    except Exception:  # noqa: BLE001 - unreadable: treated as not part of the resumed branch
        return None


class RunFolder:
    """The run folder of one :meth:`~ganforge.Trainer.fit`: checked, created, locked and recorded.

    Args:
        path: The folder (None: a fresh ``runs/<gen>-<data>-<N>``, chosen by :meth:`open`).
        name: ``(gen, data)`` for the default folder name.
        overwrite: Remove a finished run's files (those its marker lists) first.
        resuming: The Trainer continues the run from a checkpoint.
    """

    def __init__(self, path: str | os.PathLike | None, name: tuple[str, str] = ("mlp", "mnist"),
                 overwrite: bool = False, resuming: bool = False):
        if path is not None and os.fspath(path) == "":
            raise ConfigError("--out is empty (out_dir=''): it would make the working folder the run folder. Name "
                              "a folder, e.g. --out runs/first, or leave --out out for a fresh runs/<gen>-<data>-<N>.")
        #: The folder; None until :meth:`open` picks ``runs/<gen>-<data>-<N>`` (the smallest free N).
        self.path = Path(path) if path is not None else None
        self.name = name
        self.overwrite = overwrite
        self.resuming = resuming
        self.lock: RunLock | None = None
        self._marker: dict[str, Any] | None = None

    # -- before the run is built ----------------------------------------------------

    def check(self, saved_config: dict[str, Any] | None = None) -> None:
        """Everything that can be checked before data is read; an existing folder is locked from here on.

        Args:
            saved_config: On resume, the checkpoint's configuration (to detect an edited ``config.json``).

        Raises:
            RunDirectoryError: the path is a file, or the folder holds a finished run (no ``--overwrite``)
                or files of something else in the way.
            RunLockedError: another process writes the folder.
            StorageError: the folder cannot be created or written.
            ConfigError: ``config.json`` was edited (resume).
        """
        try:
            self._check(saved_config)
        except BaseException:
            self.release()
            raise

    def _check(self, saved_config: dict[str, Any] | None) -> None:
        path = self.path
        if path is None:
            probe_writable("runs", "create the run folder in", _OUT_FIX)
            return
        if path_exists(path) and not path.is_dir():
            raise RunDirectoryError(f"Output path {path} exists and is not a folder; choose another --out.")
        if not path_exists(path):
            probe_writable(path, "create the run folder", _OUT_FIX)
            return
        probe_writable(path, "write into the run folder", _OUT_FIX)
        self._check_links(path)
        if self.resuming:
            self._check_adoption(path)  # before the lock file: a refused folder is left as it was
        if self.resuming or holds_run(path):
            self._lock()
        if self.resuming:
            if saved_config is not None:
                check_config_edits(path, saved_config)
            return
        self._check_new(path)

    def _check_new(self, path: Path) -> None:
        if holds_run(path):
            if has_checkpoint(path) and not self.overwrite:
                raise RunDirectoryError(
                    f"Output folder {path} already holds a run. Pass --resume {path} (resume=...) to continue it, "
                    "--overwrite (overwrite=True) to replace it, or choose another --out."
                )
            return  # no checkpoint: a failed start, begun again; or --overwrite
        in_the_way = _in_the_way(path)
        if in_the_way:
            legacy = " If it is a run of an older ganforge, continue it with --resume." if (
                path / CHECKPOINT_DIR).is_dir() else ""
            raise RunDirectoryError(
                f"Output folder {path} holds {', '.join(in_the_way)} but is not a ganforge run (it has no "
                f"{MARKER_FILE} marker), so ganforge will not write over these files, with --overwrite or "
                f"without. Move them or choose another --out.{legacy}"
            )

    @staticmethod
    def _check_links(path: Path) -> None:
        """Refuse a link in place of the run's own folders (its files would be written elsewhere)."""
        for folder in (SAMPLES_DIR, CHECKPOINT_DIR):
            if (path / folder).is_symlink():
                raise link_error(path / folder, path / folder, "write into")

    @staticmethod
    def _check_adoption(path: Path) -> None:
        """A resume into a folder without marker: refuse when files of someone else's are in the way."""
        if holds_run(path) or _looks_like_old_run(path):
            return
        found = [name for name in (CONFIG_FILE, METRICS_FILE) if path_exists(path / name) or (path / name).is_symlink()]
        samples = path / SAMPLES_DIR
        if samples.is_dir() and any(samples.glob("step_*.png")):
            found.append(f"{SAMPLES_DIR}/step_*.png")
        if found:
            raise RunDirectoryError(
                f"Cannot resume into {path}: it is not a ganforge run (it has no {MARKER_FILE} marker) and holds "
                f"{', '.join(found)}, which the resumed run would write over. Move the checkpoint into a folder of "
                f"its own (e.g. {path / 'run' / CHECKPOINT_DIR}/) and resume from there, or move these files.")

    def _lock(self) -> None:
        if self.lock is None:
            self.lock = RunLock(self.path)
        self.lock.acquire()

    # -- once the run is built -------------------------------------------------------

    def open(self, config: Any, step: int = 0) -> list[str]:
        """Create and lock the folder, prepare it, write the marker and ``config.json``.

        Args:
            config: The run's :class:`~ganforge.config.TrainConfig`.
            step: Steps done (on resume, the checkpoint's step: newer checkpoints are moved aside).

        Returns:
            Lines to tell the user (files removed, checkpoints moved aside).
        """
        notes: list[str] = []
        self._create()
        self._lock()
        path = self.path
        self._check_links(path)
        if self.resuming:
            self._check_adoption(path)  # again, under the lock
        marker = read_marker(path)
        if not self.resuming:
            self._check_new(path)  # again, under the lock: another process may have been quicker
            if marker is not None:
                removed = self._remove_owned(marker)
                if removed:
                    why = "--overwrite" if self.overwrite else "it stopped before its first checkpoint"
                    notes.append(f"Removed {removed} files of the previous run in {path} ({why}).")
            metrics = path / METRICS_FILE
            if metrics.is_symlink():  # a link planted where the new run appends: the link goes, its target stays
                try:
                    metrics.unlink()
                except OSError as exc:
                    raise storage_error(exc, metrics, "remove", "check the folder's permissions") from exc
            marker = None
        if marker is None:
            marker = {"format": MARKER_FORMAT, "version": MARKER_VERSION, "created": time.time(),
                      "ganforge_version": _version(), "files": [], "dirs": []}
            if self.resuming and _looks_like_old_run(path):  # an older ganforge's run: adopt what the resume uses
                marker["files"] = [p for p in (CONFIG_FILE, METRICS_FILE) if (path / p).is_file()]
                marker["files"] += [_rel(p, path) for _, p in list_checkpoints(path)]
                if (path / CHECKPOINT_DIR / BEST_CHECKPOINT).is_file():
                    marker["files"].append(f"{CHECKPOINT_DIR}/{BEST_CHECKPOINT}")
        self._marker = marker
        for folder in (SAMPLES_DIR, CHECKPOINT_DIR):
            if not (path / folder).is_dir():
                self._mkdir(path / folder)
                self._add(folder, dirs=True)
        if self.resuming:
            note = self._set_aside_newer(step)
            if note:
                notes.append(note)
        marker["config"] = config.to_dict()
        self._add(CONFIG_FILE)
        self._add(METRICS_FILE)
        self._write_marker()
        config.save_json(path / CONFIG_FILE)
        return notes

    def _create(self) -> None:
        if self.path is None:  # a fresh runs/<gen>-<data>-<N>: mkdir is the atomic claim
            gen, data = self.name
            n = 0
            while True:
                candidate = Path("runs") / f"{gen}-{data}-{n}"
                try:
                    candidate.parent.mkdir(parents=True, exist_ok=True)
                    candidate.mkdir()
                except FileExistsError:
                    n += 1
                    continue
                except OSError as exc:
                    raise storage_error(exc, candidate, "create the run folder", _OUT_FIX) from exc
                self.path = candidate
                return
        self._mkdir(self.path)

    @staticmethod
    def _mkdir(path: Path) -> None:
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise storage_error(exc, path, "create the folder", _OUT_FIX) from exc

    def _remove_owned(self, marker: dict[str, Any]) -> int:
        """Delete what the marker lists (files, then its folders when empty); return how many files went."""
        removed = 0
        for rel in marker.get("files", []):
            target = self._inside(rel)
            if target is not None and remove_file(target, self.path):  # never through a link, never outside
                removed += 1
        real_root = os.path.realpath(self.path)
        for rel in sorted(marker.get("dirs", []), key=lambda d: -d.count("/")):
            target = self._inside(rel)
            if (target is not None and not target.is_symlink() and target.is_dir()
                    and os.path.realpath(target) == os.path.join(real_root, *Path(rel).parts)):
                try:
                    target.rmdir()  # only when empty: a user's file keeps its folder
                except OSError:
                    pass
        return removed

    def _inside(self, rel: Any) -> Path | None:
        """``path / rel`` when ``rel`` is a plain relative path inside the folder (the marker is only data)."""
        if not isinstance(rel, str) or not rel or Path(rel).is_absolute() or ".." in Path(rel).parts:
            return None
        if Path(rel).parts[0] in _INTERNAL:
            return None
        return self.path / rel

    def _set_aside_newer(self, step: int) -> str | None:
        """Move checkpoints newer than ``step`` (an abandoned continuation) to ``checkpoints/abandoned-<time>/``."""
        folder = self.path / CHECKPOINT_DIR
        newer = [p for s, p in list_checkpoints(self.path) if s > step]
        best = folder / BEST_CHECKPOINT
        if best.is_file():
            best_step = _checkpoint_step(best)
            if best_step is None or best_step > step:
                newer.append(best)
        if not newer:
            return None
        aside = folder / (ABANDONED_PREFIX + time.strftime("%Y%m%d-%H%M%S"))
        n = 1
        while aside.exists():
            n += 1
            aside = folder / (ABANDONED_PREFIX + time.strftime("%Y%m%d-%H%M%S") + f"-{n}")
        self._mkdir(aside)
        self._add(_rel(aside, self.path), dirs=True)
        for p in newer:
            try:
                os.replace(p, aside / p.name)
            except OSError as exc:
                raise storage_error(exc, p, "move aside", "check the folder's permissions") from exc
            self._add(_rel(aside / p.name, self.path))
        metrics = self.path / METRICS_FILE
        if metrics.is_file() and not metrics.is_symlink():  # the resume rewrites it to the resumed branch's records
            try:
                data = metrics.read_bytes()
            except OSError as exc:
                raise storage_error(exc, metrics, "read", "check the file's permissions") from exc
            atomic_write_bytes(aside / METRICS_FILE, data, root=self.path)
            self._add(_rel(aside / METRICS_FILE, self.path))
        names = ", ".join(p.name for p in newer)
        return (f"Resuming from step {step}: moved the {len(newer)} newer checkpoint(s) of the abandoned continuation "
                f"({names}) to {aside}, with a copy of its metrics.jsonl; '--resume {self.path}' now continues "
                f"from here.")

    # -- while the run goes ----------------------------------------------------------

    def record(self, *paths: str | os.PathLike) -> None:
        """Add files the run wrote to the marker (paths outside the folder are ignored)."""
        if self._marker is None:
            return
        changed = False
        for p in paths:
            rel = _rel(Path(p), self.path)
            if rel is not None and rel not in self._marker["files"]:
                self._marker["files"].append(rel)
                changed = True
        if changed:  # forget files in subfolders that are gone (pruned checkpoints); top-level ones come later
            self._marker["files"] = [f for f in self._marker["files"] if "/" not in f or (self.path / f).exists()]
            self._write_marker()

    @contextmanager
    def recording(self, folder: str) -> Iterator[None]:
        """Record the files that appear in ``folder`` (relative to the run) during the ``with`` block."""
        target = self.path / folder
        existed = target.is_dir()
        before = set(target.rglob("*")) if existed else set()
        yield
        if not existed and target.is_dir():
            self._add(folder, dirs=True)
        if target.is_dir():
            self.record(*(p for p in target.rglob("*") if p.is_file() and p not in before))

    def release(self) -> None:
        """Give the folder's lock back (at the end of :meth:`~ganforge.Trainer.fit`, however it ends)."""
        if self.lock is not None:
            self.lock.release()

    # -- the marker ------------------------------------------------------------------

    def _add(self, rel: str | None, dirs: bool = False) -> None:
        key = "dirs" if dirs else "files"
        if rel is not None and self._marker is not None and rel not in self._marker[key]:
            self._marker[key].append(rel)

    def _write_marker(self) -> None:
        text = json.dumps(self._marker, indent=1, sort_keys=True) + "\n"
        atomic_write(self.path / MARKER_FILE, lambda f: f.write(text), binary=False, root=self.path)


def _rel(path: Path, root: Path | None) -> str | None:
    """``path`` relative to ``root`` with forward slashes, or None when it is not inside."""
    if root is None:
        return None
    try:
        return Path(os.path.abspath(path)).relative_to(os.path.abspath(root)).as_posix()
    except ValueError:
        return None


def _version() -> str:
    from ganforge.version import __version__

    return str(__version__)

