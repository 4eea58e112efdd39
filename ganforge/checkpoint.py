"""Checkpoint files: atomic writes and safe, well-explained loading.

A checkpoint is a ``torch.save`` dict of tensors, numbers, strings and
containers only, so it loads with ``weights_only=True``: opening a file
someone else made runs none of their code.
"""

from __future__ import annotations

import os
import pickle
import re
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import torch

from ganforge.errors import CheckpointError

FORMAT = "ganforge-checkpoint"
FORMAT_VERSION = 1
CHECKPOINT_DIR = "checkpoints"
_STEP_FILE = re.compile(r"^step_(\d+)\.pt$")


def checkpoint_name(step: int) -> str:
    """File name of the checkpoint taken after ``step`` steps."""
    return f"step_{step:07d}.pt"


def save_checkpoint(path: str | os.PathLike, state: dict[str, Any]) -> Path:
    """Write ``state`` to ``path`` atomically: a temporary file, flushed and fsynced, then renamed.

    A crash at any moment leaves either the old file or the complete new one.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {"format": FORMAT, "format_version": FORMAT_VERSION, **state}
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(payload, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    try:  # make the rename itself durable
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except OSError:  # pragma: no cover - some file systems refuse fsync on folders
        pass
    return path


def load_checkpoint(path: str | os.PathLike, map_location: Any = "cpu") -> dict[str, Any]:
    """Load a checkpoint safely (``weights_only=True``) and check its format.

    Raises:
        CheckpointError: naming the file, when it is missing, truncated,
            corrupt, not a ganforge checkpoint, or from a newer format.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"Checkpoint {path} does not exist.")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except (pickle.UnpicklingError, zipfile.BadZipFile, EOFError, RuntimeError, ValueError, OSError) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if "weights_only" in str(exc) or "Unsupported global" in str(exc):
            problem = "it holds pickled Python objects, which ganforge refuses to run (weights_only=True)"
        else:
            problem = "it is truncated or corrupt"
        raise CheckpointError(
            f"Cannot load checkpoint {path}: {problem} ({reason[:200]}). Use another checkpoint from "
            f"the same run folder."
        ) from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a ganforge checkpoint (no '{FORMAT}' marker); it was made by another program.")
    version = state.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise CheckpointError(
            f"{path} has checkpoint format {version!r}, newer than this ganforge understands "
            f"({FORMAT_VERSION}); upgrade ganforge (it was written by ganforge {state.get('ganforge_version')})."
        )
    return state


def list_checkpoints(run_dir: str | os.PathLike) -> list[tuple[int, Path]]:
    """``(step, path)`` of the run's periodic checkpoints, oldest first."""
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
    """The checkpoint to resume from: the file itself, or the newest one in a run folder."""
    p = Path(run_dir_or_file)
    if p.is_file():
        return p
    found = list_checkpoints(p)
    if not found:
        raise CheckpointError(
            f"No checkpoint found in {p / CHECKPOINT_DIR}; pass a run folder written by 'ganforge train' "
            "or a checkpoint file."
        )
    return found[-1][1]


def prune_checkpoints(run_dir: str | os.PathLike, keep: int) -> None:
    """Delete all but the newest ``keep`` periodic checkpoints."""
    for _, path in list_checkpoints(run_dir)[:-keep]:
        path.unlink(missing_ok=True)
