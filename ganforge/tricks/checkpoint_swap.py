"""ganhacks #8: occasionally train against an older copy of D (or G)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import attrs
import torch
from torch import Tensor, nn

from ganforge.errors import CheckpointError, ConfigError
from ganforge.interfaces import Trick
from ganforge.options import choice, integer, option, options

if TYPE_CHECKING:  # pragma: no cover
    from ganforge.interfaces import TrickContext

NETS = ("disc", "gen")


def _below_every(inst: Any, attr: attrs.Attribute, value: Any) -> None:
    if value >= inst.every:
        raise ConfigError(f"'k' ({value}) must be smaller than 'every' ({inst.every}): swaps would overlap")


def model_tensors(module: nn.Module) -> dict[str, Tensor]:
    """The parameters and buffers of ``module`` by name (the live tensors, not copies)."""
    out = dict(module.named_parameters())
    out.update(module.named_buffers())
    return out


class CheckpointSwap(Trick):
    """Every ``every`` steps, swap in a past copy of D (or G) for ``k`` steps (ganhacks #8).

    ganhacks #8: "every once in a while, swap out G or D for an older version
    of them for a few iterations". Here:

    * At setup the trick stores a snapshot of the chosen network (its
      parameters and buffers).
    * Before step ``t = every, 2 every, ...`` the live weights and the
      snapshot trade places: the network now holds the version from step
      ``t - every`` (at the first swap, the initial weights) and the snapshot
      holds the live version of step ``t``.
    * For ``k`` steps both networks train as usual, the other one against the
      old version.
    * Before step ``t + k`` the live version of step ``t`` is copied back;
      what the old version learned in those ``k`` steps is discarded. The
      snapshot keeps the step-``t`` version for the next swap, which is thus
      always ``every`` steps old.

    The optimizer's state (e.g. Adam's moments) is not swapped: it keeps
    accumulating across the swap. All copies are in-place ``copy_`` on the
    existing tensors in :meth:`before_step`, outside the step, so a captured
    CUDA graph stays valid. The snapshot and the swap state are saved in
    checkpoints (one more copy of the chosen network).

    Options:
        every: Steps between swaps, default 1000 (our choice; ganhacks gives
            no numbers).
        k: Steps trained against the old version, default 100 (our choice),
            ``1 <= k < every``.
        which: ``"disc"`` (default) or ``"gen"``: the network that is swapped.
    """

    name = "checkpoint_swap"
    description = "Every 1000 steps, train 100 steps against the D from 1000 steps earlier"
    ganhacks = 8

    @options
    class Options:
        every: int = option(1000, validator=integer(1), help="Steps between swaps.")
        k: int = option(100, validator=[integer(1), _below_every],
                        help="Steps trained against the old version (1 <= k < every).")
        which: str = option("disc", validator=choice(*NETS), help="The network that is swapped: disc or gen.")

    def __init__(self, **options: Any):
        super().__init__(**options)
        self.live: dict[str, Tensor] = {}
        self.snapshot: dict[str, Tensor] = {}
        #: Step at which the current swap began, or -1 when the live version is in place.
        self.swapped_at = -1

    def setup(self, ctx: TrickContext) -> None:
        self.attach(ctx.gen if self.options.which == "gen" else ctx.disc)

    def attach(self, module: nn.Module) -> None:
        """Track ``module`` and store its current weights as the first snapshot."""
        self.live = model_tensors(module)
        with torch.no_grad():
            self.snapshot = {name: t.detach().clone() for name, t in self.live.items()}
        self.swapped_at = -1

    def _swap(self) -> None:
        with torch.no_grad():
            for name, t in self.live.items():
                held = t.detach().clone()
                t.copy_(self.snapshot[name])
                self.snapshot[name].copy_(held)

    def before_step(self, ctx: TrickContext, step: int) -> None:
        every, k = self.options.every, self.options.k
        if self.swapped_at >= 0 and step >= self.swapped_at + k:
            with torch.no_grad():
                for name, t in self.live.items():
                    t.copy_(self.snapshot[name])
            self.swapped_at = -1
        if self.swapped_at < 0 and step > 0 and step % every == 0:
            self._swap()
            self.swapped_at = step

    @property
    def swapped(self) -> bool:
        """True while the old version is in the network."""
        return self.swapped_at >= 0

    def state_dict(self) -> dict[str, Any]:
        return {"swapped_at": self.swapped_at, "snapshot": dict(self.snapshot)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if not state:
            return
        saved = state["snapshot"]
        if set(saved) != set(self.snapshot):
            raise CheckpointError(
                f"checkpoint_swap: the checkpoint's snapshot holds {sorted(saved)[:3]}..., this run's "
                f"{self.options.which} network {sorted(self.snapshot)[:3]}...; resume with the same models and 'which'."
            )
        with torch.no_grad():
            for name, t in self.snapshot.items():
                t.copy_(saved[name])
        self.swapped_at = int(state["swapped_at"])
