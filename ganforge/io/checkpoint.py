"""Checkpoint files: atomic writes and safe, well-explained loading.

A checkpoint is a ``torch.save`` dict of tensors, numbers, strings and
containers only, so it loads with ``weights_only=True``: opening a file
someone else made runs none of their code. :func:`save_checkpoint` enforces
this before writing (a file that could not be loaded back is never written),
and :func:`load_checkpoint` turns every way a file can be bad -- missing,
truncated, corrupt, foreign, holding pickled classes, from a newer format --
into one :class:`~ganforge.errors.CheckpointError` that names the file and the
problem. See ``docs/reliability.md`` for what a Trainer checkpoint holds.
"""

from __future__ import annotations

import io
import os
import re
import warnings
from pathlib import Path
from typing import Any

import attrs
import torch

from ganforge.config import RESUME_REASONS, RUN_PLUGINS, TrainConfig
from ganforge.errors import CheckpointError, ConfigError
from ganforge.io.atomic import atomic_write

FORMAT = "ganforge-checkpoint"
FORMAT_VERSION = 1
CHECKPOINT_DIR = "checkpoints"
#: With eval_every, the checkpoint with the best evaluation so far.
BEST_CHECKPOINT = "best.pt"
#: Keys every checkpoint written by :meth:`ganforge.Trainer.save_checkpoint` holds.
TRAINER_KEYS: tuple[str, ...] = (
    "ganforge_version", "torch_version", "config", "step", "gen", "disc", "opt_g", "opt_d", "scaler",
    "data", "tricks", "rng", "history",
)
_STEP_FILE = re.compile(r"^step_(\d+)\.pt$")
_TMP_FILE = re.compile(r"^\.[^/]+\.pt\.[^/]*\.tmp$")  # .step_0000010.pt.XXXX.tmp, .best.pt.XXXX.tmp
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_OTHER_CHECKPOINT = " Resume from another checkpoint of the run (checkpoints/step_*.pt) or start the run again."
_PLAIN_ATOMS = (bool, int, float, complex, str, bytes, type(None), torch.Tensor, torch.dtype, torch.device)


def checkpoint_name(step: int) -> str:
    """File name of the checkpoint taken after ``step`` steps (``step_0000120.pt``)."""
    return f"step_{step:07d}.pt"


def plain(obj: Any, where: str = "state") -> Any:
    """``obj`` with only types ``weights_only`` loading accepts; raise :class:`CheckpointError` otherwise.

    Subclasses of ``str``, ``int`` and ``float`` (such as ``torch.__version__``)
    become the plain type; tuples, lists and dicts are copied recursively;
    tensors and ``torch.Size`` are kept. ``where`` names the position for the message.
    """
    if isinstance(obj, torch.Tensor) or type(obj) in _PLAIN_ATOMS or isinstance(obj, torch.Size):
        return obj
    if isinstance(obj, bool):
        return bool(obj)
    for base in (str, int, float):  # e.g. TorchVersion(str), numpy.int64 is not one of these
        if isinstance(obj, base):
            return base(obj)
    if isinstance(obj, dict):
        return {plain(k, f"{where} key"): plain(v, f"{where}[{k!r}]") for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        items = [plain(v, f"{where}[{i}]") for i, v in enumerate(obj)]
        return items if isinstance(obj, list) else tuple(items)
    raise CheckpointError(
        f"Cannot checkpoint {where}: a {type(obj).__module__}.{type(obj).__qualname__} is not a tensor, "
        "number, string or container of them (a trick's state_dict() must return only those)."
    )


def save_checkpoint(path: str | os.PathLike, state: dict[str, Any]) -> Path:
    """Write ``state`` to ``path`` atomically: a temporary file, flushed and fsynced, then renamed.

    A crash at any moment leaves either the old file or the complete new one
    (at worst plus a hidden ``.NAME.pt.*.tmp`` file, removed by :func:`prune_checkpoints`).
    The state is serialised in memory first, so a full disk is reported with
    the size the file needs.

    Raises:
        CheckpointError: when ``state`` holds an object that safe loading would refuse.
        StorageError: when the file system refuses the write (disk full, read-only, ...);
            an older file at ``path`` is left as it was.
    """
    payload = plain({"format": FORMAT, "format_version": FORMAT_VERSION, **state})
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    data = buffer.getbuffer()
    return atomic_write(path, lambda f: f.write(data), needed=len(data))


#: torch's words when ``weights_only=True`` refuses a global, a class or a call (the name is group 1).
_REFUSED = (
    re.compile(r"unsupported GLOBAL ([\w.]+)", re.IGNORECASE),  # "... GLOBAL posix.system whose module ... is blocked"
    re.compile(r"Unsupported (?:global|class)[^\n]*?: (?:GLOBAL )?([\w.]+)"),
    re.compile(r"unrecognized function <(?:built-in function |function )?([\w.]+)"),
    re.compile(r"(?:create new object|build)[^\n]*?but got <class '([\w.]+)'>"),
)
#: Sentences of torch's own advice (e.g. to load with ``weights_only=False``): never passed on to the user.
_TORCH_ADVICE = re.compile(r"weights.only|add_safe_globals|safe_globals|file an issue|documentation of torch.load|"
                           r"trusted source|internal miniz error|seeing this error|This can happen if", re.IGNORECASE)


def _pickle_globals(path: Path, limit: int = 64) -> list[str]:
    """The globals (``module.name``) the pickles in ``path`` refer to, read without unpickling anything.

    Looks into ``data.pkl`` of a zip checkpoint, else reads the file as one or
    more pickles in a row (torch's legacy format). Only pickles read completely
    count, so random bytes that happen to look like an opcode name nothing.
    """
    import pickletools
    import zipfile

    found: list[str] = []

    def scan(stream: Any) -> None:
        names: list[str] = []
        strings: list[str] = []
        for op, arg, _ in pickletools.genops(stream):  # raises on anything that is not a whole pickle
            if op.name in ("GLOBAL", "INST") and isinstance(arg, str):
                names.append(arg.replace(" ", "."))
            elif op.name == "STACK_GLOBAL" and len(strings) >= 2:
                names.append(f"{strings[-2]}.{strings[-1]}")
            elif isinstance(arg, str):
                strings.append(arg)
        found.extend(names)

    try:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as archive:
                for name in archive.namelist():
                    if name.endswith("data.pkl"):
                        with archive.open(name) as stream:
                            scan(stream)
        else:
            with open(path, "rb") as stream:
                for _ in range(8):
                    if not stream.peek(1) or stream.peek(2)[:2] == b"PK":  # the end, or a torn zip archive
                        break
                    scan(stream)
    except Exception:  # noqa: BLE001 - damaged: keep the names of the pickles read whole before the damage
        pass
    return found[:limit]


def _unsafe_global(path: Path) -> str | None:
    """The first global in ``path``'s pickle that ``weights_only`` loading would refuse, if any."""
    try:
        from torch._weights_only_unpickler import _get_allowed_globals

        allowed = set(_get_allowed_globals())
    except Exception:  # noqa: BLE001 - a private helper of torch; without it judge by the module
        allowed = set()
    for name in _pickle_globals(path):
        if name in allowed or (not allowed and name.split(".")[0] in ("torch", "collections")):
            continue
        return name
    return None


class NewerFormatError(CheckpointError):
    """A checkpoint of a newer format than this ganforge reads: upgrade ganforge (never skipped on resume)."""


def _running_version() -> str:
    from ganforge.version import __version__

    return str(__version__)


def _reason(exc: BaseException, path: Path | None = None) -> tuple[str, str]:
    """``(problem, detail)`` for an exception raised while unpickling a checkpoint.

    A refusal of ``weights_only`` loading names the refused global; torch's
    suggestion to load the file with ``weights_only=False`` is never passed on.
    """
    text = _ANSI.sub("", str(exc))
    name = next((m.group(1) for m in (p.search(text) for p in _REFUSED) if m), None)
    if name is None and path is not None:
        name = _unsafe_global(path)  # e.g. a plain pickle torch stops reading before its first global
    if name:
        return (f"it holds a pickled Python object ({name}) that ganforge refuses to load, since loading it could "
                "run code; a checkpoint holds only tensors, numbers and strings. Do not set weights_only=False to "
                "load it: only load files from sources you trust", "")
    inner = re.search(r"WeightsUnpickler error:\s*([^\n]+(?:\n[^\n]+)*)", text)  # torch's own reason
    body = inner.group(1) if inner else text
    sentences = re.split(r"(?<=[.!?])\s+|\n+", body.strip())
    kept = [s.strip() for s in sentences if s.strip() and not _TORCH_ADVICE.search(s)]
    detail = f"{type(exc).__name__}: {' '.join(kept)[:160]}" if kept else type(exc).__name__
    return "it is truncated or corrupt, or was not written by torch.save", detail


def describe_load_error(exc: BaseException, path: str | os.PathLike | None = None) -> str:
    """Why ``torch.load(path, weights_only=True)`` failed, in one line, without torch's advice to load unsafely.

    Used for every ``.pt`` file ganforge reads back (checkpoints, cached classifiers).
    """
    problem, detail = _reason(exc, Path(path) if path is not None else None)
    return f"{problem} ({detail})" if detail else problem


def load_checkpoint(
    path: str | os.PathLike, map_location: Any = "cpu", required: tuple[str, ...] = TRAINER_KEYS
) -> dict[str, Any]:
    """Load a checkpoint safely (``weights_only=True``) and check its format.

    Args:
        path: The ``.pt`` file.
        map_location: Where tensors are loaded, default the CPU.
        required: Keys the file must hold (default: those of a Trainer checkpoint).

    Raises:
        CheckpointError: naming the file, when it is missing, unreadable,
            truncated, corrupt, not a ganforge checkpoint, holds pickled
            classes, lacks a required key, or is from a newer format. Never
            runs code stored in the file.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"Checkpoint {path} does not exist (or is not a file).")
    try:
        with warnings.catch_warnings():  # torch warns about odd pickle protocols in random bytes
            warnings.simplefilter("ignore")
            state = torch.load(path, map_location=map_location, weights_only=True)
    except PermissionError as exc:
        raise CheckpointError(f"Cannot read checkpoint {path}: {exc.strerror}; check its permissions.") from None
    except Exception as exc:  # every unpickling failure means a bad file; no trace for the user
        problem, detail = _reason(exc, path)
        detail = f" ({detail})" if detail else ""
        raise CheckpointError(f"Cannot load checkpoint {path}: {problem}{detail}.{_OTHER_CHECKPOINT}") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        what = "a dict without" if isinstance(state, dict) else f"a {type(state).__name__}, not a dict with"
        raise CheckpointError(
            f"{path} is not a ganforge checkpoint ({what} the format={FORMAT!r} marker); it was made by "
            "another program. Pass a checkpoint written by 'ganforge train'."
        )
    version = state.get("format_version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise CheckpointError(f"{path} has an invalid checkpoint format version {version!r}; the file is damaged.")
    if version > FORMAT_VERSION:
        raise NewerFormatError(
            f"{path} has checkpoint format {version}, newer than this ganforge understands (format "
            f"{FORMAT_VERSION}, ganforge {_running_version()}); it was written by ganforge "
            f"{state.get('ganforge_version')!s}. Upgrade ganforge (pip install -U ganforge) to load it."
        )
    missing = [k for k in required if k not in state]
    if missing:
        raise CheckpointError(f"{path} is an incomplete ganforge checkpoint: it lacks {', '.join(missing)}.")
    return state


#: Settings a resumed run may change: the fields whose ``resume`` metadata is True
#: (:func:`ganforge.config.setting`). Most do not alter the steps' results (evaluation runs on a
#: forked RNG; progress output and checkpoint timing are not part of the run's identity);
#: ``grad_clip``, ``nan_policy`` and ``precision`` do, on purpose: they are the remedies for a
#: diverged run. Everything else is fixed by the checkpoint (``eval_metric`` too: the saved best
#: value is in its units).
RESUME_CHANGEABLE: frozenset[str] = frozenset(f.name for f in attrs.fields(TrainConfig) if f.metadata["resume"] is True)
#: Settings that are not part of a run's identity: a resume uses their defaults unless they are given again.
NOT_INHERITED: tuple[str, ...] = tuple(f.name for f in attrs.fields(TrainConfig) if not f.metadata["inherit"])

#: Why each group of fixed settings cannot change on resume (the first group that matches is named).
_FIXED_REASONS: tuple[tuple[frozenset[str], str], ...] = tuple(
    (frozenset(f.name for f in attrs.fields(TrainConfig) if f.metadata["resume"] == group), why)
    for group, why in RESUME_REASONS.items() if group is not None
)


def may_change_on_resume(name: str) -> bool:
    """True when a resumed run may change the setting ``name`` (see :data:`RESUME_CHANGEABLE`).

    The one rule for resuming: :func:`check_resume_changes` applies it to the settings a resume
    is given, :func:`ganforge.io.rundir.check_config_edits` to an edited ``config.json``.
    """
    return name in RESUME_CHANGEABLE


def check_resume_changes(saved: dict[str, Any], new: dict[str, Any], path: str | os.PathLike) -> None:
    """Refuse resuming with settings that would not match the checkpoint.

    Args:
        saved: The configuration stored in the checkpoint (``TrainConfig.to_dict()``).
        new: The configuration the resumed run would use.
        path: The checkpoint, for the message.

    Raises:
        ConfigError: listing each changed field outside :data:`RESUME_CHANGEABLE`
            and why it is fixed (models, data, batch size, seed and optimizer
            settings: the saved weights, optimizer state and data position belong to them).
    """
    changed = sorted(k for k in new if not may_change_on_resume(k) and new.get(k) != saved.get(k))
    # A changed plugin brings its own recorded options: name the choice, not both.
    for plugin in RUN_PLUGINS:
        if plugin.field in changed and plugin.options in changed:
            changed.remove(plugin.options)
    if changed:
        detail = "; ".join(f"{k}: {saved.get(k)!r} -> {new.get(k)!r}" for k in changed)
        reason = next((why for fields, why in _FIXED_REASONS if fields & set(changed)), RESUME_REASONS[None])
        raise ConfigError(
            f"Cannot change {', '.join(changed)} when resuming from {path} ({detail}): {reason}. Settings a resume "
            f"may change: {', '.join(sorted(RESUME_CHANGEABLE))}. Start a new run (another --out) to change the others."
        )


def check_unfinished(step: int, steps: int, run: str | os.PathLike) -> None:
    """Refuse to resume a run that has already done its ``steps``.

    Raises:
        ConfigError: ``Run RUN already finished at step N; pass --steps M (M > N) to continue it.``
    """
    from ganforge.errors import ConfigError

    if step >= steps:
        raise ConfigError(f"Run {run} already finished at step {step} (steps={steps}); pass --steps M with M > "
                          f"{step} (Trainer.resume(..., steps=M)) to continue it.")


class ResumeWarning(UserWarning):
    """A resume went on past a problem: e.g. the newest checkpoint could not be loaded and an older one is used."""


def run_dir_of(checkpoint: str | os.PathLike) -> Path:
    """The run folder a checkpoint file belongs to (``RUN/checkpoints/x.pt``, ``RUN/checkpoints/abandoned-*/x.pt``).

    A file elsewhere belongs to the folder it is in.
    """
    path = Path(checkpoint)
    for parent in path.parents[:2]:
        if parent.name == CHECKPOINT_DIR:
            return parent.parent
    return path.parent


class CheckpointTimer:
    """Says when a time-based checkpoint is due (``checkpoint_minutes``).

    Args:
        minutes: Minutes between checkpoints (0: never due).
        clock: Monotonic clock in seconds (tests pass a fake one).
    """

    def __init__(self, minutes: float, clock: Any = None):
        import time

        self.minutes = minutes
        self.clock = clock or time.monotonic
        self.last = self.clock()

    def due(self) -> bool:
        """True when ``minutes`` have passed since the last :meth:`reset` (or since creation)."""
        return bool(self.minutes) and self.clock() - self.last >= 60.0 * self.minutes

    def reset(self) -> None:
        """A checkpoint was just written."""
        self.last = self.clock()


def list_checkpoints(run_dir: str | os.PathLike) -> list[tuple[int, Path]]:
    """``(step, path)`` of the run's periodic checkpoints (``checkpoints/step_*.pt``), oldest first."""
    folder = Path(run_dir) / CHECKPOINT_DIR
    if not folder.is_dir():
        return []
    found = []
    for p in folder.iterdir():
        m = _STEP_FILE.match(p.name)
        if m:
            found.append((int(m.group(1)), p))
    return sorted(found)


def latest_checkpoint(run_dir_or_file: str | os.PathLike) -> Path:
    """The checkpoint to resume from: the file itself, or the newest one in a run folder.

    Raises:
        CheckpointError: when the path does not exist or the folder holds no checkpoint.
    """
    p = Path(run_dir_or_file)
    if p.is_file():
        return p
    if not p.exists():
        raise CheckpointError(f"Cannot resume from {p}: no such run folder or checkpoint file.")
    found = list_checkpoints(p)
    if not found:
        others = sorted(str(f.relative_to(p)) for f in (p / CHECKPOINT_DIR).rglob("*.pt")) if (
            p / CHECKPOINT_DIR).is_dir() else []
        if others:
            raise CheckpointError(f"No periodic checkpoint (step_*.pt) in {p / CHECKPOINT_DIR}; pass one of the "
                                  f"run's other checkpoint files instead: {', '.join(others)}.")
        raise CheckpointError(
            f"No checkpoint found in {p / CHECKPOINT_DIR}; pass a run folder written by 'ganforge train' "
            "or a checkpoint file. (A run stopped before its first checkpoint has nothing to resume: start it "
            "again with the same command.)"
        )
    return found[-1][1]


def load_latest_good(run_dir_or_file: str | os.PathLike) -> tuple[Path, dict[str, Any]]:
    """The newest checkpoint of a run that loads, with its state; a file is loaded as it is.

    When the newest periodic checkpoints cannot be loaded (truncated by a
    full disk, damaged), the next older one is used and a
    :class:`ResumeWarning` names both files. A checkpoint of a newer format is
    never passed over: the resume stops there (:class:`NewerFormatError`,
    "upgrade ganforge") and nothing in the run is moved or deleted. A
    checkpoint written by another ganforge version gets a one-line
    :class:`ResumeWarning` naming both versions.

    Raises:
        CheckpointError: when nothing can be resumed (the newest file's error when none loads).
        NewerFormatError: when a checkpoint newer than the one that would be resumed has a newer format.
    """
    newest = latest_checkpoint(run_dir_or_file)
    if Path(run_dir_or_file).is_file():
        state = load_checkpoint(newest)
        _note_version(newest, state)
        return newest, state
    first_error: CheckpointError | None = None
    bad: list[tuple[Path, CheckpointError]] = []
    for _, path in reversed(list_checkpoints(run_dir_or_file)):
        try:
            state = load_checkpoint(path)
        except NewerFormatError as exc:
            raise NewerFormatError(
                f"{exc} Nothing in {run_dir_or_file} was moved or deleted; to continue from an older checkpoint "
                "with this ganforge instead, pass its file (--resume RUN/checkpoints/step_N.pt)."
            ) from None
        except CheckpointError as exc:
            first_error = first_error or exc
            bad.append((path, exc))
            continue
        for skipped, exc in bad:
            why = str(exc).replace(_OTHER_CHECKPOINT, "").rstrip(".")
            warnings.warn(ResumeWarning(f"Resuming from the previous good checkpoint {path}, not from the newer "
                                        f"{skipped}: {why}."), stacklevel=2)
        _note_version(path, state)
        return path, state
    assert first_error is not None
    raise first_error


def _note_version(path: Path, state: dict[str, Any]) -> None:
    """Warn in one line when ``state`` was written by another ganforge version than this one."""
    written, running = state.get("ganforge_version"), _running_version()
    if written is not None and str(written) != running:
        warnings.warn(ResumeWarning(
            f"Checkpoint {path} was written by ganforge {written}; this is ganforge {running} (the same checkpoint "
            f"format, {state.get('format_version')}): it loads, but steps taken now may differ from those ganforge "
            f"{written} would take."), stacklevel=3)


def prune_checkpoints(run_dir: str | os.PathLike, keep: int) -> None:
    """Delete all but the newest ``keep`` periodic checkpoints, and temporary files left by a crash."""
    for _, path in list_checkpoints(run_dir)[:-keep]:
        path.unlink(missing_ok=True)
    folder = Path(run_dir) / CHECKPOINT_DIR
    if folder.is_dir():
        for p in folder.iterdir():
            if _TMP_FILE.match(p.name):
                p.unlink(missing_ok=True)
