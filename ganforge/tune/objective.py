"""One trial: a normal ganforge run in ``OUT/trials/trial-NNNN`` whose evaluations are reported to Optuna.

The run's ``on_evaluate`` callback reports the chosen metric at each
evaluation (Optuna's step = the training step) and asks the pruner; a pruned
run is stopped with :meth:`~ganforge.Trainer.request_stop`, saves its
checkpoint like any stopped run, and the trial ends PRUNED. The trial's
value is the best evaluation of the run, the one ``checkpoints/best.pt`` holds.
"""

from __future__ import annotations

import json
import os
import sys
import traceback
from pathlib import Path
from typing import Any

from ganforge.config import TrainConfig
from ganforge.errors import CheckpointError, ConfigError, RunDirectoryError
from ganforge.tune.space import SearchSpace
from ganforge.tune.storage import require_optuna
from ganforge.tune.study import Job, holds_files, retry, this_host

#: The file each trial's run folder gets at its end: its state, value, parameters and note.
TRIAL_FILE = "tune_trial.json"
#: The file holding a failed trial's traceback, in its run folder.
ERROR_FILE = "tune_error.txt"
#: A stop reason the Trainer gives when Ctrl-C or SIGTERM arrives (see ganforge.training.signals).
SIGNAL_STOP = "received SIG"


def trial_dir(out_dir: str | Path, number: int) -> Path:
    """The run folder of trial ``number``: ``OUT/trials/trial-NNNN``."""
    return Path(out_dir) / "trials" / f"trial-{number:04d}"


def say(message: str) -> None:
    """One progress line on stderr (the report goes to stdout)."""
    print(message, file=sys.stderr, flush=True)


class EvaluationReporter:
    """Trainer callback: report each evaluation to the Optuna trial and stop the run when the pruner says so.

    Args:
        trial: The Optuna trial.
        metric: The objective metric (the ``eval_<metric>`` value of each evaluation).
        pruner: The pruner's name, for the note.
    """

    def __init__(self, trial: Any, metric: str, pruner: str):
        self.trial, self.metric, self.pruner = trial, metric, pruner
        #: ``(step, value)`` of the evaluation that pruned the run, else None.
        self.pruned: tuple[int, float] | None = None

    def replay(self, records: list[dict[str, Any]]) -> None:
        """Report the evaluations a resumed run made before (a retry continues a lost trial's run)."""
        for record in records:
            if f"eval_{self.metric}" in record:
                self.trial.report(float(record[f"eval_{self.metric}"]), int(record["step"]))

    def on_evaluate(self, trainer: Any, record: dict[str, Any]) -> None:
        value = float(record[f"eval_{self.metric}"])
        self.trial.report(value, trainer.step)
        if self.pruned is None and self.trial.should_prune():
            self.pruned = (trainer.step, value)
            trainer.request_stop(f"pruned by the {self.pruner} pruner ({self.metric} {value:.4g})")


class Objective:
    """The function Optuna calls for each trial of a worker.

    Args:
        job: The study's :class:`~ganforge.tune.study.Job`.
        worker: This worker's index (0 when the command runs one).
        device: The device of this worker's runs (None: the space's ``device``).
        gate: Held while the worker decides to start a trial and Optuna creates
            it; released as soon as the trial exists.
    """

    def __init__(self, job: Job, worker: int, device: str | None, gate: Any, command: int | None = None):
        self.job, self.worker, self.device, self.gate = job, worker, device, gate
        #: The process of the ``ganforge tune`` command this worker serves (recorded: a re-run waits for the
        #: trials of a killed command's workers).
        self.command = command if command is not None else os.getpid()
        self.space: SearchSpace = job.space

    def __call__(self, trial: Any) -> float:
        self.gate.release()
        optuna = require_optuna()
        trial.set_user_attr("worker", {"host": this_host(), "pid": os.getpid(), "index": self.worker,
                                       "device": self.device, "command": self.command})
        retried = "retry_of" in trial.user_attrs and "run_dir" in trial.user_attrs
        run_dir = Path(trial.user_attrs["run_dir"]) if retried else trial_dir(self.job.out_dir, trial.number)
        if not retried and holds_files(run_dir):
            # Not this trial's (its number is new): files of a lost study, another command, a copy. Kept as they are.
            message = (f"{run_dir} already holds files that trial {trial.number} of study '{self.job.study}' did "
                       "not write; ganforge will not overwrite them: move them away, or choose another --out.")
            trial.set_user_attr("error", f"RunDirectoryError: {message}")
            raise RunDirectoryError(message)
        trial.set_user_attr("run_dir", str(run_dir))
        reporter = EvaluationReporter(trial, self.space.metric, self.job.options.pruner)
        try:
            settings = self.space.trial_config(lambda p: p.suggest(trial))
            if self.job.progress:
                shown = ", ".join(f"{p.key}={p.show(v)}" for p, v in zip(self.space.params, self._values(trial))
                                  if v is not None)
                again = f" (retry of trial {trial.user_attrs['retry_of']})" if "retry_of" in trial.user_attrs else ""
                say(f"trial {trial.number}{again} started on worker {self.worker}: {shown or 'fixed settings'}")
            # Only a retry may replace what is in its folder: the lost trial's own run, started over.
            settings.update(out_dir=str(run_dir), overwrite=retried, progress=False)
            if self.device is not None:
                settings["device"] = self.device
            config = TrainConfig.from_dict(settings)
            trial.set_user_attr("config", config.to_dict())
            trainer = self._trainer(config, run_dir, retried, reporter)
            trainer.fit()
            trial.set_user_attr("threads", getattr(trainer, "threads_note", None))  # what the run used, and why
        except KeyboardInterrupt:
            self._lost(trial, "interrupted (Ctrl-C)")
            raise
        except Exception as exc:
            message = f"{type(exc).__name__}: {exc}".strip().splitlines()[0]
            trial.set_user_attr("error", message[:1000])
            run_dir.mkdir(parents=True, exist_ok=True)
            (run_dir / ERROR_FILE).write_text(traceback.format_exc(), encoding="utf-8")
            raise
        if reporter.pruned is not None:
            step, value = reporter.pruned
            note = (f"pruned at step {step} by the {self.job.options.pruner} pruner ({self.space.metric} "
                    f"{value:.4g}); its run folder is kept")
            trial.set_user_attr("pruned", note)
            raise optuna.TrialPruned(note)
        reason = trainer.stop_reason
        if trainer.step < trainer.config.steps:
            if reason and reason.startswith(SIGNAL_STOP):
                self._lost(trial, f"interrupted at step {trainer.step} ({reason})")
                raise KeyboardInterrupt
            note = f"stopped at step {trainer.step} by the run itself: {reason}"
            trial.set_user_attr("pruned", note)
            raise optuna.TrialPruned(note)
        if trainer.best is None:
            message = (f"ConfigError: the run made no evaluation (steps {config.steps} < eval_every "
                       f"{config.eval_every}), so it has no {self.space.metric}")
            trial.set_user_attr("error", message)
            raise ConfigError(message)
        trial.set_user_attr("best_step", int(trainer.best["step"]))
        return float(trainer.best["value"])

    def _values(self, trial: Any) -> list[Any]:
        return [p.decode(trial.params) for p in self.space.params]

    def _trainer(self, config: TrainConfig, run_dir: Path, retried: bool, reporter: EvaluationReporter) -> Any:
        """A fresh Trainer, or for a retry one resumed from the lost trial's last checkpoint."""
        import ganforge.trainer  # looked up at call time, so a patched Trainer class is used

        if retried:
            try:
                trainer = ganforge.trainer.Trainer.resume(run_dir, progress=False, device=config.device)
            except (CheckpointError, ConfigError, FileNotFoundError):
                pass  # lost before its first checkpoint: start over in the same folder
            else:
                trainer.callbacks.append(reporter)
                trainer.setup()  # loads the checkpoint, with the evaluations made so far
                reporter.replay(trainer.history.records)
                return trainer
        trainer = ganforge.trainer.Trainer(config)
        trainer.callbacks.append(reporter)
        return trainer

    def _lost(self, trial: Any, reason: str) -> None:
        """Record why the trial stopped and queue it again (its run continues from its checkpoint)."""
        trial.set_user_attr("interrupted", reason)
        retry(trial.study, trial, reason)


def write_trial_file(run_dir: str | Path, row: dict[str, Any]) -> None:
    """Write ``row`` (the report's line of this trial) as ``tune_trial.json`` in the trial's run folder."""
    if not run_dir:  # a trial refused before it had a run folder
        return
    path = Path(run_dir)
    if path.is_dir():
        (path / TRIAL_FILE).write_text(json.dumps(row, indent=2, default=str) + "\n", encoding="utf-8")
