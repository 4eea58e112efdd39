"""Workers: processes that each run trials one after another against the shared storage.

``--workers 1`` runs the trials in the command's own process. ``--workers W``
starts W fresh, isolated Python processes (``python -I -c ...``: nothing is
imported from the working folder, see :func:`worker_path`; the job, storage
password included, comes through a pipe on stdin and is never written to a
file; a script calling :func:`ganforge.tune` needs no
``if __name__ == "__main__"`` guard), each with one CPU thread, or one GPU
each when the space's device is ``auto``/``cuda`` and several are present.
The command watches them: a worker that dies has its running trial marked
failed and queued again, and a new worker takes its place. Being fresh
processes, workers see installed plugins (entry points) but not one
registered by hand with :func:`~ganforge.register_plugin`. The command keeps
each worker's stdin open: when the command dies, even by SIGKILL, its workers
see the end of the pipe and stop as on SIGTERM; a new command first waits for
such workers' trials to stop (:func:`await_orphans`).

Before starting a trial a worker takes a lock (an ``flock`` on a file beside
the SQLite database, or in the output folder for a server storage), decides
whether the study still wants a trial, and lets Optuna create it; so the
workers of one machine never start more than ``--trials``. The kernel drops
the lock of a killed process. Commands on several machines sharing a server
storage have no common lock: started at the same moment, they may run one
trial each beyond ``--trials``.
"""

from __future__ import annotations

import os
import pickle
import signal
import subprocess
import sys
import threading
import time
import traceback
import warnings
from pathlib import Path
from typing import Any

from ganforge.errors import GanforgeError
from ganforge.training.threads import THREADS_ENV
from ganforge.tune.objective import Objective, say, write_trial_file
from ganforge.tune.storage import open_storage, require_optuna, sqlite_path
from ganforge.tune.study import (
    Job,
    fail_lost,
    make_pruner,
    make_sampler,
    pid_alive,
    retry_stale,
    this_host,
    wants_trial,
)

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no lock, workers may overshoot --trials by W-1
    fcntl = None  # type: ignore[assignment]

#: Exit status of a worker stopped by Ctrl-C or SIGTERM.
INTERRUPTED = 130
#: A worker that dies is replaced at most this many times per worker.
RESTARTS_PER_WORKER = 2


class Gate:
    """A lock shared by this machine's workers of one study (an ``flock``; nothing where the system has none).

    Args:
        path: The lock file (created if missing).
    """

    def __init__(self, path: str | Path | None):
        self._file = open(path, "a+") if path is not None and fcntl is not None else None  # noqa: SIM115
        self.held = False

    def acquire(self) -> None:
        if self._file is not None:
            fcntl.flock(self._file.fileno(), fcntl.LOCK_EX)
        self.held = True

    def release(self) -> None:
        if self.held and self._file is not None:
            fcntl.flock(self._file.fileno(), fcntl.LOCK_UN)
        self.held = False

    def close(self) -> None:
        self.release()
        if self._file is not None:
            self._file.close()


def gate_path(job: Job) -> Path:
    """The lock file of ``job``: beside its SQLite file, or in the output folder for a server storage."""
    db = sqlite_path(job.storage_url)
    return db.with_name(db.name + ".lock") if db is not None else Path(job.out_dir) / "tune.lock"


def worker_devices(job: Job) -> list[str | None]:
    """The device of each worker: one GPU each (round robin) when the space's device allows and several exist."""
    import torch

    workers = job.options.workers
    device = job.space.fixed.get("device", "auto")
    if workers > 1 and device in ("auto", "cuda") and torch.cuda.is_available() and torch.cuda.device_count() > 1:
        count = torch.cuda.device_count()
        return [f"cuda:{i % count}" for i in range(workers)]
    return [None] * workers


def _announce(job: Job) -> Any:
    """An Optuna callback that writes each finished trial's ``tune_trial.json`` and prints its line."""
    from ganforge.tune.report import describe, trial_row

    def callback(study: Any, trial: Any) -> None:
        row = trial_row(trial, job.space.params, job.space.metric)
        write_trial_file(trial.user_attrs.get("run_dir", ""), row)
        if job.progress:
            line = describe(row, job.space.metric)
            try:
                best = study.best_trial
                line += f"; best so far: trial {best.number} ({job.space.metric} {best.value:.4g})"
            except ValueError:
                pass
            say(line)

    return callback


def run_worker(job: Job, worker: int = 0, device: str | None = None, command: int | None = None,
               stopped: threading.Event | None = None) -> None:
    """Run trials of ``job``'s study until it has its ``trials`` (in this process).

    Raises:
        KeyboardInterrupt: after Ctrl-C or SIGTERM stopped a trial (it is queued again).
    """
    optuna = require_optuna()
    optuna.logging.set_verbosity(optuna.logging.ERROR)  # ganforge prints its own line per trial
    storage = open_storage(job.storage_url, heartbeat=job.options.heartbeat, stale_callback=retry_stale)
    before = len(optuna.load_study(study_name=job.study, storage=storage).get_trials(deepcopy=False))
    study = optuna.load_study(study_name=job.study, storage=storage, sampler=make_sampler(job.options, worker, before),
                              pruner=make_pruner(job.options))
    gate = Gate(gate_path(job))
    objective = Objective(job, worker, device, gate, command)
    callbacks = [_announce(job)]
    try:
        while True:
            if stopped is not None and stopped.is_set():
                raise KeyboardInterrupt  # the command is gone: start no new trial
            gate.acquire()
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")  # fail_stale_trials is marked experimental
                    optuna.storages.fail_stale_trials(study)
                fail_lost(study, storage)
                if not wants_trial(study, job.options.trials):
                    break
                # The objective releases the gate once Optuna has created the trial.
                study.optimize(objective, n_trials=1, catch=(Exception,), callbacks=callbacks)
            finally:
                gate.release()
    finally:
        gate.close()
        storage.remove_session()


def worker_main(worker: int, device: str | None) -> int:
    """Entry point of a worker process: one CPU thread; the exit status (130 when interrupted).

    The job (a pickled :class:`~ganforge.tune.study.Job`, storage password
    included) comes on stdin, which the command then keeps open: end of file
    means the command is gone (even killed with SIGKILL), and the worker stops
    as on SIGTERM: the running trial saves a checkpoint and is queued again,
    and no new trial starts.

    Args:
        worker: This worker's index.
        device: Its device, or None for the space's.
    """
    command = os.getppid()
    job = pickle.loads(_read_job(0))
    import torch

    torch.set_num_threads(1)
    signal.signal(signal.SIGTERM, _interrupt)  # between trials; a running trial's Trainer stops on it by itself
    stopped = threading.Event()

    def watch_command() -> None:
        try:  # the file descriptor itself: no buffered reader whose lock would block the interpreter's exit
            while os.read(0, 4096):
                pass
        except OSError:
            pass
        stopped.set()
        try:
            say(f"ganforge tune: worker {worker}: its command (process {command}) is gone; stopping")
        except (OSError, ValueError):
            pass
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch_command, name="ganforge-tune-command-watch", daemon=True).start()
    try:
        run_worker(job, worker, device, command, stopped)
    except KeyboardInterrupt:
        return INTERRUPTED
    except GanforgeError as exc:
        say(f"ganforge tune: worker {worker}: error: {exc}")
        return 1
    except BaseException:
        traceback.print_exc()
        return 1
    return 0


def _read_job(fd: int) -> bytes:
    """The job the command sent on ``fd``: its length (8 bytes, big-endian), then the pickle."""
    def exactly(n: int) -> bytes:
        chunks, left = [], n
        while left:
            chunk = os.read(fd, left)
            if not chunk:
                raise GanforgeError("the ganforge tune command ended before it sent the job to this worker")
            chunks.append(chunk)
            left -= len(chunk)
        return b"".join(chunks)

    return exactly(int.from_bytes(exactly(8), "big"))


def worker_path() -> list[str]:
    """The import path a worker adds to an isolated interpreter's: ganforge's own folder, then PYTHONPATH.

    Workers run ``python -I``: neither the working folder nor the user's site
    folder is on their path, so a ``numpy.py`` or ``pluggy.py`` where the
    command runs is never imported. This ganforge's folder comes first (the
    worker imports the same ganforge as the command), then the entries of
    ``PYTHONPATH`` as absolute paths (empty ones, which would mean the working
    folder, are dropped); installed packages and plugins come from the
    interpreter's site-packages as usual.
    """

    paths = [str(Path(__file__).resolve().parents[2])]  # the folder holding this ganforge package
    for entry in os.environ.get("PYTHONPATH", "").split(os.pathsep):
        if entry and os.path.abspath(entry) not in paths:
            paths.append(os.path.abspath(entry))
    return paths


def _spawn(data: bytes, worker: int, device: str | None) -> subprocess.Popen:
    """Start worker ``worker`` as a fresh, isolated Python process importing this ganforge; send it the job."""
    code = (f"import sys; sys.path[:0] = {worker_path()!r}; from ganforge.tune.worker import worker_main; "
            f"sys.exit(worker_main({worker}, {device!r}))")
    # One thread per worker: GANFORGE_THREADS is the answer to threads="auto" (a number in [fixed] still wins).
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", **{THREADS_ENV: "1"})
    proc = subprocess.Popen([sys.executable, "-I", "-c", code], env=env, stdin=subprocess.PIPE)
    try:
        proc.stdin.write(len(data).to_bytes(8, "big") + data)  # the job, password included, only through the pipe: never a file
        proc.stdin.flush()
    except OSError:
        pass  # it died at once: the command sees its exit status
    return proc


def await_orphans(job: Job, study: Any, storage: Any) -> None:
    """Wait until no trial of this machine runs in a worker whose ``ganforge tune`` command is gone.

    A killed command's workers notice and stop at their next step (saving a
    checkpoint, queuing the trial again); until then a new command would
    oversubscribe the cores and report trials still running. A worker silent
    past two heartbeats is failed as usual (its process number may be another
    program's by now).
    """
    optuna = require_optuna()
    host, told, checker = this_host(), False, None
    while True:
        orphans = []
        for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
            worker = t.user_attrs.get("worker") or {}
            cmd = worker.get("command")
            if (worker.get("host") == host and cmd not in (None, os.getpid()) and not pid_alive(cmd)
                    and worker.get("pid") is not None and pid_alive(worker["pid"])):
                orphans.append((t.number, worker["pid"], cmd))
        if not orphans:
            return
        if not told and job.progress:
            numbers = ", ".join(str(n) for n, _, _ in orphans)
            pids = ", ".join(str(p) for _, p, _ in orphans)
            say(f"Waiting for trial{'s' if len(orphans) > 1 else ''} {numbers} of an earlier command (process "
                f"{orphans[0][2]}, now gone) to stop: its worker{'s' if len(orphans) > 1 else ''} (process "
                f"{pids}) stop at the next step, save a checkpoint and queue the trial again.")
        told = True
        if job.options.heartbeat:
            if checker is None:
                checker = optuna.load_study(study_name=job.study, storage=open_storage(
                    job.storage_url, heartbeat=job.options.heartbeat, stale_callback=retry_stale))
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                optuna.storages.fail_stale_trials(checker)
        time.sleep(0.5)


def run_study(job: Job) -> None:
    """Run ``job`` with ``job.options.workers`` workers; return when the study has its trials.

    Raises:
        KeyboardInterrupt: after Ctrl-C (running trials stop at their next step,
            save a checkpoint and are queued again; re-run the command to continue).
        GanforgeError: when workers keep dying.
    """
    optuna = require_optuna()
    storage = open_storage(job.storage_url, heartbeat=0)
    study = optuna.load_study(study_name=job.study, storage=storage)
    await_orphans(job, study, storage)  # trials of a killed command's workers, still stopping
    if job.options.workers == 1:
        storage.remove_session()
        old_term = signal.signal(signal.SIGTERM, _interrupt) if _main_thread() else None
        try:
            run_worker(job, 0, None)
        finally:
            if old_term is not None:
                signal.signal(signal.SIGTERM, old_term)
        return
    fail_lost(study, storage)  # trials of an earlier command that was killed
    data = pickle.dumps(job)  # kept in memory: the workers get it on stdin
    devices = worker_devices(job)
    procs: dict[int, subprocess.Popen] = {}
    every: list[subprocess.Popen] = []

    def start(i: int) -> None:
        procs[i] = _spawn(data, i, devices[i])
        every.append(procs[i])

    restarts, interrupted, crashed = 0, False, []

    def forward(signum: int, frame: Any) -> None:
        nonlocal interrupted
        interrupted = True  # the workers stop: none is replaced
        for p in procs.values():
            if p.poll() is None:
                p.send_signal(signum)

    old_term = signal.signal(signal.SIGTERM, forward) if _main_thread() else None
    try:
        for i in range(job.options.workers):
            start(i)
        while procs:
            try:
                time.sleep(0.2)
                for i, p in list(procs.items()):
                    code = p.poll()
                    if code is None:
                        continue
                    del procs[i]
                    if code == 0:
                        continue
                    if code == INTERRUPTED or interrupted:
                        interrupted = True
                        continue
                    how = f"killed by {signal.Signals(-code).name}" if code < 0 else f"exit status {code}"
                    lost = fail_lost(study, storage, reason=f"its worker process {p.pid} died ({how})", pid=p.pid)
                    if job.progress:
                        which = f"; trial {', '.join(map(str, lost))} marked failed and queued again" if lost else ""
                        say(f"worker {i} (process {p.pid}) died ({how}){which}")
                    if restarts < RESTARTS_PER_WORKER * job.options.workers:
                        restarts += 1
                        start(i)
                    else:
                        crashed.append(f"worker {i}: {how}")
            except KeyboardInterrupt:
                if interrupted:  # a second Ctrl-C: stop waiting (the workers are terminated below)
                    break
                interrupted = True  # the terminal sent Ctrl-C to the workers too: wait for their checkpoints
    finally:
        if old_term is not None:
            signal.signal(signal.SIGTERM, old_term)
        for p in procs.values():  # after a second Ctrl-C or an error here: leave no worker behind
            if p.poll() is None:
                p.terminate()
                p.wait()
        for p in every:  # their end of the pipe that tells them this command runs
            try:
                p.stdin.close()
            except OSError:
                pass
        storage.remove_session()
    if interrupted:
        raise KeyboardInterrupt
    if crashed:
        raise GanforgeError(f"ganforge tune stopped: workers kept dying ({'; '.join(crashed)}); see the messages "
                            "above, then re-run the same command to continue the study.")


def _interrupt(signum: int, frame: Any) -> None:
    """SIGTERM outside a trial: stop like Ctrl-C."""
    raise KeyboardInterrupt


def _main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()
