"""Real studies on grid25: two commands and workers on one study, pruning, failures, kills, resuming, Ctrl-C, the best settings."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import threading
import time

import pytest

optuna = pytest.importorskip("optuna", reason="ganforge tune needs Optuna: pip install 'ganforge[tune]'")

from tune_helpers import (  # noqa: E402
    FIXED,
    GOOD_LR,
    HOPELESS_LR,
    cli,
    cli_env,
    make_space,
    write_space,
)

import ganforge  # noqa: E402
from ganforge.cli import main  # noqa: E402
from ganforge.config import TrainConfig  # noqa: E402
from ganforge.errors import ConfigError  # noqa: E402
from ganforge.registry import DISABLE_AUTOLOAD_ENV  # noqa: E402
from ganforge.training.threads import THREADS_ENV  # noqa: E402
from ganforge.tune.objective import ERROR_FILE, TRIAL_FILE, EvaluationReporter  # noqa: E402
from ganforge.tune.spacefile import load_space  # noqa: E402
from ganforge.tune.storage import open_storage  # noqa: E402
from helpers import wait_for  # noqa: E402  (tests/helpers.py; tests/ is on sys.path)

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

#: Prunes a trial whose first evaluation (step 20) has reverse_kl above 3: the hopeless learning rate's log 25.
THRESHOLD = {"pruner": "threshold", "pruner_options": {"upper": 3.0, "interval_steps": 1000}}
CONFLICT = "IncompatibleError: Trick 'one_sided_label_smoothing' cannot be combined with 'soft_labels'; enable " \
           "only one of them."


def load(out_dir, url=None, name=None):
    """The study in ``out_dir`` (its default SQLite storage, or ``url``), as a fresh reader sees it."""
    storage = open_storage(url or f"sqlite:///{out_dir / 'study.db'}", heartbeat=0)
    return optuna.load_study(study_name=name or out_dir.name, storage=storage)


@pytest.fixture(scope="module")
def shared(tmp_path_factory):
    """One study in one SQLite file, run by two commands.

    Command A (this process, 2 worker processes, --trials 4) starts it with three enqueued trials: 0 trains well,
    1 is hopeless (pruned), 2 combines conflicting tricks (fails). Once trial 0 has evaluated step 20 the test
    kills its worker with SIGKILL (A's other worker has created trial 3 by then) and starts command B (a
    subprocess, --trials 6) on the same storage and study.
    """
    root = tmp_path_factory.mktemp("tune")
    url = f"sqlite:///{root / 'shared.db'}"
    # 1200 steps: long enough after step 20 that trial 0 is still running when the test kills it, even on a busy
    # machine (with 400, trial 0 once finished 3 s after trial 3 appeared, between two polls).
    space = make_space(fixed={**FIXED, "steps": 1200, "checkpoint_every": 20}, tune={"workers": 2, **THRESHOLD},
                       enqueue=[{"g_optim.lr": GOOD_LR, "tricks": []}, {"g_optim.lr": HOPELESS_LR, "tricks": []},
                                {"g_optim.lr": GOOD_LR, "tricks": ["soft_labels", "one_sided_label_smoothing"]}])
    path = write_space(root / "space.toml", space)
    result: dict = {}

    def command_a():
        try:
            result["a"] = ganforge.tune(path, trials=4, out=root / "a", storage=url, study="shared", progress=False)
        except BaseException as exc:  # noqa: BLE001 - shown by the test below
            result["a"] = exc

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(DISABLE_AUTOLOAD_ENV, "1")
        mp.delenv(THREADS_ENV, raising=False)  # the tests' one-thread setting: A's workers must get it from A
        thread = threading.Thread(target=command_a)
        thread.start()
        b = None
        try:
            watched = []  # one reader for the whole wait: opening the storage at every poll is slow on a busy machine

            def trial_0_past_step_20():  # and A's other worker has moved on to trial 3
                if not (root / "a" / "tune.json").is_file():
                    return None
                if not watched:
                    watched.append(load(root, url, "shared"))
                trials = watched[0].get_trials(deepcopy=False)
                if not trials:
                    return None
                ready = trials[0].state.name == "RUNNING" and 20 in trials[0].intermediate_values
                return trials[0] if ready and len(trials) >= 4 else None

            victim = wait_for(trial_0_past_step_20)
            os.kill(victim.user_attrs["worker"]["pid"], signal.SIGKILL)
            # Still running, or already marked failed by command A, which polls its workers every 0.2 s.
            after = load(root, url, "shared").trials[0]
            assert after.state.name == "RUNNING" or (
                after.state.name == "FAIL" and "error" in after.user_attrs), \
                f"trial 0 ended before the kill: {after.state.name}, {after.user_attrs.get('error')}"
            b = subprocess.run(cli("tune", str(path), "--storage", url, "--study", "shared", "--out",
                                   str(root / "b"), "--trials", "6"), env=cli_env(), capture_output=True, text=True,
                               timeout=300)
        finally:
            thread.join(timeout=300)
    assert not isinstance(result.get("a"), BaseException), result.get("a")
    assert b.returncode == 0, b.stderr
    report = ganforge.tune(report=root / "a", progress=False)  # after both commands: every trial finished
    return root, url, victim, b, report


@pytest.mark.slow
def test_two_workers_run_trials_in_their_own_processes_with_one_thread(shared):
    root, url, *_ = shared
    trials = load(root, url, "shared").get_trials()
    by_a = [t.user_attrs["worker"] for t in trials[:4]]  # trials 0-3: A's workers (B started after trial 3 existed)
    assert len({w["pid"] for w in by_a}) == 2 and os.getpid() not in {w["pid"] for w in by_a}
    trained = [t.user_attrs["threads"] for t in trials[:4] if "threads" in t.user_attrs]  # runs that reached fit's end
    assert trained and all(note == f"1 CPU thread (from {THREADS_ENV})" for note in trained), trained
    assert [t.state.name for t in trials[:3]] == ["FAIL", "PRUNED", "FAIL"]  # 0 was killed (see below)
    for t in trials:
        if "retry_of" not in t.user_attrs:
            assert t.user_attrs["run_dir"].endswith(os.path.join("trials", f"trial-{t.number:04d}"))


def test_a_pruned_trial_keeps_its_run_folder_and_says_so(shared):
    root, url, _, _, report = shared
    pruned = load(root, url, "shared").trials[1]
    assert pruned.intermediate_values == {20: pytest.approx(3.2188758, abs=1e-6)}  # log 25: no sample near a mode
    note = "pruned at step 20 by the threshold pruner (reverse_kl 3.219); its run folder is kept"
    assert pruned.user_attrs["pruned"] == note
    run = root / "a" / "trials" / "trial-0001"
    assert (run / "checkpoints" / "step_0000020.pt").is_file()  # stopped like any run: a checkpoint to resume
    saved = json.loads((run / TRIAL_FILE).read_text())
    assert (saved["state"], saved["step"], saved["note"]) == ("PRUNED", 20, note)
    assert report.rows[1]["note"] == note


@pytest.mark.slow
def test_a_failing_trial_is_marked_failed_and_the_study_goes_on(shared):
    root, url, _, _, report = shared
    failed = load(root, url, "shared").trials[2]
    assert failed.user_attrs["error"] == CONFLICT
    assert CONFLICT in (root / "a" / "trials" / "trial-0002" / ERROR_FILE).read_text()  # with its traceback
    assert report.rows[2]["state"] == "FAIL" and report.rows[2]["note"] == CONFLICT


def test_a_killed_worker_s_trial_fails_and_runs_again_in_its_folder(shared):
    root, url, victim, _, report = shared
    trials = load(root, url, "shared").get_trials()
    lost, pid = trials[0], victim.user_attrs["worker"]["pid"]
    assert lost.state.name == "FAIL"
    # command A sees its worker die (or another worker finds the process gone first): either marks it failed
    assert lost.user_attrs["error"] in (f"its worker process {pid} died (killed by SIGKILL)",
                                        f"its worker process {pid} no longer runs")
    retried = [t for t in trials if t.user_attrs.get("retry_of") == 0]
    assert [t.state.name for t in retried] == ["COMPLETE"]
    assert retried[0].params == lost.params
    assert retried[0].user_attrs["run_dir"] == lost.user_attrs["run_dir"] == str(root / "a" / "trials" / "trial-0000")
    assert report.rows[0]["note"] == f"{lost.user_attrs['error']}; queued again as trial {retried[0].number}"


def test_two_commands_share_one_study_in_one_sqlite_file(shared):
    root, url, _, b, report = shared
    trials = load(root, url, "shared").get_trials()
    slots = [t for t in trials if "retry_of" not in t.user_attrs]
    assert len(slots) == 6 and len(trials) == 7  # one lock beside shared.db: neither command overshoots
    by_command = [t.user_attrs["run_dir"].split(os.sep)[-3] for t in slots]
    assert by_command.count("a") == 4 and by_command.count("b") == 2
    assert f"Study 'shared' ({url}): " in b.stderr
    assert json.loads((root / "b" / "tune.json").read_text())["storage"] == url
    assert sum(report.counts().values()) == 7


def test_the_report_files(shared):
    root, url, _, _, report = shared
    folder = root / "a" / "report"
    good = next(t for t in load(root, url, "shared").trials if t.user_attrs.get("retry_of") == 0)
    assert good.value == min(good.intermediate_values.values())  # the value is the run's best evaluation
    assert good.user_attrs["best_step"] == min(good.intermediate_values, key=good.intermediate_values.get)
    rows = list(csv.DictReader((folder / "trials.csv").open()))
    assert [r["trial"] for r in rows] == [str(i) for i in range(7)]
    assert [r["state"] for r in rows[:3]] == ["FAIL", "PRUNED", "FAIL"]
    assert float(rows[0]["g_optim.lr"]) == GOOD_LR and rows[0]["tricks"] == "[]"
    assert rows[2]["tricks"] == '["soft_labels", "one_sided_label_smoothing"]'
    assert float(rows[1]["value"]) == pytest.approx(3.2188758, abs=1e-6) and float(rows[1]["seconds"]) > 0
    md = (folder / "trials.md").read_text()
    assert "| trial | state | reverse_kl | step | tricks | g_optim.lr | time | note |" in md
    assert f"| 2 | FAIL |  |  | soft_labels+one_sided_label_smoothing | {GOOD_LR:.4g} |" in md
    assert (folder / "history.png").stat().st_size > 1000
    assert (folder / "importances.png").is_file() == (report.counts().get("COMPLETE", 0) >= 2)
    assert report.best is not None and report.best["state"] == "COMPLETE"


@pytest.mark.slow
def test_the_exported_best_settings_train_as_they_are(shared, tmp_path, monkeypatch):
    root, *_, report = shared
    best_toml = root / "a" / "report" / "best.toml"
    settings = tomllib.loads(best_toml.read_text())
    assert "out_dir" not in settings and settings["device"] == "cpu"
    assert TrainConfig.from_dict(settings) == TrainConfig.from_dict(
        {k: v for k, v in report.best_config.items() if k not in ("out_dir", "overwrite", "progress")
         and v is not None})
    monkeypatch.chdir(tmp_path)
    assert main(["train", "--config", str(best_toml), "--out", "again", "--no-progress"]) == 0
    run = json.loads((tmp_path / "again" / "config.json").read_text())
    assert run["g_optim"] == report.best_config["g_optim"] and run["tricks"] == report.best_config["tricks"]
    assert (tmp_path / "again" / "checkpoints" / "best.pt").is_file()


def test_report_command_prints_the_table(shared, capsys):
    root = shared[0]
    out = root / "a"
    assert main(["tune", "--report", str(out)]) == 0
    printed = capsys.readouterr().out
    lines = printed.splitlines()
    assert lines[0].split() == ["trial", "state", "reverse_kl", "step", "tricks", "g_optim.lr", "time", "note"]
    assert [line.split()[:2] for line in lines[2:5]] == [["0", "FAIL"], ["1", "PRUNED"], ["2", "FAIL"]]
    assert f"Wrote {out / 'report' / 'history.png'}" in printed


def test_resuming_continues_the_study_and_the_median_pruner_prunes(tmp_path):
    out = tmp_path / "study"
    space = make_space(tune={"pruner": "median", "pruner_options": {"n_startup_trials": 1}},
                       enqueue=[{"g_optim.lr": GOOD_LR, "tricks": []}, {"g_optim.lr": HOPELESS_LR, "tricks": []}])
    first = ganforge.tune(space, trials=1, out=out, progress=False)
    assert [r["state"] for r in first.rows] == ["COMPLETE", "WAITING"]  # the second enqueued trial waits its turn
    second = ganforge.tune(space, trials=2, out=out, progress=False)
    assert [r["state"] for r in second.rows] == ["COMPLETE", "PRUNED"]
    assert second.rows[0] == {**first.rows[0], "note": ""}  # trial 0 was not run again
    assert second.rows[1]["note"] == ("pruned at step 20 by the median pruner (reverse_kl 3.219); its run folder "
                                      "is kept")
    third = ganforge.tune(space, trials=2, out=out, progress=False)  # nothing left to run
    assert len(third.rows) == 2
    changed = make_space(search={"g_optim.lr": {"type": "float", "low": 1e-4, "high": 0.5, "log": True}})
    with pytest.raises(ConfigError) as info:
        ganforge.tune(changed, trials=3, out=out, progress=False)
    assert str(info.value) == ("<mapping> differs from the space study 'study' began with ([search] g_optim.lr, "
                               "[search] tricks); a study keeps one space: use another --out (or --study) for the "
                               "new one.")


def test_ctrl_c_stops_a_trial_which_continues_from_its_checkpoint(tmp_path, monkeypatch):
    out = tmp_path / "study"
    space = make_space(enqueue=[{"g_optim.lr": GOOD_LR, "tricks": []}])
    original = EvaluationReporter.on_evaluate

    def ctrl_c_at_step_40(self, trainer, record):
        original(self, trainer, record)
        if trainer.step == 40:
            os.kill(os.getpid(), signal.SIGINT)  # as a terminal's Ctrl-C: the Trainer stops after this step

    monkeypatch.setattr(EvaluationReporter, "on_evaluate", ctrl_c_at_step_40)
    with pytest.raises(KeyboardInterrupt):
        ganforge.tune(space, trials=1, out=out, progress=False)
    lost, queued = load(out).trials
    assert lost.state.name == "FAIL"
    assert lost.user_attrs["interrupted"] == "interrupted at step 40 (received SIGINT)"
    assert (queued.state.name, queued.user_attrs["retry_of"]) == ("WAITING", 0)
    assert queued.params == lost.params
    monkeypatch.setattr(EvaluationReporter, "on_evaluate", original)
    report = ganforge.tune(space, trials=1, out=out, progress=False)
    lost, done = load(out).trials
    assert done.state.name == "COMPLETE"
    assert done.user_attrs["run_dir"] == lost.user_attrs["run_dir"] == str(out / "trials" / "trial-0000")
    assert sorted(done.intermediate_values) == [20, 40, 60]  # 20 and 40 replayed from the resumed run
    assert done.intermediate_values[40] == pytest.approx(lost.intermediate_values[40])
    steps = [json.loads(line)["step"] for line in (out / "trials" / "trial-0000" / "metrics.jsonl").open()]
    assert steps == [20, 20, 40, 40, 60, 60]  # one run: losses and evaluation at 20, 40 (before), 60 (after)
    assert [r["note"] for r in report.rows] == ["interrupted at step 40 (received SIGINT); queued again as trial 1",
                                                "retry of trial 0"]


@pytest.mark.filterwarnings("ignore:Heartbeat of storage is supposed to be used with Study.optimize")
def test_a_trial_silent_past_its_heartbeat_is_failed_and_run_again(tmp_path):
    """A trial of another machine whose heartbeat stopped (grace: two 1 s heartbeats) is failed and queued again."""
    out = tmp_path / "study"
    space = make_space(tune={"heartbeat": 1}, enqueue=[{"g_optim.lr": GOOD_LR, "tricks": []}])
    ganforge.tune(space, trials=1, out=out, progress=False)
    storage = open_storage(f"sqlite:///{out / 'study.db'}", heartbeat=1)
    study = optuna.load_study(study_name="study", storage=storage)
    checked = load_space(space)
    study.enqueue_trial(checked.params[0].to_params([]) | checked.params[1].to_params(GOOD_LR))
    phantom = study.ask()  # as a worker on another machine would (with those parameters), which then died
    checked.trial_config(lambda p: p.suggest(phantom))
    phantom.set_user_attr("worker", {"host": "another-machine/0", "pid": 1, "index": 0})
    study_id = storage.get_study_id_from_name("study")
    storage.record_heartbeat(storage.get_trial_id_from_study_id_trial_number(study_id, phantom.number))
    time.sleep(3.2)  # SQLite's clock counts whole seconds: 3 of them are surely more than the 2 s grace
    report = ganforge.tune(space, trials=2, out=out, progress=False)
    lost = load(out).trials[phantom.number]
    assert lost.state.name == "FAIL" and "error" not in lost.user_attrs
    again = [t for t in load(out).trials if t.user_attrs.get("retry_of") == phantom.number]
    assert [t.state.name for t in again] == ["COMPLETE"] and again[0].params == lost.params, again[0].user_attrs
    assert again[0].user_attrs["retry_reason"] == "no heartbeat: its worker or machine stopped"
    assert report.rows[phantom.number]["note"] == (f"no heartbeat: its worker or machine stopped; queued again as "
                                                   f"trial {again[0].number}")
    assert len(report.rows) == 3  # two slots: trial 0, and the lost trial run again
