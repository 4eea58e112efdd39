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

import os
import re
import warnings
from pathlib import Path
from typing import Any

import torch

from ganforge.atomic import atomic_write
from ganforge.errors import CheckpointError

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

    Raises:
        CheckpointError: when ``state`` holds an object that safe loading would refuse.
    """
    payload = plain({"format": FORMAT, "format_version": FORMAT_VERSION, **state})
    return atomic_write(path, lambda f: torch.save(payload, f))


def _reason(exc: BaseException) -> tuple[str, str]:
    """``(problem, detail)`` for an exception raised while unpickling a checkpoint."""
    text = _ANSI.sub("", str(exc))
    found = re.search(r"Unsupported (?:global|class)[^\n]*?: (?:GLOBAL )?([\w.]+)", text)
    if found:
        return (f"it holds a pickled Python object ({found.group(1)}) that ganforge refuses to load, since "
                "loading it could run code (weights_only=True)", "")
    inner = re.search(r"WeightsUnpickler error:\s*([^\n]+(?:\n[^\n]+)*)", text)  # torch's own reason
    lines = [ln.strip() for ln in (inner.group(1) if inner else text).strip().splitlines() if ln.strip()]
    detail = f"{type(exc).__name__}: {' '.join(lines)[:160]}" if lines else type(exc).__name__
    return "it is truncated or corrupt, or was not written by torch.save", detail


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
        problem, detail = _reason(exc)
        detail = f" ({detail})" if detail else ""
        raise CheckpointError(
            f"Cannot load checkpoint {path}: {problem}{detail}. Resume from another checkpoint of the "
            "run (checkpoints/step_*.pt) or start the run again."
        ) from None
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
        raise CheckpointError(
            f"{path} has checkpoint format {version}, newer than this ganforge understands "
            f"({FORMAT_VERSION}); it was written by ganforge {state.get('ganforge_version')!s}. Upgrade ganforge."
        )
    missing = [k for k in required if k not in state]
    if missing:
        raise CheckpointError(f"{path} is an incomplete ganforge checkpoint: it lacks {', '.join(missing)}.")
    return state


#: Settings a resumed run may change. The first two lines do not alter the
#: steps' results (evaluation runs on a forked RNG); ``grad_clip``, ``nan_policy`` and
#: ``precision`` do, on purpose: they are the remedies for a diverged run. Everything
#: else is fixed by the checkpoint (``eval_metric`` too: the saved best value is in its units).
RESUME_CHANGEABLE: frozenset[str] = frozenset({
    "steps", "progress", "log_every", "sample_every", "checkpoint_every", "keep_checkpoints", "overwrite",
    "data_root", "device", "cuda_graphs", "compile", "tensorboard", "eval_every", "eval_samples",
    "grad_clip", "nan_policy", "precision", "strategy", "dist_timeout", "data_placement", "data_workers",
    "threads",
})


def check_resume_changes(saved: dict[str, Any], new: dict[str, Any], path: str | os.PathLike) -> None:
    """Refuse resuming with settings that would not match the checkpoint.

    Args:
        saved: The configuration stored in the checkpoint (``TrainConfig.to_dict()``).
        new: The configuration the resumed run would use.
        path: The checkpoint, for the message.

    Raises:
        ConfigError: listing each changed field outside :data:`RESUME_CHANGEABLE`
            (models, data, batch size, seed and optimizer settings are fixed: the
            saved weights, optimizer state and data position belong to them).
    """
    from ganforge.errors import ConfigError

    changed = sorted(k for k in new if k not in RESUME_CHANGEABLE and new.get(k) != saved.get(k))
    # A changed plugin brings its own recorded options: name the choice, not both.
    for choice, options in (("gen", "gen_options"), ("disc", "disc_options"), ("loss", "loss_options"),
                            ("data", "data_options"), ("tricks", "trick_options"),
                            ("regularizers", "regularizer_options")):
        if choice in changed and options in changed:
            changed.remove(options)
    if changed:
        detail = "; ".join(f"{k}: {saved.get(k)!r} -> {new.get(k)!r}" for k in changed)
        raise ConfigError(
            f"Cannot change {', '.join(changed)} when resuming from {path} ({detail}): the checkpoint's "
            f"weights, optimizer state and data position belong to the saved values. Settings a resume may "
            f"change: {', '.join(sorted(RESUME_CHANGEABLE))}. Start a new run to change the others."
        )


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
        raise CheckpointError(
            f"No checkpoint found in {p / CHECKPOINT_DIR}; pass a run folder written by 'ganforge train' "
            "or a checkpoint file. (A run stopped before its first checkpoint cannot be resumed: start it "
            "again with --overwrite.)"
        )
    return found[-1][1]


def prune_checkpoints(run_dir: str | os.PathLike, keep: int) -> None:
    """Delete all but the newest ``keep`` periodic checkpoints, and temporary files left by a crash."""
    for _, path in list_checkpoints(run_dir)[:-keep]:
        path.unlink(missing_ok=True)
    folder = Path(run_dir) / CHECKPOINT_DIR
    if folder.is_dir():
        for p in folder.iterdir():
            if _TMP_FILE.match(p.name):
                p.unlink(missing_ok=True)
