"""Schedules computed on the device from the step count: learning rates, and any numeric hyper-parameter.

A schedule (``OptimConfig.schedule``, ``warmup``) makes each of the
optimizer's learning rates a 0-d tensor on the training device that the
training step overwrites at its start from a device step counter. PyTorch's
optimizers read a tensor learning rate on the device (fused and capturable
Adam included), so a CUDA-graphed step replays with the current rate, the
host never synchronises for it, and a resumed run (whose counter is set from
the checkpoint's step) continues the schedule exactly.

The factor that multiplies the configured ``lr`` at step ``t`` (0-based) of a
run of ``T`` steps, with ``w`` warm-up steps and ``f = final_lr / lr``:

* warm-up, ``t < w``: ``(t + 1) / w``;
* then ``p = (t - w) / max(1, T - w - 1)`` runs from 0 to 1, and
  ``"constant"``: 1; ``"linear"``: ``1 - (1 - f) p``;
  ``"cosine"``: ``f + (1 - f) (1 + cos(pi p)) / 2``.

Any other numeric hyper-parameter follows a :class:`~ganforge.config.ScheduleConfig`
(``TrainConfig.schedules``): Adam's betas, the generator EMA's decay or
half-life, and plugin options declared schedulable (``option(...,
schedulable=True)``, e.g. R1's ``gamma``). :func:`bind_schedules` replaces each
with a 0-d tensor on the device that :class:`HyperSchedules` overwrites at the
start of every step, the same way as the learning rates.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from collections.abc import Callable, Mapping
from typing import Any

import attrs

from ganforge.config import OptimConfig, ScheduleConfig
from ganforge.errors import ConfigError


def lr_factor(config: OptimConfig, step: Tensor, total: int) -> Tensor:
    """The factor on ``config.lr`` at 0-based ``step`` (a tensor) of a ``total``-step run, as a tensor like ``step``."""
    t = step.float()
    final = config.final_lr / config.lr
    w = config.warmup
    p = ((t - w) / max(1, total - w - 1)).clamp(0.0, 1.0)
    if config.schedule == "linear":
        factor = 1 - (1 - final) * p
    elif config.schedule == "cosine":
        factor = final + (1 - final) * (1 + torch.cos(math.pi * p)) / 2
    else:
        factor = torch.ones_like(t)
    if w > 0:
        factor = torch.where(t < w, (t + 1) / w, factor)
    return factor


class LRSchedule:
    """Sets one optimizer's learning rates on the device at each step.

    Args:
        optimizer: Its param groups' ``lr`` become 0-d tensors on ``device``
            (shared with this object, which writes them in place).
        config: The network's :class:`~ganforge.config.OptimConfig` (``lr``, ``schedule``, ``final_lr``, ``warmup``).
        total: Steps in the run (the decay ends at the last one).
        device: The training device.
    """

    def __init__(self, optimizer: torch.optim.Optimizer, config: OptimConfig, total: int, device: torch.device):
        self.config, self.total = config, int(total)
        self.lrs: list[Tensor] = []
        self.bases: list[float] = []
        for group in optimizer.param_groups:
            base = float(group["lr"])
            tensor = torch.tensor(base, dtype=torch.float32, device=device)
            group["lr"] = tensor
            self.lrs.append(tensor)
            self.bases.append(base)
        self.optimizer = optimizer

    def apply(self, step: Tensor) -> None:
        """Write the learning rates for 0-based ``step`` (a device tensor) into the optimizer (device work only)."""
        factor = lr_factor(self.config, step, self.total)
        for lr, base in zip(self.lrs, self.bases):
            lr.copy_(factor * base)

    def reattach(self) -> None:
        """Put the shared lr tensors back into the param groups (after ``load_state_dict`` replaced them)."""
        for group, lr in zip(self.optimizer.param_groups, self.lrs):
            group["lr"] = lr

    def current(self) -> list[float]:
        """The learning rates now, on the host (a synchronisation: for logging only)."""
        return [float(lr) for lr in self.lrs]


def schedule_value(spec: ScheduleConfig, step: Tensor, total: int) -> Tensor:
    """The value of ``spec`` at 0-based ``step`` (a tensor) of a ``total``-step run, as a float tensor like ``step``
    (the formula is :class:`~ganforge.config.ScheduleConfig`'s)."""
    t = step.float()
    w = spec.warmup
    span = spec.steps if spec.steps is not None else max(1, total - w)
    p = ((t - w) / max(1, span - 1)).clamp(0.0, 1.0)
    start, end = spec.start, spec.final
    if spec.kind == "linear":
        value = start + (end - start) * p
    elif spec.kind == "cosine":
        value = end + (start - end) * (1 + torch.cos(math.pi * p)) / 2
    else:
        value = torch.full_like(t, start)
    if w > 0:
        value = torch.where(t < w, spec.warmup_from + (start - spec.warmup_from) * (t + 1) / w, value)
    return value


def half_life_to_decay(half_life: Tensor) -> Tensor:
    """The EMA decay per update whose weight halves after ``half_life`` updates: ``0.5 ** (1 / half_life)``
    (0 for a half-life of 0: the average copies the generator)."""
    return torch.pow(0.5, 1.0 / half_life)


@attrs.define
class ScheduledValue:
    """One scheduled hyper-parameter: its name, schedule and the device tensor its users read."""

    name: str
    spec: ScheduleConfig
    #: The 0-d float32 tensor on the device the optimizer, EMA or plugin reads; overwritten in place.
    tensor: Tensor
    #: Maps the scheduled quantity to what is stored (the EMA half-life to a decay); None: stored as is.
    transform: Callable[[Tensor], Tensor] | None = None
    #: With a transform, the scheduled quantity itself (for the log); None otherwise.
    raw: Tensor | None = None

    def __attrs_post_init__(self) -> None:
        if self.transform is not None and self.raw is None:
            self.raw = torch.zeros_like(self.tensor)


class HyperSchedules:
    """Writes every scheduled hyper-parameter's value for the step (device work only), like :class:`LRSchedule`.

    Made by :func:`bind_schedules`; the step calls :meth:`apply` at its start.
    """

    def __init__(self, values: list[ScheduledValue], total: int, optimizers: Mapping[str, Any] | None = None):
        self.values, self.total = values, int(total)
        #: ``{optimizer: (beta1, beta2)}`` tensors to put back after a state load replaced them.
        self.betas: dict[Any, tuple[Tensor, Tensor]] = dict(optimizers or {})

    def apply(self, step: Tensor) -> None:
        """Write the values for 0-based ``step`` (a device tensor)."""
        for v in self.values:
            value = schedule_value(v.spec, step, self.total)
            if v.transform is not None:
                v.raw.copy_(value)
                value = v.transform(value)
            v.tensor.copy_(value)

    def reattach(self) -> None:
        """Put the shared beta tensors back into the optimizers' param groups (after ``load_state_dict``)."""
        for opt, betas in self.betas.items():
            for group in opt.param_groups:
                group["betas"] = betas

    def current(self) -> dict[str, float]:
        """``{name: value}`` as the last step used them, on the host (a synchronisation: for logging only)."""
        return {v.name: float(v.raw if v.raw is not None else v.tensor) for v in self.values}


def _check_range(name: str, spec: ScheduleConfig, check: Callable[[float], bool], what: str) -> None:
    bad = [x for x in spec.values() if not check(x)]
    if bad:
        raise ConfigError(f"Schedule of {name!r} reaches {bad[0]!r}, but {name} must be {what}; change the "
                          "schedule's start, end or warmup_from.")


def _plugin_option(name: str, plugin: Any, option: str, spec: ScheduleConfig, device: torch.device) -> ScheduledValue:
    """Bind ``plugin.options.<option>`` to a device tensor (the option must be declared schedulable)."""
    options = getattr(plugin, "options", None)
    fields = attrs.fields_dict(type(options)) if options is not None and attrs.has(type(options)) else {}
    schedulable = sorted(n for n, f in fields.items() if f.metadata.get("schedulable"))
    hint = (f"{plugin.name}'s schedulable options: {', '.join(schedulable)}" if schedulable
            else f"{plugin.name} declares no schedulable options")
    if option not in fields:
        raise ConfigError(f"Cannot schedule {name!r}: {plugin.name} has no option {option!r} ({hint}; "
                          f"'ganforge plugins {plugin.name}' lists its options).")
    field = fields[option]
    if not field.metadata.get("schedulable"):
        raise ConfigError(f"Cannot schedule {name!r}: {plugin.name}'s option {option!r} is not declared schedulable "
                          f"(a plugin marks an option it reads only in tensor arithmetic with option(..., "
                          f"schedulable=True)); {hint}.")
    for x in spec.values():  # the option's own check, on every corner of the schedule
        if field.validator is not None:
            try:
                field.validator(options, field, x)
            except (ConfigError, TypeError, ValueError) as exc:
                raise ConfigError(f"Schedule of {name!r} reaches {x!r}: {exc}") from None
    tensor = torch.tensor(float(getattr(options, option)), dtype=torch.float32, device=device)
    object.__setattr__(options, option, tensor)  # the frozen options now hold the device value the step rewrites
    return ScheduledValue(name, spec, tensor)


def bind_schedules(schedules: Mapping[str, ScheduleConfig], *, optimizers: Mapping[str, torch.optim.Optimizer],
                   ema: Any, plugins: Mapping[str, Any], total: int, device: torch.device) -> HyperSchedules | None:
    """Make each scheduled hyper-parameter a device tensor where its user reads it; None when nothing is scheduled.

    Args:
        schedules: ``TrainConfig.schedules``: ``{"d_optim.beta2": ScheduleConfig, ...}``.
        optimizers: ``{"g_optim": ..., "d_optim": ...}``: their Adam betas become tensors when scheduled.
        ema: The generator EMA (``ema.decay``, ``ema.half_life``), or None when the run keeps none.
        plugins: The run's loss, regularizers and tricks by name (``PLUGIN.OPTION``).
        total: Steps in the run.
        device: The training device.

    Raises:
        ConfigError: naming the target and the fix, for an unknown name, an option not declared
            schedulable, a value out of its range, or a schedule the run cannot apply.
    """
    if not schedules:
        return None
    values: list[ScheduledValue] = []
    betas: dict[Any, tuple[Tensor, Tensor]] = {}
    known = [f"{o}.beta1" for o in optimizers] + [f"{o}.beta2" for o in optimizers] + ["ema.decay", "ema.half_life"]
    if "ema.decay" in schedules and "ema.half_life" in schedules:
        raise ConfigError("Schedule either 'ema.decay' or 'ema.half_life', not both: they set the same value.")
    for name, spec in schedules.items():
        owner, _, key = name.partition(".")
        if owner in optimizers:
            opt = optimizers[owner]
            if key == "lr":
                raise ConfigError(f"Learning rates have their own schedule: set {owner}={{'schedule': 'cosine', "
                                  f"'final_lr': ..., 'warmup': ...}} (--lr-schedule) instead of {name!r}.")
            if key not in ("beta1", "beta2"):
                raise ConfigError(f"Cannot schedule {name!r}: an optimizer's schedulable settings are beta1 and beta2 "
                                  f"(learning rates: {owner}'s 'schedule').")
            if not isinstance(opt, torch.optim.Adam):
                raise ConfigError(f"Cannot schedule {name!r}: the {owner} optimizer is {type(opt).__name__}, which has "
                                  "no betas; use name='adam' or 'adamw'.")
            _check_range(name, spec, lambda x: 0.0 <= x < 1.0, "in [0, 1)")
            if opt not in betas:
                b1, b2 = opt.param_groups[0]["betas"]
                betas[opt] = (torch.tensor(float(b1), dtype=torch.float32, device=device),
                              torch.tensor(float(b2), dtype=torch.float32, device=device))
            values.append(ScheduledValue(name, spec, betas[opt][0 if key == "beta1" else 1]))
        elif owner == "ema":
            if key not in ("decay", "half_life"):
                raise ConfigError(f"Cannot schedule {name!r}: the EMA's schedulable values are ema.decay and "
                                  "ema.half_life (in generator updates).")
            if ema is None:
                raise ConfigError(f"{name!r} is scheduled but the run keeps no generator EMA: set ema_decay (--ema), "
                                  "e.g. 0.999; the schedule then replaces its value.")
            if key == "decay":
                _check_range(name, spec, lambda x: 0.0 <= x < 1.0, "in [0, 1)")
            else:
                _check_range(name, spec, lambda x: x >= 0.0, ">= 0 (generator updates)")
            tensor = torch.tensor(float(ema.decay), dtype=torch.float32, device=device)
            ema.decay = tensor
            values.append(ScheduledValue(name, spec, tensor, half_life_to_decay if key == "half_life" else None))
        elif owner in plugins:
            values.append(_plugin_option(name, plugins[owner], key, spec, device))
        else:
            import difflib

            close = difflib.get_close_matches(name, known + [f"{p}.{k}" for p in plugins for k in _schedulable(plugins[p])], n=1)
            raise ConfigError(f"Cannot schedule {name!r}: {owner!r} is not an optimizer, 'ema' or a plugin of this run "
                              f"(its loss, regularizers and tricks: {', '.join(plugins) or 'none'})."
                              + (f" Did you mean {close[0]!r}?" if close else ""))
    schedule = HyperSchedules(values, total, betas)
    schedule.reattach()
    return schedule


def _schedulable(plugin: Any) -> list[str]:
    options = getattr(plugin, "options", None)
    if options is None or not attrs.has(type(options)):
        return []
    return [f.name for f in attrs.fields(type(options)) if f.metadata.get("schedulable")]
