"""ganforge tune under a careful user and an attacker (issue 24): isolated workers, no password on disk, trial
folders never overwritten by a study that does not own them, workers that stop with their command."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

optuna = pytest.importorskip("optuna", reason="ganforge tune needs Optuna: pip install 'ganforge[tune]'")

import ganforge  # noqa: E402
from ganforge.cli import main  # noqa: E402
from ganforge.errors import ConfigError  # noqa: E402
from ganforge.registry import DISABLE_AUTOLOAD_ENV  # noqa: E402
from ganforge.tune.objective import EvaluationReporter  # noqa: E402
from ganforge.tune.storage import open_storage  # noqa: E402
from helpers import wait_for  # noqa: E402  (tests/helpers.py; tests/ is on sys.path)

#: Tiny trials: 32-unit MLPs on grid25, 60 steps, evaluated every 20 (about a second each).
FIXED = {"data": "grid25", "steps": 60, "batch_size": 32, "eval_every": 20, "eval_samples": 300, "log_every": 20,
         "sample_every": 0, "checkpoint_every": 0, "device": "cpu", "gen_options": {"hidden": [32]},
         "disc_options": {"hidden": [32]}, "d_optim": {"lr": 2e-3}}


def space(**fixed) -> dict:
    """A space searching only the generator's learning rate (in a range that trains), two trials."""
    return {"fixed": {**FIXED, **fixed}, "search": {"g_optim.lr": {"type": "float", "low": 1e-3, "high": 3e-3}},
            "tune": {"trials": 2, "heartbeat": 60}}


def space_file(path: Path, **fixed) -> Path:
    """The same space as a TOML file (for the command line)."""
    from ganforge.tune.export import dumps_toml

    path.write_text(dumps_toml(space(**fixed)), encoding="utf-8")
    return path


def trials_of(url: str, name: str) -> list:
    return optuna.load_study(study_name=name, storage=open_storage(url, heartbeat=0)).get_trials(deepcopy=False)


def alive(pid: int) -> bool:
    """True while process ``pid`` runs (a zombie, dead but not yet reaped, counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


# -- S23: a module planted in the working folder never runs in a worker ----------------------------------------


@pytest.mark.slow
def test_workers_import_nothing_from_the_working_folder(tmp_path, monkeypatch):
    work, ran = tmp_path / "work", tmp_path / "planted-module-ran"
    work.mkdir()
    planted = f"import pathlib\npathlib.Path({str(ran)!r}).write_text(__name__)\nraise ImportError('planted')\n"
    for name in ("pluggy.py", "numpy.py", "optuna.py"):
        (work / name).write_text(planted)
    (work / "ganforge").mkdir()
    (work / "ganforge" / "__init__.py").write_text(planted)
    monkeypatch.chdir(work)  # the folder the user runs ganforge tune from
    monkeypatch.setenv(DISABLE_AUTOLOAD_ENV, "1")
    out = tmp_path / "out"
    report = ganforge.tune(space(), workers=2, out=out, progress=False)
    assert not ran.exists(), f"{ran.read_text()}.py from the working folder ran in a worker"
    trials = trials_of(f"sqlite:///{out / 'study.db'}", "out")
    assert [t.state.name for t in trials] == ["COMPLETE", "COMPLETE"]
    assert os.getpid() not in {t.user_attrs["worker"]["pid"] for t in trials}  # run by the worker processes
    assert report.best is not None


# -- S24: the storage password reaches no file ---------------------------------------------------------------

SECRET = "s3cret-pw-42"

#: An SQLAlchemy dialect for an SQLite file behind a server-style URL (user, password, host: all ignored), so a
#: URL carrying a password works here without a database server. Found through its entry point, by this process
#: and by the workers alike (its folder is on PYTHONPATH).
DIALECT = '''
from sqlalchemy.dialects.sqlite.pysqlite import SQLiteDialect_pysqlite
from sqlalchemy.engine import make_url


class PasswordSQLite(SQLiteDialect_pysqlite):
    supports_statement_cache = True

    def create_connect_args(self, url):
        return super().create_connect_args(make_url("sqlite:///" + url.database))
'''


def password_dialect(folder: Path) -> None:
    info = folder / "pwsqlite-0.dist-info"
    info.mkdir(parents=True)
    (folder / "pwsqlite_dialect.py").write_text(DIALECT)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: pwsqlite\nVersion: 0\n")
    (info / "entry_points.txt").write_text("[sqlalchemy.dialects]\nsqlite.pwsqlite = pwsqlite_dialect:PasswordSQLite\n")


@pytest.mark.slow
def test_a_storage_password_reaches_no_file_ganforge_writes(tmp_path, monkeypatch, capsys):
    site = tmp_path / "site"
    password_dialect(site)
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setenv("PYTHONPATH", str(site))  # the workers find the dialect there too
    monkeypatch.setenv(DISABLE_AUTOLOAD_ENV, "1")
    (tmp_path / "db").mkdir()
    url = f"sqlite+pwsqlite://me:{SECRET}@localhost/{tmp_path / 'db' / 'study.db'}"
    out = tmp_path / "out"
    argv = ["tune", str(space_file(tmp_path / "space.toml")), "--storage", url, "--workers", "2", "--out", str(out)]
    monkeypatch.setattr(sys, "argv", ["ganforge", *argv])  # as the ganforge command: tune.json records it
    seen: dict[str, str] = {}
    running = threading.Event()
    running.set()

    def watch() -> None:  # every file under OUT, as often as it can, while the study runs
        while running.is_set():
            for path in list(out.rglob("*")) if out.is_dir() else []:
                try:
                    if path.is_file() and SECRET.encode() in path.read_bytes():
                        seen.setdefault(str(path.relative_to(out)), "holds the password")
                except OSError:
                    pass  # removed meanwhile
            time.sleep(0.02)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        assert main(argv) == 0
    finally:
        running.clear()
        watcher.join(timeout=30)
    captured = capsys.readouterr()
    assert SECRET not in captured.out + captured.err
    written = [p for p in out.rglob("*") if p.is_file()]
    assert not [p for p in written if SECRET.encode() in p.read_bytes()]
    assert seen == {}, f"files under {out} held the password while the study ran: {seen}"
    assert not list(out.glob("tune-job-*"))
    record = json.loads((out / "tune.json").read_text())
    assert record["storage"] == f"sqlite+pwsqlite://me:***@localhost/{tmp_path / 'db' / 'study.db'}"
    assert shlex.split(record["command"])[-6:] == ["--storage", record["storage"], "--workers", "2", "--out", str(out)]
    assert [t.state.name for t in trials_of(url, "out")] == ["COMPLETE", "COMPLETE"]


def test_the_recorded_command_hides_the_password_in_every_spelling(monkeypatch):
    from ganforge.tune import _command

    url = f"postgresql://me:{SECRET}@db-host/ganforge"
    for argv, shown in ((["--storage", url], ["--storage", "postgresql://me:***@db-host/ganforge"]),
                        ([f"--storage={url}"], ["--storage=postgresql://me:***@db-host/ganforge"])):
        monkeypatch.setattr(sys, "argv", ["/usr/bin/ganforge", "tune", "space.toml", *argv, "--workers", "2"])
        assert _command() == shlex.join(["ganforge", "tune", "space.toml", *shown, "--workers", "2"])


# -- F11, S22: a study never overwrites trial folders it does not own -----------------------------------------


def files_of(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("how", ["study.db deleted", "tune.json names another storage"])
def test_a_study_that_lost_its_storage_refuses_to_overwrite_finished_trials(tmp_path, how):
    out = tmp_path / "out"
    ganforge.tune(space(), trials=1, out=out, progress=False)
    run = out / "trials" / "trial-0000"
    before = files_of(run)
    assert "checkpoints/best.pt" in before
    if how == "study.db deleted":
        (out / "study.db").unlink()
        storage = f"sqlite:///{out / 'study.db'}"
    else:
        storage = f"sqlite:///{tmp_path / 'other.db'}"
        record = json.loads((out / "tune.json").read_text())
        (out / "tune.json").write_text(json.dumps({**record, "storage": storage}))
    with pytest.raises(ConfigError) as info:
        ganforge.tune(space(), trials=2, out=out, progress=False)
    assert str(info.value) == (
        f"{run} holds a trial run that study 'out' in {storage} does not know (was {out / 'study.db'} "
        f"deleted, or the storage in {out / 'tune.json'} changed?); ganforge will not overwrite it: restore the "
        "study's storage, or choose another --out for a new study.")
    assert files_of(run) == before  # the finished run is untouched
    assert not (out / "trials" / "trial-0001").exists()  # and no trial started
    assert not Path(storage[len("sqlite:///"):]).exists()  # the empty storage just made for the refusal is gone


def test_a_finished_run_that_appears_in_a_new_trial_s_folder_is_kept_and_the_trial_fails(tmp_path, monkeypatch):
    """A run that lands in the next trial's folder while the study runs (another command, a copy) is not overwritten."""
    stranger = tmp_path / "stranger"
    ganforge.Trainer(ganforge.TrainConfig.from_dict({**FIXED, "steps": 20, "out_dir": str(stranger),
                                                     "progress": False})).fit()
    out = tmp_path / "out"
    target = out / "trials" / "trial-0001"
    original = EvaluationReporter.on_evaluate

    def copy_in(self, trainer, record):  # during trial 0, after the check made before any trial
        original(self, trainer, record)
        if not target.exists():
            shutil.copytree(stranger, target)

    monkeypatch.setattr(EvaluationReporter, "on_evaluate", copy_in)
    before = files_of(stranger)
    report = ganforge.tune(space(), trials=2, out=out, progress=False)
    assert files_of(target) == before
    assert [r["state"] for r in report.rows] == ["COMPLETE", "FAIL"]
    assert report.rows[1]["note"] == (f"RunDirectoryError: {target} already holds files that trial 1 of study 'out' "
                                      "did not write; ganforge will not overwrite them: move them away, or choose "
                                      "another --out.")


# -- F9: workers stop with their command; a re-run waits for them ---------------------------------------------


@pytest.mark.slow
def test_killing_the_command_stops_its_workers_and_a_rerun_waits_for_them(tmp_path, helpers, capsys):
    out = tmp_path / "out"
    path = space_file(tmp_path / "space.toml", steps=200, checkpoint_every=20)
    url = f"sqlite:///{out / 'study.db'}"
    with open(tmp_path / "first.log", "w") as log:
        first = subprocess.Popen(helpers.cli_command("tune", str(path), "--trials", "4", "--workers", "2", "--out",
                                                     str(out)), env=helpers.cli_env(), cwd=tmp_path, stderr=log)
    reader: list = []

    def two_trials_past_a_checkpoint():
        if not (out / "tune.json").is_file():
            return None
        if not reader:
            reader.append(optuna.load_study(study_name="out", storage=open_storage(url, heartbeat=0)))
        trials = reader[0].get_trials(deepcopy=False)
        ready = [t for t in trials if t.state.name == "RUNNING" and 20 in t.intermediate_values]
        return trials if len(ready) == 2 else None

    try:
        trials = wait_for(two_trials_past_a_checkpoint, timeout=180)
    finally:
        workers = [t.user_attrs["worker"]["pid"] for t in trials_of(url, "out") if "worker" in t.user_attrs]
        for pid in workers:
            os.kill(pid, signal.SIGSTOP)  # frozen, so the re-run below surely finds them still running
        first.kill()
        first.wait()
    assert len(trials) == 2 and len(set(workers)) == 2
    rerun: dict = {}
    thread = threading.Thread(target=lambda: rerun.setdefault("report", ganforge.tune(path, trials=2, out=out)))
    thread.start()
    try:
        time.sleep(2)
        assert thread.is_alive(), "the re-run ended while trials of the killed command still ran"
        assert not (out / "report").exists()
        assert len(trials_of(url, "out")) == 2  # it started no trial either
    finally:
        for pid in workers:
            os.kill(pid, signal.SIGCONT)
    wait_for(lambda: not any(alive(pid) for pid in workers), timeout=30)  # they noticed their command is gone
    thread.join(timeout=120)
    assert not thread.is_alive()
    trials = trials_of(url, "out")
    # The two trials stopped at a step, saved a checkpoint, and were queued again; the killed command's workers
    # started no other trial (trials 2 and 3 are the retries, run by the re-run in this process).
    assert [t.state.name for t in trials] == ["FAIL", "FAIL", "COMPLETE", "COMPLETE"]
    assert sorted(t.user_attrs.get("retry_of", -1) for t in trials) == [-1, -1, 0, 1]  # a retry of each
    assert all(t.user_attrs["interrupted"].endswith("(received SIGTERM)") for t in trials[:2])
    assert {t.user_attrs["worker"]["pid"] for t in trials[2:]} == {os.getpid()}
    err = capsys.readouterr().err
    assert "Waiting for trials 0, 1 of an earlier command" in err
    assert rerun["report"].counts() == {"FAIL": 2, "COMPLETE": 2}
