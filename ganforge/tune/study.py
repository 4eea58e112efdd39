"""The Optuna study behind ``ganforge tune``: creating or continuing it, counting trials, retrying lost ones.

A study counts *slots*: ``--trials N`` asks for N configurations tried. A
trial lost to Ctrl-C, a killed worker or a dead machine is marked failed and
queued again with the same parameters (a *retry*, which continues the lost
trial's run folder from its last checkpoint); a retry fills the same slot.
A trial that fails on its own (an error in its settings, a diverged run) is
not retried: it used its slot.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import socket
import time
from pathlib import Path
from typing import Any

import attrs

from ganforge.errors import ConfigError
from ganforge.tune.space import PRUNERS, SAMPLERS, Param, SearchSpace, TuneOptions
from ganforge.tune.storage import default_url, has_password, open_storage, require_optuna, shown_url, \
    sqlite_path
from ganforge.version import __version__

#: The file in the output folder naming the study and its storage.
TUNE_FILE = "tune.json"
#: The study user attribute holding what ganforge needs to continue and report it.
STUDY_ATTR = "ganforge"
#: How often one slot's trial is queued again after being lost.
MAX_RETRIES = 2


def this_host() -> str:
    """This machine's name plus its boot id where the system has one (two machines may share a name)."""
    boot = Path("/proc/sys/kernel/random/boot_id")
    try:
        return f"{socket.gethostname()}/{boot.read_text().strip()[:8]}"
    except OSError:
        return socket.gethostname()


def pid_alive(pid: int) -> bool:
    """True when a process ``pid`` runs on this machine (a zombie, dead but not yet reaped, counts as gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True
    try:
        with open(f"/proc/{int(pid)}/stat", encoding="ascii", errors="replace") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):  # no /proc (not Linux): os.kill's answer
        return True


@attrs.frozen
class Job:
    """Everything a worker needs to run trials of a study (picklable, sent to worker processes).

    Attributes:
        space: The checked search space.
        options: The ``[tune]`` settings with the command's overrides applied.
        out_dir: The study's output folder; trials run in ``OUT/trials/trial-NNNN``.
        storage_url: The storage URL (with its password: kept in memory only).
        study: The study name.
        progress: Print a line as each trial starts and ends.
    """

    space: SearchSpace
    options: TuneOptions
    out_dir: str
    storage_url: str
    study: str
    progress: bool = True


def make_pruner(options: TuneOptions) -> Any:
    """The Optuna pruner named in ``options`` (``median`` by default)."""
    optuna = require_optuna()
    return getattr(optuna.pruners, PRUNERS[options.pruner])(**options.pruner_options)


def make_sampler(options: TuneOptions, worker: int, trials_before: int) -> Any:
    """The sampler of one worker: seeded from (seed, worker, trials already in the study).

    Each worker and each restart of the command thus draws its own stream, and
    the same command on the same study draws the same values. TPE uses the
    constant liar, so parallel workers do not propose the same point.
    """
    import numpy as np

    optuna = require_optuna()
    seed = int(np.random.SeedSequence([options.seed, worker, trials_before]).generate_state(1)[0])
    if options.sampler == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    assert SAMPLERS[options.sampler] == "TPESampler"
    return optuna.samplers.TPESampler(seed=seed, constant_liar=True)


def space_params(study: Any) -> tuple[str, str, list[Param]]:
    """The metric, direction and searched entries a study was created with (from its user attributes)."""
    info = study.user_attrs.get(STUDY_ATTR)
    if not info:
        raise ConfigError(f"Study '{study.study_name}' was not made by ganforge tune (it has no '{STUDY_ATTR}' "
                          "attribute).")
    params = []
    for d in info["identity"]["search"]:
        d = dict(d, choices=tuple(d["choices"]), labels=tuple(d["labels"]))
        params.append(Param(**d))
    return info["identity"]["metric"], info["direction"], params


def _describe_change(old: dict[str, Any], new: dict[str, Any]) -> str:
    changes = []
    for key in sorted(set(old["fixed"]) | set(new["fixed"])):
        if old["fixed"].get(key) != new["fixed"].get(key):
            changes.append(f"[fixed] {key}")
    old_s = {p["key"]: p for p in old["search"]}
    new_s = {p["key"]: p for p in new["search"]}
    for key in sorted(set(old_s) | set(new_s)):
        if old_s.get(key) != new_s.get(key):
            changes.append(f"[search] {key}")
    if old["metric"] != new["metric"]:
        changes.append("the metric")
    return ", ".join(changes) or "the entries' order"


def resolve_target(out_dir: Path, storage: str | None, study: str | None) -> tuple[str, str]:
    """The storage URL and study name of ``out_dir``: the given ones, else those in its ``tune.json``, else the defaults.

    Raises:
        ConfigError: when they contradict the folder's ``tune.json``, or when
            the recorded storage held a password (give ``--storage`` again).
    """
    record_path = out_dir / TUNE_FILE
    record = json.loads(record_path.read_text(encoding="utf-8")) if record_path.is_file() else None
    if record is None:
        return storage or default_url(out_dir), study or out_dir.resolve().name
    if study is not None and study != record["study"]:
        raise ConfigError(f"{out_dir} holds study '{record['study']}', not '{study}': drop --study, or choose "
                          "another --out for another study.")
    if storage is not None:
        if shown_url(storage) != record["storage"]:
            raise ConfigError(f"{out_dir} holds a study stored in {record['storage']}, not {shown_url(storage)}: "
                              "give the same --storage, or choose another --out.")
        return storage, record["study"]
    if record.get("storage_has_password"):
        raise ConfigError(f"{out_dir}'s study is stored in {record['storage']}; give --storage with the password "
                          "again (ganforge does not write passwords to disk).")
    url = record["storage"] if record["storage"] != "default" else default_url(out_dir)
    return url, record["study"]


def open_study(space: SearchSpace, options: TuneOptions, out_dir: Path, storage: str | None,
               study: str | None, command: str | None = None) -> tuple[Any, Job]:
    """Create the study, or continue it, after checking the storage and the space; queue ``[[enqueue]]`` trials once.

    Returns:
        The Optuna study and the :class:`Job` for its workers.

    Raises:
        ConfigError: an unreachable storage, a folder or study holding another
            search, a space that differs from the one the study began with.
    """
    optuna = require_optuna()
    url, name = resolve_target(out_dir, storage, study)
    if storage is None:
        out_dir.mkdir(parents=True, exist_ok=True)  # the default storage lives there
    db = sqlite_path(url)
    fresh_db = db is not None and not db.exists()
    store = open_storage(url, heartbeat=options.heartbeat, flag="--storage" if storage else "the default storage")
    out_dir.mkdir(parents=True, exist_ok=True)
    identity = space.identity()
    try:
        handle = optuna.load_study(study_name=name, storage=store)
        created = False
    except KeyError:
        try:
            check_trial_folders(out_dir, [], name, url)
        except ConfigError:
            if fresh_db:  # the empty storage this call just made for nothing
                store.remove_session()
                store.engine.dispose()
                db.unlink(missing_ok=True)
            raise
        try:
            handle = optuna.create_study(study_name=name, storage=store, direction=space.direction)
            created = True
        except optuna.exceptions.DuplicatedStudyError:  # another command created it just now
            handle = optuna.load_study(study_name=name, storage=store)
            created = False
    if created:
        handle.set_user_attr(STUDY_ATTR, {"identity": identity, "direction": space.direction,
                                          "source": space.source, "ganforge": __version__})
        for params in space.enqueue:
            handle.enqueue_trial(params)
    else:
        info = None
        for _ in range(50):  # the creator sets the attribute right after creating the study
            info = handle.user_attrs.get(STUDY_ATTR)
            if info:
                break
            time.sleep(0.1)
        if not info:
            raise ConfigError(f"Study '{name}' in {shown_url(url)} was not made by ganforge tune; choose another "
                              "--study.")
        if info["identity"] != identity:
            raise ConfigError(f"{space.source} differs from the space study '{name}' began with "
                              f"({_describe_change(info['identity'], identity)}); a study keeps one space: use "
                              "another --out (or --study) for the new one.")
        check_trial_folders(out_dir, handle.get_trials(deepcopy=False), name, url)
    record = {"study": name, "storage": "default" if storage is None and url == default_url(out_dir)
              else shown_url(url), "storage_has_password": has_password(url), "space": space.source,
              "created": dt.datetime.now().isoformat(timespec="seconds"), "ganforge": __version__,
              "command": command}
    if not (out_dir / TUNE_FILE).is_file():
        (out_dir / TUNE_FILE).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    job = Job(space=space, options=options, out_dir=str(out_dir.resolve()), storage_url=url, study=name)
    return handle, job


def holds_files(folder: Path) -> bool:
    """True when ``folder`` holds any file (in it or below)."""
    try:
        return any(p.is_file() for p in folder.rglob("*"))
    except OSError:
        return True  # unreadable: treat as taken


def check_trial_folders(out_dir: Path, trials: list[Any], name: str, url: str) -> None:
    """Refuse to run when ``OUT/trials`` holds trial folders the study does not know as its own.

    Trial ``N`` runs in ``OUT/trials/trial-NNNN``; a study whose storage was
    lost (``study.db`` deleted) or swapped (``tune.json`` edited) starts again
    at trial 0 and would run into, and overwrite, the folders of the trials it
    no longer knows. A folder is the study's own when a trial of the study
    records it as its run folder (or records one of the same name that no
    longer exists: the study's folder was moved with its storage).

    Raises:
        ConfigError: naming the first such folder and the fix.
    """
    folder = out_dir / "trials"
    if not folder.is_dir():
        return
    known, moved = set(), set()
    for t in trials:
        run_dir = t.user_attrs.get("run_dir")
        if run_dir:
            known.add(os.path.realpath(run_dir))
            if not os.path.exists(run_dir):
                moved.add(Path(run_dir).name)
    strangers = [p for p in sorted(folder.glob("trial-*")) if p.is_dir() and os.path.realpath(p) not in known
                 and p.name not in moved and holds_files(p)]
    if not strangers:
        return
    what = (f"{strangers[0]} holds a trial run" if len(strangers) == 1 else
            f"{strangers[0]} and {len(strangers) - 1} more trial folders hold trial runs")
    raise ConfigError(f"{what} that study '{name}' in {shown_url(url)} does not know (was {out_dir / 'study.db'} "
                      f"deleted, or the storage in {out_dir / TUNE_FILE} changed?); ganforge will not overwrite "
                      f"{'it' if len(strangers) == 1 else 'them'}: restore the study's storage, or choose another "
                      "--out for a new study.")


def open_for_report(out_dir: Path, storage: str | None, study: str | None) -> Any:
    """Load the study of ``out_dir`` (or the given storage and study) for a report."""
    optuna = require_optuna()
    if not (out_dir / TUNE_FILE).is_file() and (storage is None or study is None):
        raise ConfigError(f"{out_dir} holds no ganforge tune study (no {TUNE_FILE}); pass the --out folder of a "
                          "'ganforge tune' command, or --storage and --study.")
    url, name = resolve_target(out_dir, storage, study)
    store = open_storage(url, heartbeat=0, flag="--storage" if storage else f"{out_dir / TUNE_FILE}")
    try:
        return optuna.load_study(study_name=name, storage=store)
    except KeyError:
        raise ConfigError(f"No study named '{name}' in {shown_url(url)}.") from None


# -- slots and retries -------------------------------------------------------------------------------


def wants_trial(study: Any, trials: int) -> bool:
    """True while a trial should start: a lost trial is queued again, or fewer than ``trials`` slots are used."""
    optuna = require_optuna()
    waiting = optuna.trial.TrialState.WAITING
    used = 0
    for t in study.get_trials(deepcopy=False):
        if "retry_of" in t.user_attrs:
            if t.state == waiting:
                return True
        elif t.state != waiting:
            used += 1
    return used < trials


def retry(study: Any, trial: Any, reason: str) -> bool:
    """Queue ``trial`` (a lost one) again with the same parameters and run folder; False once retried enough."""
    optuna = require_optuna()
    retries = int(trial.user_attrs.get("retries", 0))
    if retries >= MAX_RETRIES:
        return False
    if any(t.user_attrs.get("retry_of") == trial.number for t in study.get_trials(deepcopy=False)):
        return True  # someone queued it already
    attrs_ = {"retry_of": trial.number, "retries": retries + 1, "retry_reason": reason}
    if "run_dir" in trial.user_attrs:
        attrs_["run_dir"] = trial.user_attrs["run_dir"]
    study.add_trial(optuna.trial.create_trial(state=optuna.trial.TrialState.WAITING, params=trial.params,
                                              distributions=trial.distributions, user_attrs=attrs_))
    return True


def retry_stale(study: Any, trial: Any) -> None:
    """Heartbeat callback: a trial silent for two heartbeats was marked failed; queue it again."""
    retry(study, trial, "no heartbeat: its worker or machine stopped")


def fail_lost(study: Any, storage: Any, reason: Any = None, pid: int | None = None) -> list[int]:
    """Mark failed (and queue again) the running trials of this machine whose worker process is gone.

    Args:
        study: The study.
        storage: Its storage.
        reason: The error to record (default: the worker process no longer runs).
        pid: Only this worker's trials (which the caller knows died); None: every
            trial whose process is not alive.

    Returns:
        The numbers of the trials marked failed.
    """
    optuna = require_optuna()
    host, failed = this_host(), []
    study_id = storage.get_study_id_from_name(study.study_name)
    for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
        worker = t.user_attrs.get("worker") or {}
        if worker.get("host") != host or worker.get("pid") in (None, os.getpid()):
            continue
        if (pid is not None and worker["pid"] != pid) or (pid is None and pid_alive(worker["pid"])):
            continue
        why = reason or f"its worker process {worker['pid']} no longer runs"
        trial_id = storage.get_trial_id_from_study_id_trial_number(study_id, t.number)
        try:
            storage.set_trial_user_attr(trial_id, "error", why)
            if not storage.set_trial_state_values(trial_id, optuna.trial.TrialState.FAIL):
                continue
        except optuna.exceptions.UpdateFinishedTrialError:
            continue  # it ended (or someone else marked it) meanwhile
        retry(study, storage.get_trial(trial_id), why)
        failed.append(t.number)
    return failed
