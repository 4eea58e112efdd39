"""Hyper-parameter search on Optuna: ``ganforge tune`` and :func:`tune`.

A search space file (:mod:`ganforge.tune.spacefile`, read into
:mod:`ganforge.tune.space`) lists fixed settings and
searched ones; each trial is a normal ganforge run in ``OUT/trials/trial-NNNN``
(:mod:`ganforge.tune.objective`) whose evaluations feed Optuna's pruner;
workers (:mod:`ganforge.tune.worker`) share one study in an SQLite file or a
database server (:mod:`ganforge.tune.storage`, :mod:`ganforge.tune.study`);
:mod:`ganforge.tune.report` writes the table, pictures and best settings.

Optuna is optional (``pip install 'ganforge[tune]'``): this package imports
it only when a study runs.

The package is callable: ``ganforge.tune(space, ...)`` is :func:`tune`, while
``ganforge.tune.space`` and the other submodules import as usual.
"""

from __future__ import annotations

import inspect
import json
import os
import shlex
import sys
import types
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs

from ganforge.errors import ConfigError
from ganforge.tune.report import TuneReport
from ganforge.tune.space import SearchSpace
from ganforge.tune.spacefile import load_space

__all__ = ["SearchSpace", "TuneReport", "load_space", "tune"]


def _say(progress: bool, message: str) -> None:
    if progress:
        print(message, file=sys.stderr, flush=True)


def tune(space: str | os.PathLike | Mapping[str, Any] | None = None, *, trials: int | None = None,
         workers: int | None = None, out: str | os.PathLike | None = None, storage: str | None = None,
         study: str | None = None, pruner: str | None = None, report: str | os.PathLike | None = None,
         progress: bool = True) -> TuneReport:
    """Search a space of settings with Optuna, as ``ganforge tune`` does; or, with ``report=DIR``, report a study.

    Args:
        space: The search space: a TOML file's path or the same structure as a
            mapping (see :mod:`ganforge.tune.spacefile`).
        trials: Trials in the whole study (default: the space's ``[tune]
            trials``, else 20). Running again with the same arguments continues
            the study up to this number.
        workers: Trials run at once on this machine, each in its own process
            with one CPU thread (default: ``[tune] workers``, else 1: one after
            another in this process).
        out: The study's folder (default ``runs/tune-<space file stem>``): its
            SQLite storage, ``trials/trial-NNNN`` run folders and ``report/``.
        storage: A database URL (``postgresql://...``, ``mysql+pymysql://...``)
            shared by commands on several machines, instead of ``OUT/study.db``.
        study: The study's name in the storage (default: the name of ``out``).
        pruner: Overrides ``[tune] pruner``: ``median``, ``percentile``,
            ``threshold``, ``successive_halving``, ``hyperband`` or ``none``.
        report: Instead of searching, write the report of the study in this folder.
        progress: Print a line as each trial starts and ends, and the table at the end.

    Returns:
        The :class:`~ganforge.tune.report.TuneReport` (also written to ``OUT/report``).

    Raises:
        ConfigError: before any trial starts, for a bad space (naming the file
            and the entry), an unreachable storage, or a missing Optuna.
        KeyboardInterrupt: after Ctrl-C; running trials saved a checkpoint and
            continue when the same call is made again.
    """
    from ganforge.tune.storage import require_optuna

    optuna = require_optuna()
    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.ERROR)  # ganforge prints its own line per trial
    try:
        return _tune(space, trials, workers, out, storage, study, pruner, report, progress)
    finally:
        optuna.logging.set_verbosity(verbosity)


def _tune(space: Any, trials: int | None, workers: int | None, out: Any, storage: str | None, study: str | None,
          pruner: str | None, report: Any, progress: bool) -> TuneReport:
    if report is not None:
        if space is not None:
            raise ConfigError("Give a search space to run a study, or a folder to report (--report), not both.")
        return _report(Path(report), storage, study, progress)
    if space is None:
        raise ConfigError("ganforge tune needs a search space file (SPACE.toml), or --report DIR.")
    from ganforge.tune.spacefile import check_pruner, source_name
    from ganforge.tune.study import open_study
    from ganforge.tune.worker import run_study

    checked = load_space(space)
    changes: dict[str, Any] = {}
    for flag, name, value in (("--trials", "trials", trials), ("--workers", "workers", workers)):
        if value is not None:
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"{flag} must be an integer >= 1 (got {value!r})")
            changes[name] = value
    if pruner is not None:
        check_pruner(pruner, {}, lambda msg: ConfigError(f"--pruner: {msg}"))
        changes.update(pruner=pruner, pruner_options={} if pruner != checked.options.pruner
                       else checked.options.pruner_options)
    options = attrs.evolve(checked.options, **changes)
    out_dir = Path(out) if out is not None else Path("runs") / f"tune-{source_name(space)}"
    handle, job = open_study(checked, options, out_dir, storage, study, command=_command())
    job = attrs.evolve(job, progress=progress)
    done = sum(1 for t in handle.get_trials(deepcopy=False) if t.state.is_finished())
    better = "lower" if checked.direction == "minimize" else "higher"
    how = ("one after another in this process" if options.workers == 1
           else f"{options.workers} at once in worker processes, one CPU thread (or GPU) each")
    _say(progress, f"Study '{job.study}' ({_shown(job.storage_url)}): {done} of {options.trials} trials done; "
                   f"trials run {how}, in {out_dir / 'trials'}. Objective: {checked.metric} ({better} is better), "
                   f"{options.pruner} pruner.")
    try:
        run_study(job)
    except KeyboardInterrupt:
        _say(progress, "Interrupted: stopped trials saved a checkpoint and are queued again; run the same command "
                       "to continue the study.")
        raise
    return _report(out_dir, storage, job.study, progress)


def _command() -> str | None:
    """The command line, when this process is the ``ganforge`` command (for the report)."""
    if Path(sys.argv[0]).name in ("ganforge", "__main__.py") and "tune" in sys.argv[1:]:
        return shlex.join(["ganforge", *_hide_passwords(sys.argv[1:])])
    return None


def _hide_passwords(argv: list[str]) -> list[str]:
    """``argv`` with the password of every ``--storage URL`` (or ``--storage=URL``) replaced by ``***``."""
    shown, after_flag = [], False
    for arg in argv:
        if after_flag:
            arg = _shown(arg)
        elif arg.startswith("--storage="):
            arg = "--storage=" + _shown(arg[len("--storage="):])
        after_flag = arg == "--storage"
        shown.append(arg)
    return shown


def _shown(url: str) -> str:
    from ganforge.tune.storage import shown_url

    return shown_url(url)


def _report(out_dir: Path, storage: str | None, study: str | None, progress: bool) -> TuneReport:
    from ganforge.tune.report import build_report, format_table
    from ganforge.tune.study import TUNE_FILE, open_for_report, resolve_target

    handle = open_for_report(out_dir, storage, study)
    record = out_dir / TUNE_FILE
    url, _ = resolve_target(out_dir, storage, study) if record.is_file() else (storage, study)
    command = json.loads(record.read_text(encoding="utf-8")).get("command") if record.is_file() else None
    result, params = build_report(handle, out_dir, storage=_shown(url or ""), command=command)
    if progress:
        print(format_table(result, params))
        for note in result.notes:
            print(f"Note: {note}")
        written = ", ".join(str(p) for p in result.files.values())
        print(f"Wrote {written}")
    return result


class _CallableModule(types.ModuleType):
    """This package's class: calling ``ganforge.tune(...)`` runs :func:`tune`."""

    def __call__(self, *args: Any, **kwargs: Any) -> TuneReport:
        return tune(*args, **kwargs)


__signature__ = inspect.signature(tune)
sys.modules[__name__].__class__ = _CallableModule
