"""The run directory: naming it, and refusing to write over another run."""

from __future__ import annotations

import shutil
from pathlib import Path

from ganforge.checkpoint import CHECKPOINT_DIR
from ganforge.errors import RunDirectoryError

CONFIG_FILE = "config.json"
METRICS_FILE = "metrics.jsonl"
SAMPLES_DIR = "samples"


def default_run_dir(gen: str, data: str, parent: str | Path = "runs") -> Path:
    """``runs/<gen>-<data>-<N>`` with the smallest N not taken yet."""
    parent = Path(parent)
    n = 0
    while (parent / f"{gen}-{data}-{n}").exists():
        n += 1
    return parent / f"{gen}-{data}-{n}"


def holds_run(path: Path) -> bool:
    """True when ``path`` holds files of a ganforge run."""
    return any((path / name).exists() for name in (CONFIG_FILE, METRICS_FILE, CHECKPOINT_DIR))


def prepare_run_dir(path: str | Path, overwrite: bool = False, resuming: bool = False) -> Path:
    """Create the run directory, refusing one that holds another run unless resuming or overwriting.

    With ``overwrite`` the old run's config, metrics, samples and checkpoints are removed first.
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise RunDirectoryError(f"Output path {path} exists and is not a folder; choose another --out.")
    if holds_run(path) and not resuming:
        if not overwrite:
            raise RunDirectoryError(
                f"Output folder {path} already holds a run. Pass --resume {path} (resume=...) to continue it, "
                "--overwrite (overwrite=True) to replace it, or choose another --out."
            )
        for name in (CONFIG_FILE, METRICS_FILE):
            (path / name).unlink(missing_ok=True)
        for name in (CHECKPOINT_DIR, SAMPLES_DIR):
            shutil.rmtree(path / name, ignore_errors=True)
    (path / SAMPLES_DIR).mkdir(parents=True, exist_ok=True)
    return path
