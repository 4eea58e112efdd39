"""Evaluation during training (``eval_every``): measure, log, and keep the best checkpoint."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch

from ganforge import checkpoint as ckpt
from ganforge.errors import ConfigError

if TYPE_CHECKING:  # pragma: no cover
    from ganforge.trainer import Trainer


def resolve_eval_metric(trainer: Trainer) -> str:
    """The metric that picks the best checkpoint: ``eval_metric`` or the data's primary metric.

    Called before the run folder is created, so a metric that the data set
    does not have fails at once instead of at the first evaluation.

    Raises:
        ConfigError: for an unknown metric, or one not measured on the run's data set.
    """
    from ganforge.metrics import HIGHER_IS_BETTER, LOWER_IS_BETTER, measured_metrics, primary_metric

    metric = trainer.config.eval_metric or primary_metric(trainer)
    if metric not in LOWER_IS_BETTER | HIGHER_IS_BETTER:
        known = ", ".join(sorted(LOWER_IS_BETTER | HIGHER_IS_BETTER))
        raise ConfigError(f"'eval_metric' must be one of {known} (got {metric!r})")
    measured = measured_metrics(trainer.dataset)
    if metric not in measured:
        raise ConfigError(f"'eval_metric' {metric!r} is not measured for data '{trainer.config.data}'; choose one "
                          f"of {', '.join(measured)} (--eval-metric).")
    return metric


def evaluate_and_track(trainer: Trainer, metric: str) -> dict[str, Any]:
    """Measure ``trainer``'s generator (on rank 0, without moving the training RNG) and update ``trainer.best``.

    Writes ``checkpoints/best.pt`` when ``metric`` improved. Returns the log
    record: ``step``, every numeric result as ``eval_<name>``, and ``best_<metric>``.
    """
    from ganforge.metrics import HIGHER_IS_BETTER, evaluate

    def measure() -> dict[str, Any]:
        with torch.random.fork_rng(devices=[trainer.device] if trainer.device.type == "cuda" else []):
            return evaluate(trainer, n=trainer.config.eval_samples)

    result = trainer.dist.on_main(measure, "evaluating the generator", trainer.step)  # rank 0 measures, all learn
    if metric not in result:
        raise ConfigError(f"'eval_metric' {metric!r} is not measured for data '{trainer.config.data}'; "
                          f"measured: {', '.join(k for k in result if k not in ('kind', 'data', 'step'))}.")
    record: dict[str, Any] = {"step": trainer.step}
    record.update({f"eval_{k}": v for k, v in result.items()
                   if isinstance(v, (int, float)) and not isinstance(v, bool) and k != "step"})
    sign = -1.0 if metric in HIGHER_IS_BETTER else 1.0
    value = float(result[metric])
    if trainer.best is None or sign * value < sign * trainer.best["value"]:
        trainer.best = {"metric": metric, "value": value, "step": trainer.step}
        trainer.save_checkpoint(trainer.run_dir / ckpt.CHECKPOINT_DIR / ckpt.BEST_CHECKPOINT)
    record[f"best_{metric}"] = trainer.best["value"]
    return record
