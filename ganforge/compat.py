"""Which settings and tricks can run together, and which step path a run takes.

Both checks run while the Trainer is built, before the first step, so a
combination that cannot work fails with an error that names the clash and
the way out, instead of failing (or hanging) mid-run.
"""

from __future__ import annotations

import torch

from ganforge.config import TrainConfig
from ganforge.distributed import UNSAFE_TRICKS
from ganforge.errors import IncompatibleError
from ganforge.interfaces import Dataset, Trick


def check_tricks(tricks: list[Trick], dataset: Dataset, config: TrainConfig, distributed: bool) -> None:
    """Raise :class:`~ganforge.errors.IncompatibleError` when the enabled tricks cannot run together here.

    Checked: each trick's ``conflicts``, ``requires_labels`` (a labelled data
    set and ``conditional=True``), tricks that cannot run under DDP, and
    tricks asking for different numbers of discriminator steps.
    """
    names = [t.name for t in tricks]
    for trick in tricks:
        clash = [n for n in trick.conflicts if n in names]
        if clash:
            raise IncompatibleError(
                f"Trick '{trick.name}' cannot be combined with {', '.join(repr(c) for c in clash)}; "
                "enable only one of them."
            )
        if trick.requires_labels and (dataset.num_classes is None or not config.conditional):
            raise IncompatibleError(
                f"Trick '{trick.name}' needs class labels: use a labelled data set and conditional=True "
                "(--conditional)."
            )
        if distributed and trick.name in UNSAFE_TRICKS:
            raise IncompatibleError(f"Trick '{trick.name}' cannot run under DDP: {UNSAFE_TRICKS[trick.name]}. "
                                    "Drop it or train in one process (strategy='none').")
    d_steps = {t.d_steps for t in tricks if t.d_steps}
    if len(d_steps) > 1:
        raise IncompatibleError(f"Tricks ask for different numbers of D steps per G step: {sorted(d_steps)}.")


def graph_path(config: TrainConfig, device: torch.device, distributed: bool, tricks: list[Trick]) -> tuple[bool, str]:
    """Whether the step is captured in a CUDA graph, and if not, why (for the run's first log line).

    ``cuda_graphs="auto"`` captures whenever nothing below stands in the way;
    ``"on"`` raises :class:`~ganforge.errors.IncompatibleError` listing what
    does; ``"off"`` never captures.
    """
    reasons = []
    if device.type != "cuda":
        reasons.append(f"device is {device.type}")
    if config.precision == "fp16":
        reasons.append("fp16 needs a GradScaler, which synchronises")
    if config.compile:
        reasons.append("torch.compile is on")
    if distributed:
        reasons.append("DDP is on (capturing its gradient all-reduce in the step's graph is not verified)")
    if config.nan_policy == "skip":
        reasons.append("nan_policy='skip' checks every loss on the host")
    reasons += [f"trick '{t.name}' is not capturable" for t in tricks if not t.capturable]
    mode = config.cuda_graphs
    if mode == "on" and reasons:
        raise IncompatibleError(f"cuda_graphs='on' but the step cannot be captured: {'; '.join(reasons)}.")
    if mode == "off":
        return False, "cuda_graphs='off'"
    return not reasons, "; ".join(reasons)
