"""Evaluation during training (``eval_every``): measure, log, and keep the best checkpoint.

A stop request (Ctrl-C, SIGTERM, :meth:`~ganforge.Trainer.request_stop`)
abandons an evaluation in progress: it is checked before every model call of
the evaluation (each chunk of generated samples, each batch of feature
extraction or of a metric's classifier training), so the Trainer writes its
stop checkpoint within seconds instead of after the whole evaluation. Nothing
of an abandoned evaluation is logged or kept, and it moves no training RNG:
the run resumes exactly.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import torch
from torch.nn.modules.module import register_module_forward_pre_hook

from ganforge.errors import ConfigError
from ganforge.io import checkpoint as ckpt

if TYPE_CHECKING:  # pragma: no cover
    from ganforge.trainer import Trainer


def resolve_eval_metric(trainer: Trainer) -> str:
    """The metric that picks the best checkpoint: ``eval_metric`` or the data's primary metric.

    Called before the run folder is created, so a metric that the data set
    does not have fails at once instead of at the first evaluation.

    Raises:
        ConfigError: for an unknown metric, or one not measured on the run's data set.
    """
    from ganforge.metrics import (
        HIGHER_IS_BETTER,
        LOWER_IS_BETTER,
        measured_metrics,
        primary_metric,
    )

    metric = trainer.config.eval_metric or primary_metric(trainer)
    if metric not in LOWER_IS_BETTER | HIGHER_IS_BETTER:
        known = ", ".join(sorted(LOWER_IS_BETTER | HIGHER_IS_BETTER))
        raise ConfigError(f"'eval_metric' must be one of {known} (got {metric!r})")
    measured = measured_metrics(trainer.dataset)
    if metric not in measured:
        raise ConfigError(f"'eval_metric' {metric!r} is not measured for data '{trainer.config.data}'; choose one "
                          f"of {', '.join(measured)} (--eval-metric).")
    return metric


class _Abandoned(BaseException):
    """Unwinds an evaluation that a stop request cut short (a BaseException: no metric code catches it)."""


@contextlib.contextmanager
def abandoned_on_stop(trainer: Trainer) -> Iterator[None]:
    """Within the block, every model call (any ``nn.Module``) first checks ``trainer.stop_reason``.

    Once a stop is requested, the next call raises an internal exception that
    :func:`evaluate_and_track` catches: the chunk in flight may finish, no
    further one starts. Context managers on the way out (forked RNG, eval
    mode, thread counts) restore what they changed.
    """
    def check(module: torch.nn.Module, args: Any) -> None:
        if trainer.stop_reason is not None:
            raise _Abandoned(trainer.stop_reason)

    handle = register_module_forward_pre_hook(check)
    try:
        yield
    finally:
        handle.remove()


def evaluate_and_track(trainer: Trainer, metric: str) -> dict[str, Any] | None:
    """Measure ``trainer``'s generator (on rank 0, without moving the training RNG) and update ``trainer.best``.

    Writes ``checkpoints/best.pt`` when ``metric`` improved. Returns the log
    record: ``step``, every numeric result as ``eval_<name>``, and ``best_<metric>``;
    or None when a stop request abandoned the evaluation (nothing measured,
    ``best`` unchanged, a message printed): the caller logs nothing and stops.
    """
    from ganforge.metrics import HIGHER_IS_BETTER, evaluate

    def measure() -> dict[str, Any] | None:
        with torch.random.fork_rng(devices=[trainer.device] if trainer.device.type == "cuda" else []):
            try:
                with abandoned_on_stop(trainer):
                    return evaluate(trainer, n=trainer.config.eval_samples)
            except _Abandoned:
                return None  # inside on_main: under DDP every rank learns that it was abandoned

    result = trainer.dist.on_main(measure, "evaluating the generator", trainer.step)  # rank 0 measures, all learn
    if result is None:
        reason = trainer.stop_reason or "another rank was asked to stop"
        trainer._say(f"Step {trainer.step}: evaluation abandoned ({reason}); nothing of it is logged.")
        return None
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
