"""CycleGAN (Zhu et al. 2017): unpaired translation with two generators, two discriminators and cycle consistency."""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import attrs
import torch
from torch import Tensor, nn

from ganforge.errors import CheckpointError, ConfigError, IncompatibleError
from ganforge.interfaces import LossContext, ModelSpec, Network, Trick
from ganforge.options import integer, number, option, options
from ganforge.tricks.pix2pix import image_condition

if TYPE_CHECKING:  # pragma: no cover
    from ganforge.config import TrainConfig
    from ganforge.interfaces import Discriminator, Generator, Loss, Regularizer, TrickContext

#: Seed offset of the second pair's initial weights (from the run's seed, so they do not depend on anything else).
SEED_OFFSET = 7919


class ImagePool:
    """CycleGAN's history of generated images (Shrivastava et al. 2017), held on the device.

    While the pool is filling, every fake goes in and is shown as it is. Once
    it holds ``size`` fakes, each new fake is, with probability 1/2, shown as
    it is, or swapped: a stored fake (chosen at random, distinct within the
    batch) is shown instead and the new one takes its place. A batch is
    handled at once: its i-th fake fills slot ``filled + i`` when there is
    one; the swaps choose among the slots filled before the batch. ``size``
    must be at least twice the batch (so a batch that completes the pool
    finds enough slots filled before it). Device tensors only, updated in
    place: capturable.
    """

    def __init__(self, size: int):
        self.size = int(size)
        self.buffer: Tensor | None = None
        self.filled = torch.zeros((), dtype=torch.long)

    def allocate(self, batch: int, shape: tuple[int, ...], device: torch.device) -> None:
        if self.size < 2 * batch:
            raise ConfigError(f"cyclegan's image pool ({self.size} fakes) must hold at least two batches of "
                              f"{batch}; pass pool_size >= {2 * batch} (or 0: no pool).")
        self.buffer = torch.zeros(self.size, *shape, device=device)
        self.filled = torch.zeros((), dtype=torch.long, device=device)
        self._slots = torch.arange(self.size, device=device)

    def __call__(self, fake: Tensor) -> Tensor:
        """The fakes to show D for the (detached) batch ``fake``; the pool is updated."""
        fake = fake.detach()
        n = fake.shape[0]
        slots = self.filled + self._slots[:n]
        insert = slots < self.size
        # Distinct random slots among those filled before this batch: random keys, unfilled slots sorted last.
        keys = torch.where(self._slots < self.filled, torch.rand(self.size, device=fake.device), 2.0)
        chosen = keys.argsort()[:n]
        swap = ~insert & (torch.rand(n, device=fake.device) < 0.5)
        target = torch.where(insert, slots.clamp(max=self.size - 1), chosen)
        shape = (n,) + (1,) * (fake.dim() - 1)
        old = self.buffer.index_select(0, target).to(fake.dtype)
        shown = torch.where(swap.view(shape), old, fake)
        kept = torch.where((insert | swap).view(shape), fake, old)
        self.buffer.index_copy_(0, target, kept.to(self.buffer.dtype))
        self.filled.add_(n).clamp_(max=self.size)
        return shown

    def state_dict(self) -> dict[str, Tensor]:
        return {} if self.buffer is None else {"buffer": self.buffer, "filled": self.filled}

    def load_state_dict(self, state: Mapping[str, Tensor], what: str) -> None:
        if not state:
            return
        if self.buffer is None or tuple(state["buffer"].shape) != tuple(self.buffer.shape):
            raise CheckpointError(f"cyclegan: the checkpoint's {what} pool has shape {tuple(state['buffer'].shape)}, "
                                  f"this run's {None if self.buffer is None else tuple(self.buffer.shape)}; resume "
                                  "with the same pool_size and data.")
        self.buffer.copy_(state["buffer"])  # in place: a captured graph keeps its tensors
        self.filled.copy_(state["filled"])


def rebuilt(model: nn.Module, spec: ModelSpec, what: str) -> nn.Module:
    """A fresh model of ``model``'s kind and options for ``spec`` (weights drawn anew by its own initialisation).

    A model whose class cannot be built again from ``(spec, **options)`` (a plugin of earlier releases, a trick's
    wrapper) is deep-copied instead -- it then starts from ``model``'s weights -- when ``spec`` is its own.
    """
    opts = getattr(model, "options", None)
    if opts is not None and attrs.has(type(opts)):
        return type(model)(spec, **attrs.asdict(opts, recurse=False))
    if getattr(model, "spec", None) == spec:
        return copy.deepcopy(model)
    raise IncompatibleError(f"Trick 'cyclegan' cannot build {what} for {spec.data_shape} from "
                            f"'{getattr(model, 'name', type(model).__name__)}' (its class takes no Options); use "
                            "models with Options, such as gen='unet' and disc='patchgan'.")


class CycleGAN(Trick):
    """CycleGAN (Zhu et al. 2017): G_AB and G_BA, D_B and D_A, cycle and identity losses, image pools.

    The run's data set holds unpaired domains: its condition is domain A and
    its samples domain B (``mnist-digits2thick``, ``unpaired-folder``). The
    run's generator is G_AB (A -> B, ``gen="unet"``), its discriminator D_B
    (judges B). The trick builds the second pair in :meth:`modify_models`: G_BA,
    a generator of G's class and options for the swapped spec (condition B,
    samples A), and D_A, a discriminator of D's class and options for A
    (each freshly initialised by its class, from a seed derived from the
    run's); it declares them as networks joined to G's and D's optimizers
    (``cyclegan.g_ba``, ``cyclegan.d_a``), so they are checkpointed, moved,
    averaged under DDP and resumed with the run.

    G's update adds (``network_loss("g_ba")``), with ``A = condition``,
    ``B = data``, ``G_AB(A)`` = the update's fakes:

    * the adversarial loss of G_BA against D_A, with the run's loss: D_A's
      logits on G_BA(B), targets of one per logit;
    * cycle consistency ``cycle_weight * (mean|G_BA(G_AB(A)) - A| + mean|G_AB(G_BA(B)) - B|)``;
    * identity ``identity_weight * cycle_weight * (mean|G_AB(B) - B| + mean|G_BA(A) - A|)``,
      when A and B have the same shape (the paper's 0.5 * lambda).

    D's update adds (``network_loss("d_a")``) D_A's loss, with the run's
    loss, on real A against G_BA(B) of the last G update drawn through an
    image pool; D_B's fakes go through a pool of their own
    (:meth:`fakes_for_disc`). Pools of ``pool_size`` fakes (50, the paper's).
    D_A's loss is not halved (D_B's is not either; Zhu et al. halve both,
    which with Adam only rescales the step's gradient).

    Logged: ``cycle`` (the mean cycle error |G_BA(G_AB(A)) - A| and
    |G_AB(G_BA(B)) - B|, averaged, before weighting) and ``d_a_loss``, of the last step.

    What D_A does not get: the tricks' ``disc_input`` transforms and the
    regularizers act on D_B only.

    Options:
        cycle_weight: lambda of the cycle loss, default 10 (Zhu et al.).
        identity_weight: weight of the identity loss relative to lambda, default 0.5 (0: none).
        pool_size: fakes in each image pool, default 50; 0 shows D the current fakes.
    """

    name = "cyclegan"
    requires_condition = True
    description = "CycleGAN (Zhu et al. 2017): a second generator and discriminator, cycle and identity losses, pools"
    conflicts = ("pix2pix", "pack", "experience_replay")
    progress_keys = ("cycle",)

    @options
    class Options:
        cycle_weight: float = option(10.0, validator=number(0.0), help="Weight of the cycle-consistency loss "
                                                                        "(Zhu et al.: 10).")
        identity_weight: float = option(0.5, validator=number(0.0),
                                        help="Weight of the identity loss, times cycle_weight (Zhu et al.: 0.5; "
                                             "0: none; only when both domains have one shape).")
        pool_size: int = option(50, validator=integer(0), help="Fakes kept in each image pool (Zhu et al.: 50; "
                                                               "0: D sees the current fakes).")

    def __init__(self, **options: Any):
        super().__init__(**options)
        self.g_ba: nn.Module | None = None
        self.d_a: nn.Module | None = None
        self.same_shape = False
        self.pool_b = ImagePool(self.options.pool_size) if self.options.pool_size else None
        self.pool_a = ImagePool(self.options.pool_size) if self.options.pool_size else None
        self.fake_a: Tensor | None = None
        self.cycle = torch.zeros(())
        self.d_a_loss = torch.zeros(())

    # -- setup ---------------------------------------------------------------

    def check_run(self, config: TrainConfig, tricks: Sequence[Trick], loss: Loss,
                  regularizers: Sequence[Regularizer]) -> None:
        if config.conditional:
            raise IncompatibleError("Trick 'cyclegan' translates unpaired images: its fakes' class labels would not "
                                    "be their sources'. Drop conditional=True (--conditional).")
        if self.options.pool_size and self.options.pool_size < 2 * config.batch_size:
            raise ConfigError(f"cyclegan's image pool ({self.options.pool_size} fakes) must hold at least two "
                              f"batches of {config.batch_size}; pass pool_size >= {2 * config.batch_size} (or 0: "
                              "no pool).")

    def adjust_spec(self, spec: ModelSpec) -> ModelSpec:
        image_condition(spec, self.name, "--data mnist-digits2thick or unpaired-folder")
        self.same_shape = tuple(spec.condition_shape) == tuple(spec.data_shape)
        return spec

    def modify_models(self, gen: Generator, disc: Discriminator) -> tuple[Generator, Discriminator]:
        if not getattr(gen, "takes_condition", False):
            raise IncompatibleError(f"Trick 'cyclegan' needs a generator that translates the condition; "
                                    f"'{gen.name}' draws from latents alone. Use gen='unet' (--gen unet).")
        if getattr(disc, "takes_condition", False):
            raise IncompatibleError(f"Trick 'cyclegan' judges each domain alone; '{disc.name}' takes the condition "
                                    "too. Use an unconditional discriminator such as disc='patchgan'.")
        spec = gen.spec
        a, b = tuple(spec.condition_shape), tuple(spec.data_shape)
        spec_ba = attrs.evolve(spec, data_shape=a, disc_input_shape=a, condition_shape=b)
        spec_a = attrs.evolve(disc.spec, data_shape=a, disc_input_shape=a, condition_shape=b)
        with torch.random.fork_rng(devices=[]):  # moves no training RNG: runs with and without stay aligned
            torch.manual_seed(torch.initial_seed() + SEED_OFFSET)
            self.g_ba = rebuilt(gen, spec_ba, "G_BA")
            self.d_a = rebuilt(disc, spec_a, "D_A")
        return gen, disc

    def networks(self, spec: ModelSpec) -> Mapping[str, Network]:
        return {"g_ba": Network(self.g_ba, phase="gen"), "d_a": Network(self.d_a, phase="disc")}

    def setup(self, ctx: TrickContext) -> None:
        batch = ctx.config.batch_size // ctx.world_size
        a = tuple(ctx.spec.condition_shape)
        self.fake_a = torch.zeros(batch, *a, device=ctx.device)
        self.cycle = torch.zeros((), device=ctx.device)
        self.d_a_loss = torch.zeros((), device=ctx.device)
        if self.pool_b is not None:
            self.pool_b.allocate(batch, tuple(ctx.spec.data_shape), ctx.device)
            self.pool_a.allocate(batch, a, ctx.device)

    # -- in-step ------------------------------------------------------------------

    def _translate_ba(self, z: Tensor | None, b: Tensor) -> Tensor:
        return self.g_ba(z, None, condition=b)

    def _d_a(self, x: Tensor) -> Tensor:
        return self.d_a(x, None).float()

    def _pair_context(self, phase: str, real: Tensor, fake: Tensor, real_logits: Tensor | None,
                      fake_logits: Tensor) -> LossContext:
        """D_A's game as a context for the run's loss (one target per logit)."""
        def discriminate(x: Tensor, labels: Tensor | None = None, real: bool = True, condition: Any = None) -> Tensor:
            return self._d_a(x)

        real_t = torch.ones_like(fake_logits if real_logits is None else real_logits)
        return LossContext(real=real, real_labels=None, fake=fake, fake_labels=None, real_logits=real_logits,
                           fake_logits=fake_logits, real_targets=real_t, fake_targets=torch.zeros_like(fake_logits),
                           phase=phase, discriminate=discriminate)

    def fakes_for_disc(self, fake: Tensor, labels: Tensor | None) -> tuple[Tensor, Tensor | None]:
        if self.pool_b is None:
            return fake, labels
        return self.pool_b(fake), labels

    def network_loss(self, name: str, ctx: LossContext) -> Tensor | None:
        return self._generator_terms(ctx) if name == "g_ba" else self._disc_a_loss(ctx)

    def _generator_terms(self, ctx: LossContext) -> Tensor:
        o = self.options
        a, b, fake_b, z = ctx.condition, ctx.data, ctx.fake, ctx.z
        fake_a = self._translate_ba(z, b)
        self.fake_a.copy_(fake_a.detach())
        logits = self._d_a(fake_a)
        real_logits = None
        if ctx.loss.needs_real_logits_in_g:
            with torch.no_grad():
                real_logits = self._d_a(a)
        adversarial = ctx.loss.generator_loss(self._pair_context("gen", a, fake_a, real_logits, logits))
        cycle_a = (self._translate_ba(z, fake_b) - a).abs().mean()
        cycle_b = (ctx.generate(z, condition=fake_a) - b).abs().mean()
        self.cycle.copy_(((cycle_a + cycle_b) / 2).detach())
        total = adversarial + o.cycle_weight * (cycle_a + cycle_b)
        if self.same_shape and o.identity_weight:
            identity = (ctx.generate(z, condition=b) - b).abs().mean() + (self._translate_ba(z, a) - a).abs().mean()
            total = total + o.identity_weight * o.cycle_weight * identity
        return total

    def _disc_a_loss(self, ctx: LossContext) -> Tensor:
        real_a = ctx.condition
        fake_a = self.fake_a[: real_a.shape[0]]
        if self.pool_a is not None:
            fake_a = self.pool_a(fake_a)
        loss = ctx.loss.discriminator_loss(self._pair_context("disc", real_a, fake_a, self._d_a(real_a),
                                                              self._d_a(fake_a)))
        self.d_a_loss.copy_(loss.detach())
        return loss

    # -- host side ----------------------------------------------------------------

    def on_log(self, ctx: TrickContext, step: int, values: dict[str, float]) -> dict[str, float]:
        return {"cycle": float(self.cycle), "d_a_loss": float(self.d_a_loss)}

    def state_dict(self) -> dict[str, Any]:
        state: dict[str, Any] = {}
        if self.fake_a is not None:
            state.update(fake_a=self.fake_a, cycle=self.cycle, d_a_loss=self.d_a_loss)
        if self.pool_b is not None:
            state.update(pool_b=self.pool_b.state_dict(), pool_a=self.pool_a.state_dict())
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if not state:
            return
        if self.fake_a is None or tuple(state["fake_a"].shape) != tuple(self.fake_a.shape):
            raise CheckpointError("cyclegan: the checkpoint's last G_BA(B) batch has another shape than this run's; "
                                  "resume with the same batch size and data.")
        for key in ("fake_a", "cycle", "d_a_loss"):
            getattr(self, key).copy_(state[key])
        if self.pool_b is not None:
            self.pool_b.load_state_dict(state.get("pool_b", {}), "D_B")
            self.pool_a.load_state_dict(state.get("pool_a", {}), "D_A")
