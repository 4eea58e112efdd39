"""ganhacks #10: track failures early -- D loss at zero, huge gradients, G loss falling while D wins."""

from __future__ import annotations

import math
import warnings
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from ganforge.interfaces import Trick
from ganforge.options import choice, integer, number, option, options

if TYPE_CHECKING:  # pragma: no cover
    from ganforge.interfaces import TrickContext

#: The checks, in the order of their codes in :attr:`FailureMonitor.findings`.
CHECKS: tuple[str, ...] = ("d_loss_zero", "grad_norm", "g_fools_d")
ACTIONS: tuple[str, ...] = ("warn", "stop", "record")


class TrainingFailureWarning(UserWarning):
    """Issued by the ``failure_monitor`` trick (``action='warn'``) when a failure sign appears."""


class FailureMonitor(Trick):
    """Watch for the failure signs of ganhacks #10 and warn, stop or record (ganhacks #10).

    Three checks, evaluated at every log interval (event ``on_log``, where the
    losses are already on the host):

    * ``d_loss_zero``: the discriminator loss of each of the last ``window``
      steps is below ``d_loss_floor`` ("D loss goes to 0: failure mode").
    * ``grad_norm``: the largest gradient norm of G or of D in the interval
      exceeds ``grad_norm_max`` ("check norms of gradients: if they are over
      100 things are screwing up"). The norm of each network's whole gradient
      is taken in the ``after_backward`` event (before any clipping) and kept
      as a running maximum in a device tensor: no host synchronisation in the
      step, which stays CUDA-graph capturable. With fp16 loss scaling the
      norm is divided by the scale, and non-finite norms (overflow steps the
      scaler skips) are ignored.
    * ``g_fools_d``: over the last ``trend_intervals`` intervals the mean G
      loss fell every time while the mean D loss stayed below ``d_win_below``
      ("if loss of generator steadily decreases, then it's fooling D with
      garbage").

    Every interval it logs ``grad_norm_gen``, ``grad_norm_disc`` (interval
    maxima), ``failures`` (number of checks firing) and ``failure_<check>``
    (1.0 firing, 0.0 not) -- into ``metrics.jsonl`` and the History records.
    With ``action='warn'`` a :class:`TrainingFailureWarning` names each check
    when it starts firing; ``'stop'`` also calls ``ctx.request_stop`` (the
    Trainer saves a checkpoint and returns); ``'record'`` only logs. Every
    finding is kept in :attr:`findings` and in checkpoints.

    Options:
        action: ``"warn"`` (default), ``"stop"`` or ``"record"``.
        d_loss_floor: D loss counted as "zero", default 0.01 (ganhacks gives
            no number; our choice, about 0.5% error on each side for BCE).
        window: Consecutive steps below the floor before ``d_loss_zero``
            fires, default 50 (our choice).
        grad_norm_max: Gradient-norm limit, default 100 (ganhacks' number).
        trend_intervals: Log intervals of steadily falling G loss before
            ``g_fools_d`` fires, default 5 (our choice).
        d_win_below: D loss below which D counts as winning, default
            ``2 ln 2 ~= 1.386``, the BCE loss of a D at chance (our choice;
            set it for other losses).
    """

    name = "failure_monitor"
    description = "Warn/stop/record when D loss -> 0, grad norm > 100, or G loss falls while D wins"
    ganhacks = 10
    progress_keys = ("failures",)

    @options
    class Options:
        action: str = option("warn", validator=choice(*ACTIONS), help="What a firing check does: warn, stop or "
                                                                       "record.")
        d_loss_floor: float = option(0.01, validator=number(0.0, low_open=True),
                                     help="D loss counted as zero (check d_loss_zero).")
        window: int = option(50, validator=integer(1), help="Consecutive steps with D loss below the floor before "
                                                            "d_loss_zero fires.")
        grad_norm_max: float = option(100.0, validator=number(0.0, low_open=True),
                                      help="Gradient-norm limit of G and D (check grad_norm).")
        trend_intervals: int = option(5, validator=integer(1), help="Log intervals of steadily falling G loss "
                                                                    "before g_fools_d fires.")
        d_win_below: float = option(2 * math.log(2), validator=number(0.0, low_open=True),
                                    help="D loss below which D counts as winning (2 ln 2: BCE at chance).")

    def __init__(self, **options: Any):
        super().__init__(**options)
        #: Running maxima of the gradient norms since the last log: [G, D] (device tensor after setup).
        self.grad_norms = torch.zeros(2)
        #: Every finding ``[step, code]`` with ``code`` an index into :data:`CHECKS`.
        self.findings: list[list[int]] = []
        self._firing: set[str] = set()
        self._scaler = None

    def setup(self, ctx: TrickContext) -> None:
        self.grad_norms = torch.zeros(2, device=ctx.device)
        self._scaler = ctx.grad_scaler

    # -- in-step: gradient norms on the device ----------------------------------

    def after_backward(self, net: str, module: nn.Module) -> None:
        grads = [p.grad for p in module.parameters() if p.grad is not None]
        if not grads:
            return
        norm = torch.nn.utils.get_total_norm(grads, foreach=True).float()
        if self._scaler is not None:
            scale = getattr(self._scaler, "_scale", None)
            norm = norm / (scale if scale is not None else self._scaler.get_scale())
            norm = torch.where(torch.isfinite(norm), norm, torch.zeros_like(norm))
        i = 0 if net == "gen" else 1
        self.grad_norms[i] = torch.maximum(self.grad_norms[i], norm)

    # -- at the log interval: the checks ------------------------------------------

    def check(self, d_losses: list[float], records: list[dict[str, Any]], grad_norms: list[float]) -> list[str]:
        """The checks firing, given per-step D losses, interval records (latest last) and [G, D] grad norms."""
        opts = self.options
        fired = []
        recent = d_losses[-opts.window:]
        if len(recent) == opts.window and all(d < opts.d_loss_floor for d in recent):
            fired.append("d_loss_zero")
        if any(not (n <= opts.grad_norm_max) for n in grad_norms):  # NaN counts as too large
            fired.append("grad_norm")
        trend = records[-(opts.trend_intervals + 1):]
        if len(trend) == opts.trend_intervals + 1:
            g = [r["g_loss"] for r in trend]
            falling = all(b < a for a, b in zip(g, g[1:]))
            if falling and all(r["d_loss"] < opts.d_win_below for r in trend[1:]):
                fired.append("g_fools_d")
        return fired

    def on_log(self, ctx: TrickContext, step: int, values: dict[str, float]) -> dict[str, float]:
        norms = self.grad_norms.tolist()
        self.grad_norms.zero_()
        fired = self.check(ctx.d_losses, [*ctx.records, values], norms)
        self.findings += [[int(step), CHECKS.index(name)] for name in fired]
        new = [name for name in fired if name not in self._firing]
        self._firing = set(fired)
        if new and self.options.action in ("warn", "stop"):
            warnings.warn(self.describe(new, step, norms), TrainingFailureWarning, stacklevel=2)
        if fired and self.options.action == "stop":
            ctx.request_stop(f"failure_monitor: {', '.join(fired)}")
        out = {"grad_norm_gen": norms[0], "grad_norm_disc": norms[1], "failures": float(len(fired))}
        out.update({f"failure_{name}": float(name in fired) for name in CHECKS})
        return out

    def describe(self, fired: list[str], step: int, norms: list[float]) -> str:
        """A message naming each check in ``fired`` and what to try."""
        opts = self.options
        text = {
            "d_loss_zero": f"D loss below {opts.d_loss_floor} for {opts.window} steps (D wins outright; G gets no "
                           "signal): try a lower D learning rate, soft_labels or instance_noise",
            "grad_norm": f"gradient norm over {opts.grad_norm_max:g} (G {norms[0]:.3g}, D {norms[1]:.3g}): try a "
                         "lower learning rate or grad_clip",
            "g_fools_d": f"G loss fell for {opts.trend_intervals} intervals while D loss < {opts.d_win_below:.3g} "
                         "(G may be fooling D with garbage): look at the samples",
        }
        return f"Step {step}: " + "; ".join(text[name] for name in fired) + "."

    def state_dict(self) -> dict[str, Any]:
        return {"findings": [list(f) for f in self.findings], "firing": [CHECKS.index(n) for n in sorted(self._firing)],
                "grad_norms": self.grad_norms.detach().cpu()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.findings = [[int(s), int(c)] for s, c in state.get("findings", [])]
        self._firing = {CHECKS[int(c)] for c in state.get("firing", [])}
        if "grad_norms" in state:
            self.grad_norms.copy_(state["grad_norms"])
