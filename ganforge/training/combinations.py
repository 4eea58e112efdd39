"""Which plugins and settings can run together, and which step path a run takes.

Both checks run while the Trainer is built, before the first step (and before
the run folder is made), so a combination that cannot work fails with an
error that names the clash and the way out, instead of failing, hanging or
silently doing nothing mid-run.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch

from ganforge.config import TrainConfig
from ganforge.errors import IncompatibleError
from ganforge.interfaces import Dataset, Loss, Regularizer, Trick
from ganforge.training.precision import Precision

#: Optimizers whose step takes a learning-rate tensor inside a CUDA graph (``capturable``/``fused``).
GRAPH_SCHEDULABLE_OPTIMIZERS = ("adam", "adamw")


def _conflict_reasons(conflicts: Sequence[str] | Mapping[str, str]) -> Mapping[str, str]:
    if isinstance(conflicts, Mapping):
        return conflicts
    return {name: "" for name in conflicts}


def uses_targets(trick: Trick) -> bool:
    """True when the trick works by changing D's targets (or G's criterion on them)."""
    return bool(getattr(trick, "uses_targets", False)) or type(trick).targets is not Trick.targets


def check_plugins(tricks: list[Trick], dataset: Dataset, config: TrainConfig, distributed: bool,
                  loss: Loss | None = None, regularizers: Sequence[Regularizer] = ()) -> None:
    """Raise :class:`~ganforge.errors.IncompatibleError` when the enabled plugins cannot run together here.

    Checked: each plugin's ``conflicts`` (tricks list names; losses and
    regularizers map names to reasons), a target-changing trick with a loss
    that ignores targets, ``requires_labels`` (a labelled data set and
    ``conditional=True``), plugins that cannot run under DDP, and tricks
    asking for different numbers of discriminator steps.
    """
    names = {t.name: ("trick", t) for t in tricks}
    names.update({r.name: ("regularizer", r) for r in regularizers})
    if loss is not None:
        names[loss.name] = ("loss", loss)
    for own_name, (kind, plugin) in names.items():
        for other, reason in _conflict_reasons(getattr(plugin, "conflicts", ())).items():
            if other in names and other != own_name:
                other_kind = names[other][0]
                other_text = repr(other) if other_kind == "trick" else f"{other_kind} {other!r}"
                why = f": {reason}" if reason else ""
                raise IncompatibleError(
                    f"{kind.capitalize()} '{own_name}' cannot be combined with {other_text}{why}; "
                    "enable only one of them."
                )
    if loss is not None and not loss.uses_targets:
        for trick in tricks:
            if uses_targets(trick):
                raise IncompatibleError(
                    f"Trick '{trick.name}' changes the discriminator's targets, but loss '{loss.name}' ignores "
                    "targets, so the trick would do nothing. Drop the trick, or use a loss built on targets "
                    "(bce, minimax, lsgan)."
                )
    for trick in tricks:
        if trick.requires_labels and dataset.num_attributes is not None:
            raise IncompatibleError(
                f"Trick '{trick.name}' needs one class label per sample, and the data set '{config.data}' has "
                f"{dataset.num_attributes} attributes per sample instead: drop the trick, or use a data set with "
                "class labels.")
        if trick.requires_labels and (dataset.num_classes is None or not config.conditional):
            raise IncompatibleError(
                f"Trick '{trick.name}' needs class labels: use a labelled data set and conditional=True "
                "(--conditional)."
            )
        if getattr(trick, "requires_real_labels", False) and dataset.num_classes is None:
            raise IncompatibleError(
                f"Trick '{trick.name}' needs the real samples' class labels, and the data set '{config.data}' has "
                "none: use a labelled data set (the generator may stay unconditional)."
            )
    if distributed:
        for kind, plugin in [("trick", t) for t in tricks] + [("regularizer", r) for r in regularizers]:
            if not getattr(plugin, "ddp_safe", True):
                note = getattr(plugin, "ddp_note", "") or "it says it is not safe under DDP"
                raise IncompatibleError(f"{kind.capitalize()} '{plugin.name}' cannot run under DDP: {note}. "
                                        "Drop it or train in one process (strategy='none').")
    if loss is not None:
        for trick in tricks:
            trick.check_run(config, tricks, loss, regularizers)
        for plugin in (loss, *regularizers):
            check = getattr(plugin, "check_run", None)  # plugins of earlier releases have none
            if check is not None:
                check(config, dataset)
    d_steps = {t.d_steps for t in tricks if t.d_steps}
    if len(d_steps) > 1:
        raise IncompatibleError(f"Tricks ask for different numbers of D steps per G step: {sorted(d_steps)}.")


def check_tricks(tricks: list[Trick], dataset: Dataset, config: TrainConfig, distributed: bool) -> None:
    """The trick-only part of :func:`check_plugins` (kept for callers of earlier releases)."""
    check_plugins(tricks, dataset, config, distributed)


def graph_path(config: TrainConfig, device: torch.device, distributed: bool, tricks: list[Trick],
               others: Sequence[Any] = ()) -> tuple[bool, str]:
    """Whether the step is captured in a CUDA graph, and if not, why (for the run's first log line).

    ``cuda_graphs="auto"`` captures whenever nothing below stands in the way;
    ``"on"`` raises :class:`~ganforge.errors.IncompatibleError` listing what
    does; ``"off"`` never captures. ``others`` are the loss and regularizers
    (their ``capturable`` flags count too).
    """
    reasons = []
    if device.type != "cuda":
        reasons.append(f"device is {device.type}")
    precision_reason = Precision.why_not_capturable(config.precision)
    if precision_reason:
        reasons.append(precision_reason)
    if config.compile:
        reasons.append("torch.compile is on")
    if distributed:
        reasons.append("DDP is on (capturing its gradient all-reduce in the step's graph is not verified)")
    if config.nan_policy == "skip":
        reasons.append("nan_policy='skip' checks every loss on the host")
    for net, optim in (("generator", config.g_optim), ("discriminator", config.d_optim)):
        if optim.scheduled and optim.name not in GRAPH_SCHEDULABLE_OPTIMIZERS:
            reasons.append(f"the {net}'s {optim.name} optimizer cannot read a scheduled learning rate on the "
                           "device inside a graph")
    reasons += [f"trick '{t.name}' is not capturable" for t in tricks if not t.capturable]
    reasons += [f"{type(p).__mro__[1].__name__.lower()} '{p.name}' is not capturable"
                for p in others if not getattr(p, "capturable", True)]
    mode = config.cuda_graphs
    if mode == "on" and reasons:
        raise IncompatibleError(f"cuda_graphs='on' but the step cannot be captured: {'; '.join(reasons)}.")
    if mode == "off":
        return False, "cuda_graphs='off'"
    return not reasons, "; ".join(reasons)
