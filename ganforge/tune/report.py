"""``ganforge tune --report DIR``: the trials table (terminal, Markdown, CSV), Optuna's pictures, the best settings.

Files written to ``DIR/report/``:

* ``trials.md`` and ``trials.csv`` -- one row per trial: parameters, metric,
  state, time, and a note (why it was pruned, failed or queued again);
* ``history.png`` and ``importances.png`` -- Optuna's optimisation history
  and parameter importances (PED-ANOVA, which needs no scikit-learn), drawn
  by Optuna's matplotlib functions (needs ``pip install 'ganforge[plot]'``);
* ``best.toml`` -- the settings of the best complete trial, which
  ``ganforge train --config DIR/report/best.toml`` trains as is.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import sys
import warnings
from pathlib import Path
from typing import Any

import attrs

from ganforge.tune.space import Param
from ganforge.tune.storage import require_optuna

REPORT_DIR = "report"
TABLE_MD = "trials.md"
TABLE_CSV = "trials.csv"
HISTORY_PNG = "history.png"
IMPORTANCES_PNG = "importances.png"
BEST_TOML = "best.toml"
#: Characters of a note shown in the terminal table (the files hold all of it).
NOTE_WIDTH = 70


@attrs.frozen
class TuneReport:
    """What ``ganforge tune`` found.

    Attributes:
        study: The study's name.
        metric: The objective metric; ``direction`` says ``minimize`` or ``maximize``.
        direction: ``"minimize"`` or ``"maximize"``.
        rows: One dict per trial, as in ``trials.csv``: ``trial``, ``state``,
            ``value`` (a complete trial's best evaluation; a pruned one's last),
            ``step`` (of that evaluation), each searched entry, ``seconds``,
            ``host`` (the machine holding its run folder), ``run_dir``, ``note``.
        best: The row of the best complete trial (None before one completes).
        best_config: Its settings (``TrainConfig.to_dict()``), None likewise.
        files: The files written, by name (``trials.md``, ``best.toml``, ...).
        notes: Why a file was not written (e.g. no matplotlib), one line each.
    """

    study: str
    metric: str
    direction: str
    rows: list[dict[str, Any]]
    best: dict[str, Any] | None
    best_config: dict[str, Any] | None
    files: dict[str, Path]
    notes: list[str]

    def counts(self) -> dict[str, int]:
        """Trials per state (``COMPLETE``, ``PRUNED``, ``FAIL``, ``RUNNING``, ``WAITING``)."""
        out: dict[str, int] = {}
        for row in self.rows:
            out[row["state"]] = out.get(row["state"], 0) + 1
        return out


def _seconds(trial: Any) -> float | None:
    if trial.datetime_start is None:
        return None
    end = trial.datetime_complete or dt.datetime.now()
    return round((end - trial.datetime_start).total_seconds(), 1)


def trial_row(trial: Any, params: tuple[Param, ...] | list[Param], metric: str,
              retried_as: int | None = None) -> dict[str, Any]:
    """One trial's line of the report (a dict; see :class:`TuneReport`)."""
    state = trial.state.name
    attrs_ = trial.user_attrs
    value, step = None, None
    if state == "COMPLETE":
        value, step = trial.value, attrs_.get("best_step")
    elif trial.intermediate_values:
        step = max(trial.intermediate_values)
        value = trial.intermediate_values[step]
    notes = []
    if "retry_of" in attrs_:
        notes.append(f"retry of trial {attrs_['retry_of']}")
    for key in ("pruned", "error", "interrupted"):
        if key in attrs_:
            notes.append(attrs_[key])
    if state == "FAIL" and not any(k in attrs_ for k in ("error", "interrupted")):
        notes.append("no heartbeat: its worker or machine stopped")
    if retried_as is not None:
        notes.append(f"queued again as trial {retried_as}")
    if state == "RUNNING":
        worker = attrs_.get("worker") or {}
        notes.append(f"running (process {worker.get('pid', '?')} on {str(worker.get('host', '?')).split('/')[0]})")
    if state == "WAITING":
        notes.append("queued")
    row: dict[str, Any] = {"trial": trial.number, "state": state, "value": value, "step": step}
    for p in params:
        row[p.key] = p.decode(trial.params)
    host = str((attrs_.get("worker") or {}).get("host", "")).split("/")[0]
    row.update(seconds=_seconds(trial), run_dir=attrs_.get("run_dir", ""), host=host, note="; ".join(notes))
    return row


def describe(row: dict[str, Any], metric: str) -> str:
    """A one-line summary of a finished trial, as the workers print it."""
    took = f" in {_duration(row['seconds'])}" if row["seconds"] is not None else ""
    if row["state"] == "COMPLETE":
        return f"trial {row['trial']} complete{took}: {metric} {row['value']:.4g} (best evaluation, step {row['step']})"
    if row["state"] == "PRUNED":
        return f"trial {row['trial']} pruned{took}: {row['note']}"
    return f"trial {row['trial']} failed{took}: {row['note']}"


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return ""
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(int(round(seconds)), 60)
    return f"{minutes} min {secs} s" if minutes < 60 else f"{minutes // 60} h {minutes % 60} min"


def _cells(row: dict[str, Any], params: list[Param], width: int | None) -> list[str]:
    value = "" if row["value"] is None else f"{row['value']:.4g}"
    note = row["note"]
    if width is not None and len(note) > width:
        note = note[: width - 3] + "..."
    return ([str(row["trial"]), row["state"], value, "" if row["step"] is None else str(row["step"])]
            + [p.show(row[p.key]) for p in params] + [_duration(row["seconds"]), note])


def _header(metric: str, params: list[Param]) -> list[str]:
    return ["trial", "state", metric, "step"] + [p.key for p in params] + ["time", "note"]


def format_table(report: TuneReport, params: list[Param]) -> str:
    """The trials as an aligned text table, by trial number (notes cut to :data:`NOTE_WIDTH` characters)."""
    header = _header(report.metric, params)
    rows = [_cells(r, params, NOTE_WIDTH) for r in report.rows]
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(header)]
    fmt = lambda cells: "  ".join(c.ljust(w) for c, w in zip(cells, widths)).rstrip()  # noqa: E731
    return "\n".join([fmt(header), fmt(["-" * w for w in widths])] + [fmt(r) for r in rows])


def _markdown(report: TuneReport, params: list[Param], storage: str, command: str | None) -> str:
    counts = report.counts()
    better = "lower" if report.direction == "minimize" else "higher"
    lines = [f"# ganforge tune: study `{report.study}`", ""]
    lines.append(f"- storage: `{storage}`")
    lines.append(f"- objective: `{report.metric}` ({better} is better), the best evaluation of each run")
    lines.append("- trials: " + ", ".join(f"{n} {s.lower()}" for s, n in sorted(counts.items())))
    if report.best is not None:
        lines.append(f"- best: trial {report.best['trial']}, {report.metric} {report.best['value']:.4g} at step "
                     f"{report.best['step']}; settings in [`{BEST_TOML}`]({BEST_TOML})")
    if command:
        lines.append(f"- command: `{command}`")
    lines.append(f"- written: {dt.datetime.now().isoformat(timespec='seconds')}")
    lines += ["", "| " + " | ".join(_header(report.metric, params)) + " |",
              "|" + "|".join("---" for _ in _header(report.metric, params)) + "|"]
    for row in report.rows:
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in _cells(row, params, None)) + " |")
    for name, title in ((HISTORY_PNG, "Optimisation history"), (IMPORTANCES_PNG, "Parameter importances")):
        if name in report.files:
            lines += ["", f"![{title}]({name})"]
    for note in report.notes:
        lines += ["", f"Note: {note}"]
    return "\n".join(lines) + "\n"


def _write_csv(report: TuneReport, params: list[Param], path: Path) -> None:
    fields = ["trial", "state", "value", "step"] + [p.key for p in params] + ["seconds", "host", "run_dir", "note"]
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=fields, extrasaction="ignore")
        writer.writeheader()
        for row in report.rows:
            writer.writerow({k: _csv_value(row.get(k)) for k in fields})


def _csv_value(value: Any) -> Any:
    """A CSV cell: lists as JSON text, None as empty, numbers in full."""
    if value is None:
        return ""
    if isinstance(value, (list, tuple, dict)):
        return json.dumps(value)
    return value


def draw_pictures(study: Any, metric: str, folder: Path) -> tuple[dict[str, Path], list[str]]:
    """Optuna's optimisation history and parameter importances as PNG files in ``folder``.

    Returns:
        The files written, by name, and a note for each picture not drawn (no
        matplotlib, too few complete trials).
    """
    try:
        import matplotlib

        if "matplotlib.pyplot" not in sys.modules:
            matplotlib.use("Agg")  # no display needed
        import matplotlib.pyplot as plt
        from optuna.visualization import matplotlib as optuna_plots
    except ImportError:
        return {}, ["pictures need matplotlib: pip install 'ganforge[plot]'"]
    optuna = require_optuna()
    complete = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    files: dict[str, Path] = {}
    notes: list[str] = []
    if not complete:
        return files, ["no picture yet: no trial has completed"]
    jobs = [(HISTORY_PNG, lambda: optuna_plots.plot_optimization_history(study, target_name=metric))]
    if len(complete) >= 2:
        evaluator = getattr(optuna.importance, "PedAnovaImportanceEvaluator", None)
        kwargs = {"evaluator": evaluator()} if evaluator is not None else {}
        jobs.append((IMPORTANCES_PNG, lambda: optuna_plots.plot_param_importances(study, target_name=metric,
                                                                                   **kwargs)))
    else:
        notes.append("parameter importances need two complete trials")
    for name, draw in jobs:
        with warnings.catch_warnings(), matplotlib.rc_context():
            warnings.simplefilter("ignore")  # Optuna marks its matplotlib functions experimental
            try:
                axes = draw()
            except Exception as exc:  # e.g. importances of a space with one value per parameter
                notes.append(f"{name} not drawn: {type(exc).__name__}: {exc}")
                continue
            fig = axes.figure
            fig.set_size_inches(8, 4.5)
            fig.savefig(folder / name, dpi=100, bbox_inches="tight")
            plt.close(fig)
        files[name] = folder / name
    return files, notes


def build_report(study: Any, out_dir: Path | None, *, storage: str = "", command: str | None = None,
                 write: bool = True) -> tuple[TuneReport, list[Param]]:
    """Read the study's trials into a :class:`TuneReport`; with ``write``, write its files to ``OUT/report``."""
    from ganforge.tune.export import write_config_toml
    from ganforge.tune.study import space_params

    metric, direction, params = space_params(study)
    trials = study.get_trials(deepcopy=False)
    retried_as = {t.user_attrs["retry_of"]: t.number for t in trials if "retry_of" in t.user_attrs}
    rows = [trial_row(t, params, metric, retried_as.get(t.number)) for t in trials]
    best_trial = None
    try:
        best_trial = study.best_trial
    except ValueError:  # no complete trial
        pass
    best = next((r for r in rows if best_trial is not None and r["trial"] == best_trial.number), None)
    best_config = best_trial.user_attrs.get("config") if best_trial is not None else None
    files: dict[str, Path] = {}
    notes: list[str] = []
    report = TuneReport(study.study_name, metric, direction, rows, best, best_config, files, notes)
    if not write or out_dir is None:
        return report, params
    folder = Path(out_dir) / REPORT_DIR
    folder.mkdir(parents=True, exist_ok=True)
    pictures, picture_notes = draw_pictures(study, metric, folder)
    files.update(pictures)
    notes.extend(picture_notes)
    if best is not None and best_config is not None:
        info = study.user_attrs.get("ganforge", {})
        fixed_device = info.get("identity", {}).get("fixed", {}).get("device", "auto")
        header = (f"Best trial of ganforge tune study '{study.study_name}': trial {best['trial']}, {metric} "
                  f"{best['value']:.6g} at step {best['step']} ({'lower' if direction == 'minimize' else 'higher'} "
                  f"is better).\nIts run: {best['run_dir']}\n"
                  f"Train it: ganforge train --config {folder / BEST_TOML} --out runs/best")
        files[BEST_TOML] = write_config_toml(best_config, folder / BEST_TOML, header, device=fixed_device)
    else:
        notes.append("no best.toml yet: no trial has completed")
    files[TABLE_MD] = folder / TABLE_MD
    files[TABLE_CSV] = folder / TABLE_CSV
    _write_csv(report, params, files[TABLE_CSV])
    files[TABLE_MD].write_text(_markdown(report, params, storage, command), encoding="utf-8")
    return report, params
