"""DiffAugment (Zhao et al. 2020): differentiable augmentation of every image D sees, with an ADA-style adaptive p."""

from __future__ import annotations

from typing import Any

import torch
import torch.distributed as dist
from torch import Tensor

from ganforge.augment import POLICIES, augment, check_images
from ganforge.interfaces import LossContext, ModelSpec, Trick
from ganforge.options import boolean, choice, integer, number, option, optional, options, sequence_of, to_tuple


class DiffAugment(Trick):
    """Differentiable augmentation of every image D sees, real and fake, in both networks' updates (Zhao et al. 2020).

    "Differentiable Augmentation for Data-Efficient GAN Training" (Zhao, Liu,
    Lin, Zhu and Han 2020): augmenting only the real images teaches G to
    produce the augmentations, and augmenting only in D's update leaves D and
    G playing on different distributions. DiffAugment applies the same random
    augmentation family to the real and the generated images, in D's update
    and in G's, with differentiable operations so G's gradient flows through
    them. Every image D sees is augmented (the ``disc_input`` event), also
    those of regularizers that run D through ``ctx.discriminate``. The
    operations (:mod:`ganforge.augment`) follow the paper: ``color``
    (brightness, saturation, contrast), ``translation`` (up to 1/8 of the
    image, zero padding) and ``cutout`` (a zeroed rectangle of half the
    image's size); ``flip`` is offered too. Random parameters are drawn on the
    device, per sample (capturable). Needs image data ``(C, H, W)``.

    Adaptive probability, in the spirit of ADA (Karras et al. 2020, "Training
    Generative Adversarial Networks with Limited Data"): with ``adaptive``,
    each operation transforms each sample with probability ``p``, starting at
    0. D's update accumulates ``r_t = E[sign(D(x_real))]`` (the share of reals
    D calls real, minus the share it calls fake: it approaches 1 as D
    over-fits); every ``adjust_every`` D updates ``p`` moves by a fixed step
    toward keeping ``r_t`` at ``target``: up when ``r_t > target``, down when
    below, clipped to [0, 1]. The step is ``adjust_every * batch_size /
    adjust_images``, so ``p`` can go from 0 to 1 after D has seen
    ``adjust_images`` real images (ADA's 500k). The accumulation and the
    update run on the device inside the step (under DDP, the statistics are
    summed over the ranks, so every rank keeps the same ``p``); ``p`` and the
    partial sums are checkpointed. Logged (adaptive only):
    ``diffaugment_p`` and ``diffaugment_rt`` (the ``r_t`` of the last
    adjustment).

    Options:
        policy: The augmentations, applied in order: a list from color, translation, cutout and flip.
        p: Probability that an operation transforms a sample; default None: 1 (always, as DiffAugment),
            or 0 at the start when adaptive.
        adaptive: Adjust p from D's outputs on real images (ADA's heuristic), default false.
        target: The r_t that adaptive p steers toward, default 0.6 (ADA's value).
        adjust_every: D updates between two adjustments of p, default 4 (ADA's value).
        adjust_images: Real images D must see for p to be able to go from 0 to 1, default 500000 (ADA's value).
    """

    name = "diffaugment"
    description = "DiffAugment: the same differentiable color/translation/cutout on D's real and fake inputs"
    progress_keys = ("diffaugment_p",)

    @options
    class Options:
        policy: tuple[str, ...] = option(
            ("color", "translation", "cutout"), converter=to_tuple,
            validator=sequence_of(choice(*POLICIES), "policies (" + ", ".join(POLICIES) + ")"),
            help="Augmentations applied in this order, from " + ", ".join(POLICIES) + ".")
        p: float | None = option(None, validator=optional(number(0.0, 1.0)),
                                 help="Probability an operation transforms a sample (None: 1; adaptive: 0 at first).")
        adaptive: bool = option(False, validator=boolean(),
                                help="Adjust p from the sign of D's outputs on reals toward 'target' (ADA).")
        target: float = option(0.6, validator=number(-1.0, 1.0, low_open=True, high_open=True),
                               help="Target of r_t = E[sign(D(x_real))] for adaptive p (ADA: 0.6).")
        adjust_every: int = option(4, validator=integer(1),
                                   help="D updates between adjustments of adaptive p (ADA: 4).")
        adjust_images: int = option(500_000, validator=integer(1),
                                    help="Real images after which adaptive p can have gone from 0 to 1 (ADA: 500k).")

    def __init__(self, **options: Any):
        super().__init__(**options)
        o = self.options
        start = o.p if o.p is not None else (0.0 if o.adaptive else 1.0)
        #: The probability each operation transforms a sample (0-d float tensor, on the device after setup).
        self.p = torch.tensor(float(start))
        #: Sum of sign(D(x_real)) and the number of logits summed, since the last adjustment.
        self.sums = torch.zeros(2)
        #: D updates since the last adjustment.
        self.updates = torch.zeros((), dtype=torch.int64)
        #: r_t of the last adjustment (0 before the first).
        self.last_rt = torch.zeros(())
        #: Change of p per adjustment (set in setup from the batch size).
        self.step_size = 0.0
        self._reduce = False

    def adjust_spec(self, spec: ModelSpec) -> ModelSpec:
        check_images(spec.data_shape, "Trick 'diffaugment'")
        return spec

    def setup(self, ctx: Any) -> None:
        device = ctx.device
        self.p, self.sums = self.p.to(device), self.sums.to(device)
        self.updates, self.last_rt = self.updates.to(device), self.last_rt.to(device)
        o = self.options
        self.step_size = o.adjust_every * ctx.config.batch_size / o.adjust_images
        # Under DDP the ranks see different reals: sum their statistics so all keep the same p. (A process
        # group that is not the run's, e.g. one made by the user around a single-process run, is left alone.)
        self._reduce = o.adaptive and dist.is_available() and dist.is_initialized() \
            and dist.get_world_size() == ctx.world_size

    # -- in-step -----------------------------------------------------------------

    def disc_input(self, x: Tensor, real: bool) -> Tensor:
        o = self.options
        if o.adaptive:
            p: float | Tensor = self.p
        else:
            p = 1.0 if o.p is None else o.p
        return augment(x, o.policy, p)

    def observe(self, ctx: LossContext) -> None:
        if not self.options.adaptive or ctx.phase != "disc" or ctx.real_logits is None:
            return
        logits = ctx.real_logits.detach().float()
        stats = torch.stack([logits.sign().sum(), torch.ones_like(logits).sum()])
        if self._reduce:
            dist.all_reduce(stats)  # every rank adjusts p from the same statistics
        self.sums.add_(stats)
        self.updates.add_(1)
        due = self.updates >= self.options.adjust_every
        rt = self.sums[0] / self.sums[1].clamp_min(1)
        moved = (self.p + torch.sign(rt - self.options.target) * self.step_size).clamp(0.0, 1.0)
        self.p.copy_(torch.where(due, moved, self.p))
        self.last_rt.copy_(torch.where(due, rt, self.last_rt))
        self.sums.mul_(torch.where(due, 0.0, 1.0))
        self.updates.mul_(torch.where(due, 0, 1))

    # -- host side ---------------------------------------------------------------

    def on_log(self, ctx: Any, step: int, values: dict[str, float]) -> dict[str, float] | None:
        if not self.options.adaptive:
            return None
        return {"diffaugment_p": float(self.p), "diffaugment_rt": float(self.last_rt)}

    def state_dict(self) -> dict[str, Any]:
        return {"p": self.p.detach().clone().cpu(), "sums": self.sums.detach().clone().cpu(),
                "updates": self.updates.detach().clone().cpu(), "last_rt": self.last_rt.detach().clone().cpu()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for key in ("p", "sums", "updates", "last_rt"):
            if key in state:
                getattr(self, key).copy_(state[key])
