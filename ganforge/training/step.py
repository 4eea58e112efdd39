"""The GAN training step: one generator update, then ``d_steps`` discriminator updates.

The step is written so it can be captured whole in a CUDA graph: it only
launches device work (no ``.item()``, no host randomness), generates the
fake batch once and reuses it (detached) for the discriminator, keeps its
step count, learning-rate schedules and generator EMA in device tensors, and
returns both losses as one device tensor that the Trainer reads only every
``log_every`` steps. Tricks act at the events of
:class:`~ganforge.interfaces.Trick`; only tricks that override an event are
called for it, in the order the user listed them. Losses and regularizers
receive a :class:`~ganforge.interfaces.LossContext`.

Beyond G(z) against data, the step carries: a data set's *condition* (split
from each stored batch; a generator that ``takes_condition`` receives it in
every call), the latents and conditions that made each update's fakes (in the
context), and the further *networks* tricks declare (:class:`~ganforge.interfaces.Network`):
their losses join G's or D's update, or step their own optimizers.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from ganforge.interfaces import (
    Discriminator,
    Generator,
    Loss,
    LossContext,
    Regularizer,
    Trick,
)
from ganforge.training.ema import GeneratorEMA
from ganforge.training.precision import Precision
from ganforge.training.schedules import LRSchedule

Batch = tuple[Tensor, "Tensor | None"]


def overriding(plugins: Sequence[Any], event: str, base: type = Trick) -> list[Any]:
    """Bound ``event`` methods of the plugins that override ``base``'s, in order."""
    default = getattr(base, event)
    return [getattr(p, event) for p in plugins if getattr(type(p), event) is not default]


def unwrap(module: nn.Module) -> nn.Module:
    """The model inside a DistributedDataParallel or torch.compile wrapper."""
    module = getattr(module, "module", module)  # DDP
    return getattr(module, "_orig_mod", module)  # torch.compile


class OwnedNetwork:
    """A network a trick declared (:class:`~ganforge.interfaces.Network`), as the step trains it."""

    def __init__(self, owner: Trick, name: str, module: nn.Module, phase: str, opt: torch.optim.Optimizer | None):
        self.owner, self.name, self.module, self.phase, self.opt = owner, name, module, phase, opt
        #: ``trick.name``: how the run's first line, config.json and checkpoints name it.
        self.qualified = f"{owner.name}.{name}"
        self.params = [p for p in module.parameters() if p.requires_grad]

    @property
    def own(self) -> bool:
        """True when it steps its own optimizer (else its parameters joined G's or D's)."""
        return self.opt is not None

    def describe(self) -> str:
        how = "own optimizer" if self.own else f"joined to {'G' if self.phase == 'gen' else 'D'}"
        return f"{self.qualified} ({how}, {sum(p.numel() for p in self.params):,} parameters)"


class GANStep:
    """Callable training step over a list of real batches (one per discriminator update).

    Args:
        gen, disc: The models (possibly DDP- or compile-wrapped).
        loss: The :class:`Loss`.
        opt_g, opt_d: Their optimizers.
        tricks: Enabled tricks, in the user's order.
        batch_size: Samples per batch (targets are preallocated for it).
        latent_dim: Size of ``z``.
        num_classes: Classes for conditional training, else None.
        device: Where everything runs.
        attribute_table: Attribute-conditional training: the data's attribute rows ``(N, k)`` on the device
            (the fakes' labels are drawn from them); None otherwise.
        precision: A :class:`~ganforge.training.precision.Precision` (autocast,
            loss scaling, backward, optimizer step), or its name (``"fp32"``,
            ``"bf16"``, ``"fp16"``).
        scaler: With a precision name: a ``torch.amp.GradScaler`` to use instead of the one it makes.
        grad_clip: Clip each network's gradient norm to this (None: off).
        skip_nonfinite: Skip an update whose loss is NaN/Inf (reads the loss
            on the host every update, so the step cannot be graphed; under DDP
            every rank skips when any rank's loss is not finite).
        rank, world_size: Data parallelism. ``batch_size`` is then this rank's
            share; latents and fake labels are drawn for the whole global batch
            (``batch_size * world_size``) from an RNG seeded alike on every rank,
            and each rank keeps its own slice, so N processes draw exactly what
            one process would.
        regularizers: Enabled regularizers, in the configured order.
        ema: The generator's weight average, updated after each G update, or None.
        schedules: Learning-rate and hyper-parameter schedules (``apply(step_count)``), applied at the start of
            every step.
        split_condition: The data set's ``split_condition`` when it offers a
            condition (each stored batch is split into samples and conditions), else None.
        gen_takes_condition: The generator is called with ``condition=``.
        networks: The tricks' further networks (joined ones' parameters are
            already in ``opt_g``/``opt_d``).
    """

    def __init__(
        self,
        *,
        gen: Generator,
        disc: Discriminator,
        loss: Loss,
        opt_g: torch.optim.Optimizer,
        opt_d: torch.optim.Optimizer,
        tricks: list[Trick],
        batch_size: int,
        latent_dim: int,
        num_classes: int | None,
        device: torch.device,
        attribute_table: Tensor | None = None,
        precision: Precision | str = "fp32",
        scaler: Any = None,
        grad_clip: float | None = None,
        skip_nonfinite: bool = False,
        rank: int = 0,
        world_size: int = 1,
        regularizers: Sequence[Regularizer] = (),
        ema: GeneratorEMA | None = None,
        schedules: Sequence[LRSchedule] = (),
        split_condition: Callable[[Tensor], tuple[Tensor, Tensor]] | None = None,
        gen_takes_condition: bool = False,
        networks: Sequence[OwnedNetwork] = (),
    ):
        self.gen, self.disc, self.loss = gen, disc, loss
        self.opt_g, self.opt_d = opt_g, opt_d
        self.tricks = tricks
        self.latent_dim = latent_dim
        self.num_classes = num_classes
        #: For attribute-conditional training, the data's attribute rows ``(N, k)`` (uint8, on the device): the
        #: fakes' labels are rows drawn from it. None otherwise.
        self.attribute_table = attribute_table
        self.device = device
        if not isinstance(precision, Precision):
            precision = Precision(precision, device)
            if scaler is not None:
                precision.scaler = scaler
        #: The run's arithmetic: autocast, gradient scaling, backward and optimizer steps.
        self.precision = precision
        self.grad_clip = grad_clip
        self.skip_nonfinite = skip_nonfinite
        self.rank, self.world_size = rank, world_size
        self.regularizers = list(regularizers)
        self.ema = ema
        self.schedules = list(schedules)
        self.split_condition = split_condition
        self.gen_takes_condition = gen_takes_condition
        self.networks = {phase: [n for n in networks if n.phase == phase] for phase in ("gen", "disc")}
        # Joined networks' parameters sit in G's or D's optimizer but outside the DDP wrapper: averaged by hand.
        self._joined_params = {phase: [p for n in nets if not n.own for p in n.params]
                               for phase, nets in self.networks.items()}
        #: Steps skipped for a non-finite loss (only counted with skip_nonfinite).
        self.skipped = 0
        #: Steps done, on the device (schedules and lazy terms read it there); the Trainer sets it on resume.
        self.step_count = torch.zeros((), dtype=torch.int64, device=device)
        self.g_params = [p for g in opt_g.param_groups for p in g["params"]]
        self.d_params = [p for g in opt_d.param_groups for p in g["params"]]
        # In the generator's phase D runs unwrapped: its gradients are not wanted
        # (backward(inputs=...) skips them) and DDP must not wait for them.
        self.disc_for_g = disc.module if isinstance(disc, nn.parallel.DistributedDataParallel) else disc
        self.gen_module, self.disc_module = unwrap(gen), unwrap(disc)
        self.disc_takes_condition = bool(getattr(self.disc_module, "takes_condition", False))
        # Lazy penalties run D without the DDP wrapper (gradients averaged by hand), compiled or not.
        self.disc_module_for_penalty = self.disc_for_g
        #: Discriminator updates per step unless a trick's ``d_steps_at`` says otherwise.
        self.d_steps = max([t.d_steps for t in tricks if t.d_steps] or [1])
        self.mixed_batches = any(t.mixed_batches for t in tricks)
        self.ones = torch.ones(batch_size, device=device)
        self.zeros = torch.zeros(batch_size, device=device)
        self.autocast = self.precision.autocast
        self._real_batch = overriding(tricks, "real_batch")
        self._latent = overriding(tricks, "latent")
        self._disc_input = overriding(tricks, "disc_input")
        self._fakes_for_disc = overriding(tricks, "fakes_for_disc")
        self._compared = overriding(tricks, "compared")
        self._targets = overriding(tricks, "targets")
        self._generator_loss = overriding(tricks, "generator_loss")
        self._extra_loss = overriding(tricks, "extra_loss")
        self._observe = overriding(tricks, "observe")
        self._after_backward = overriding(tricks, "after_backward")
        self._after_optimizer_step = overriding(tricks, "after_optimizer_step")
        self._penalties = {net: [r for r in self.regularizers if r.net == net and r.every == 1]
                           for net in ("gen", "disc")}
        #: Regularizers applied lazily (``every`` > 1), in a separate update after every k-th step.
        self.lazy = [r for r in self.regularizers if r.every > 1]

    # -- pieces shared with sampling -----------------------------------------

    def sample_latent(self, n: int) -> Tensor:
        """Gaussian latents ``(n, latent_dim)`` on the device, transformed by the tricks."""
        z = torch.randn(n, self.latent_dim, device=self.device)
        for latent in self._latent:
            z = latent(z)
        return z

    def sample_labels(self, n: int) -> Tensor | None:
        """Labels for ``n`` fakes when conditional, else None: uniform class indices, or attribute rows drawn
        uniformly from the data's own rows (float ``(n, k)``)."""
        if self.attribute_table is not None:
            rows = torch.randint(0, self.attribute_table.shape[0], (n,), device=self.device)
            return self.attribute_table.index_select(0, rows).float()
        if self.num_classes is None:
            return None
        return torch.randint(0, self.num_classes, (n,), device=self.device)

    def real_batch(self, x: Tensor) -> Tensor:
        """A real batch as the models see it: the tricks' ``real_batch`` transforms applied."""
        for transform in self._real_batch:
            x = transform(x)
        return x

    def split(self, x: Tensor) -> tuple[Tensor, Tensor | None]:
        """A stored batch split into samples and the generator's conditions (None without a condition)."""
        if self.split_condition is None:
            return x, None
        return self.split_condition(x)

    def generate(self, gen: nn.Module, z: Tensor, labels: Tensor | None, condition: Tensor | None) -> Tensor:
        """Run ``gen``; a generator that takes the data's condition gets ``condition=``."""
        if self.gen_takes_condition:
            return gen(z, labels, condition=condition)
        return gen(z, labels)

    def _generate_fn(self, gen: nn.Module, grad: bool):
        """The ``generate(z, labels, condition)`` callable of a :class:`LossContext`."""

        def generate(z: Tensor, labels: Tensor | None = None, condition: Tensor | None = None) -> Tensor:
            with torch.set_grad_enabled(grad and torch.is_grad_enabled()):
                return self.generate(gen, z, labels, condition)

        return generate

    def _shard(self, x: Tensor | None, n: int) -> Tensor | None:
        """This rank's ``n`` rows of a global draw (``x`` itself in a single process)."""
        if x is None or self.world_size == 1:
            return x
        return x[self.rank * n : (self.rank + 1) * n]

    def _prep(self, x: Tensor, real: bool) -> Tensor:
        """Apply the tricks' discriminator-input transforms (e.g. instance noise)."""
        for transform in self._disc_input:
            x = transform(x, real)
        return x

    def _disc(self, disc: nn.Module, x: Tensor, labels: Tensor | None, real: bool,
              condition: Tensor | None = None) -> Tensor:
        if self.disc_takes_condition:
            return disc(self._prep(x, real), labels, condition=condition).float()
        return disc(self._prep(x, real), labels).float()

    def _discriminate(self, disc: nn.Module, condition: Tensor | None = None):
        """The ``discriminate(x, labels, real)`` callable of a :class:`LossContext` (a discriminator that takes
        the condition gets the update's, unless ``condition=`` is given)."""

        def discriminate(x: Tensor, labels: Tensor | None = None, real: bool = True,
                         condition: Tensor | None = condition) -> Tensor:
            return self._disc(disc, x, labels, real, condition)

        return discriminate

    def _sides(self, phase: str, real: Tensor, fake: Tensor, labels: tuple[Tensor | None, Tensor | None],
               z: Tensor | None, condition: Tensor | None, grad: bool) -> tuple[Tensor, Tensor]:
        """What D compares in this update: the tricks' ``compared`` choice, else the real batch against the fakes."""
        if not self._compared:
            return real, fake
        probe = LossContext(real, labels[0], fake, labels[1], phase=phase, step=self.step_count, z=z,
                            condition=condition, generate=self._generate_fn(self.gen, grad=grad), loss=self.loss,
                            data=real)
        for pick in self._compared:
            chosen = pick(phase, real, fake, probe)
            if chosen is not None:
                real_side, fake_side = chosen
                return real_side, (fake_side if grad else fake_side.detach())
        return real, fake

    def _finite_everywhere(self, loss: Tensor) -> bool:
        """True when ``loss`` is finite on every rank (a host sync; one tiny all_reduce under DDP).

        Ranks must agree: one rank skipping a backward pass that the others run
        would leave DDP's gradient all-reduce waiting for it.
        """
        finite = torch.isfinite(loss.detach()).float().reshape(1)
        if self.world_size > 1:
            torch.distributed.all_reduce(finite, op=torch.distributed.ReduceOp.MIN)
        return bool(finite.item())

    def _average_gradients(self, params: list[Tensor]) -> None:
        """Average the gradients that exist across the ranks (every rank has the same ones: same graph)."""
        grads = [p.grad for p in params if p.grad is not None]
        if not grads:
            return
        flat = torch.cat([g.reshape(-1) for g in grads])
        torch.distributed.all_reduce(flat)
        flat.div_(self.world_size)
        offset = 0
        for g in grads:
            g.copy_(flat[offset : offset + g.numel()].view_as(g))
            offset += g.numel()

    @staticmethod
    def _zero_grad(params: list[Tensor]) -> None:
        # What Optimizer.zero_grad(set_to_none=True) does, written out: it also traces in torch.compile.
        for p in params:
            p.grad = None

    @property
    def scaler(self) -> Any:
        """The fp16 run's ``torch.amp.GradScaler`` (:attr:`precision`'s), else None."""
        return self.precision.scaler

    def optimizer_step(self, opt: torch.optim.Optimizer) -> None:
        """One optimizer step (a method of its own so tests can trace the step with a functional optimizer)."""
        opt.step()

    def _backward(self, loss: Tensor, params: list[Tensor], opt: torch.optim.Optimizer, net: str,
                  module: nn.Module, average_across_ranks: bool = False, partial: bool = False) -> None:
        if self.skip_nonfinite and not self._finite_everywhere(loss):
            self.skipped += 1
            return
        self.precision.backward(loss, params, partial=average_across_ranks or partial)
        if average_across_ranks:
            self._average_gradients(params)
        elif self.world_size > 1 and net in self._joined_params and self._joined_params[net]:
            self._average_gradients(self._joined_params[net])  # outside the DDP wrapper: its reducer skips them
        for hook in self._after_backward:
            hook(net, module)
        self._clip_and_step(opt, params)
        model = self.gen_module if net == "gen" else self.disc_module
        for hook in self._after_optimizer_step:
            hook(net, model)
        if net == "gen" and self.ema is not None and not partial:
            self.ema.update()  # once per training step: a lazy G penalty's own update joins it at the next one

    def _add_terms(self, net: str, ctx: LossContext, total: Tensor) -> tuple[Tensor, list[tuple[OwnedNetwork, Tensor]]]:
        """``total`` plus the regularizers' penalties, the tricks' extra terms and the joined networks' losses
        for ``net``; then ``observe``. Also the own-optimizer networks' losses of this update."""
        for reg in self._penalties[net]:
            total = total + reg.penalty(ctx)
        for extra in self._extra_loss:
            term = extra(net, ctx)
            if term is not None:
                total = total + term
        own = []
        for owned in self.networks[net]:
            term = owned.owner.network_loss(owned.name, ctx)
            if term is None:
                continue
            if owned.own:
                own.append((owned, term))
            else:
                total = total + term
        for observe in self._observe:
            observe(ctx)
        return total, own

    def _own_gradients(self, own: list[tuple[OwnedNetwork, Tensor]]) -> None:
        """Gradients of the own-optimizer networks' losses, each into its own parameters only.

        Taken before the phase's backward pass, which frees the graph they share, and before any optimizer
        steps (an optimizer step changes weights that these graphs still need).
        """
        for owned, term in own:
            self._zero_grad(owned.params)
            self.precision.backward(term, owned.params, retain_graph=True)  # into its own parameters only
            if self.world_size > 1:
                self._average_gradients(owned.params)

    def _own_steps(self, own: list[tuple[OwnedNetwork, Tensor]]) -> None:
        for owned, _ in own:
            self._clip_and_step(owned.opt, owned.params)

    def _clip_and_step(self, opt: torch.optim.Optimizer, params: list[Tensor]) -> None:
        if self.grad_clip is not None:
            self.precision.unscale(opt)
            torch.nn.utils.clip_grad_norm_(params, self.grad_clip, foreach=True)
        self.precision.step(opt, self.optimizer_step)

    def _targets_for(self, logits: Tensor) -> tuple[Tensor, Tensor]:
        """Targets shaped like ``logits``: one per logit (a PatchGAN's patches, a pack of samples' one)."""
        # Fresh tensors every update: a trick editing its targets in place cannot reach later updates.
        n = logits.shape[0]
        if logits.dim() == 1:
            return self.ones[:n].clone(), self.zeros[:n].clone()
        return torch.ones_like(logits), torch.zeros_like(logits)

    # -- the updates -------------------------------------------------------------

    def generator_update(self, real: Tensor, real_labels: Tensor | None,
                         condition: Tensor | None = None) -> tuple[Tensor, Tensor, Tensor | None]:
        """Update G once; return its loss and the (detached) fakes with their labels.

        The latents and the fakes it makes are kept in :attr:`last_z` for the discriminator's update.
        """
        n = real.shape[0]
        self._zero_grad(self.g_params)
        with self.autocast():
            z = self._shard(self.sample_latent(n * self.world_size), n)
            fake_labels = self._shard(self.sample_labels(n * self.world_size), n)
            made = self.generate(self.gen, z, fake_labels, condition)
            data = real
            real, fake = self._sides("gen", real, made, (real_labels, fake_labels), z, condition, grad=True)
            logits = self._disc(self.disc_for_g, fake, fake_labels, False, condition)
            real_logits = None
            if self.loss.needs_real_logits_in_g:
                with torch.no_grad():  # D's view of the reals: no gradient reaches G through it
                    real_logits = self._disc(self.disc_for_g, real, real_labels, True, condition)
            ones, zeros = self._targets_for(logits)  # one per logit (a pack of samples gets one)
            ctx = LossContext(real, real_labels, fake, fake_labels, real_logits, logits, ones, zeros, phase="gen",
                              discriminate=self._discriminate(self.disc_for_g, condition), step=self.step_count, z=z,
                              condition=condition, generate=self._generate_fn(self.gen, grad=True), loss=self.loss,
                              data=data)
            g_loss = None
            for replace in self._generator_loss:
                g_loss = replace(self.loss, logits, ones, zeros)
                if g_loss is not None:
                    break
            if g_loss is None:
                g_loss = self.loss.generator_loss(ctx)
            g_loss, own = self._add_terms("gen", ctx, g_loss)
        self._own_gradients(own)
        self._backward(g_loss, self.g_params, self.opt_g, "gen", self.gen)
        self._own_steps(own)
        self.last_z = z.detach()
        return g_loss.detach(), made.detach(), fake_labels

    #: The latents of the last generator update (the discriminator's first update sees them in its context).
    last_z: Tensor | None = None

    def discriminator_update(
        self, real: Tensor, real_labels: Tensor | None, fake: Tensor, fake_labels: Tensor | None,
        condition: Tensor | None = None, z: Tensor | None = None,
    ) -> Tensor:
        """Update D once on a real and a fake batch (made from ``z`` and ``condition``); return its loss."""
        for choose in self._fakes_for_disc:
            fake, fake_labels = choose(fake, fake_labels)
        if self._fakes_for_disc:
            z = None  # the fakes may no longer be the ones z made
        self._zero_grad(self.d_params)
        with self.autocast():
            data = real
            real, fake = self._sides("disc", real, fake, (real_labels, fake_labels), z, condition, grad=False)
            if self.mixed_batches:
                x = torch.cat([self._prep(real, True), self._prep(fake, False)])
                labels = None if real_labels is None or fake_labels is None else torch.cat([real_labels, fake_labels])
                if self.disc_takes_condition:
                    logits = self.disc(x, labels, condition=torch.cat([condition, condition])).float()
                else:
                    logits = self.disc(x, labels).float()
                real_logits, fake_logits = logits[: real.shape[0]], logits[real.shape[0] :]
            else:
                real_logits = self._disc(self.disc, real, real_labels, True, condition)
                fake_logits = self._disc(self.disc, fake, fake_labels, False, condition)
            real_t, _ = self._targets_for(real_logits)
            _, fake_t = self._targets_for(fake_logits)
            for targets in self._targets:
                real_t, fake_t = targets(real_t, fake_t)
            ctx = LossContext(real, real_labels, fake, fake_labels, real_logits, fake_logits, real_t, fake_t,
                              phase="disc", discriminate=self._discriminate(self.disc, condition), step=self.step_count, z=z,
                              condition=condition, generate=self._generate_fn(self.gen, grad=False), loss=self.loss,
                              data=data)
            d_loss, own = self._add_terms("disc", ctx, self.loss.discriminator_loss(ctx))
        self._own_gradients(own)
        self._backward(d_loss, self.d_params, self.opt_d, "disc", self.disc)
        self._own_steps(own)
        return d_loss.detach()

    def regularization_update(self, reg: Regularizer, real: Tensor, real_labels: Tensor | None,
                              condition: Tensor | None = None) -> Tensor:
        """One lazy-regularization update (Karras et al. 2020): ``every * penalty`` alone, for ``reg.net``.

        The penalty's context holds ``real`` and fresh fakes (attached to G's
        graph for a generator penalty, detached otherwise), no logits: the
        penalty runs D itself through ``ctx.discriminate``. Parameters the
        penalty does not reach (a last layer's bias, for a gradient penalty)
        get no gradient and are left alone by the optimizer, as in StyleGAN2.
        Under DDP the networks run unwrapped here and the gradients that exist
        are averaged across ranks by hand: DDP's reducer would wait for the
        missing ones.
        """
        gen_net = reg.net == "gen"
        fake, fake_labels, z = self._draw_fakes(real.shape[0], grad=gen_net, condition=condition)
        data = real
        real, fake = self._sides(reg.net, real, fake, (real_labels, fake_labels), z, condition, grad=gen_net)
        params, opt = (self.g_params, self.opt_g) if gen_net else (self.d_params, self.opt_d)
        wrapped = self.gen if gen_net else self.disc
        self._zero_grad(params)
        with self.autocast():
            ones, zeros = self.ones[: real.shape[0]].clone(), self.zeros[: real.shape[0]].clone()
            disc = self.disc_for_g if gen_net else self.disc_module_for_penalty
            ctx = LossContext(real, real_labels, fake, fake_labels, None, None, ones, zeros, phase=reg.net,
                              discriminate=self._discriminate(disc, condition), step=self.step_count, z=z,
                              condition=condition, data=data,
                              generate=self._generate_fn(self.gen, grad=gen_net), loss=self.loss)
            term = reg.penalty(ctx) * reg.every
        self._backward(term, params, opt, reg.net, wrapped, partial=True,
                       average_across_ranks=isinstance(wrapped, nn.parallel.DistributedDataParallel))
        return term.detach()

    def _draw_fakes(self, n: int, grad: bool, condition: Tensor | None = None) -> tuple[Tensor, Tensor | None, Tensor]:
        with torch.set_grad_enabled(grad), self.autocast():
            labels = self._shard(self.sample_labels(n * self.world_size), n)
            z = self._shard(self.sample_latent(n * self.world_size), n)
            return self.generate(self.gen, z, labels, condition), labels, z

    def fresh_fakes(self, n: int, condition: Tensor | None = None) -> tuple[Tensor, Tensor | None]:
        """A new detached fake batch (for discriminator updates after the first), conditioned on ``condition``."""
        fake, labels, _ = self._draw_fakes(n, grad=False, condition=condition)
        return fake, labels

    def prepare(self, x: Tensor, y: Tensor | None) -> tuple[Tensor, Tensor | None, Tensor | None]:
        """A stored real batch as the updates use it: ``(real, labels, condition)``."""
        real, condition = self.split(x)
        if y is not None and self.attribute_table is not None:
            y = y.float()  # attribute rows: the models embed them as float vectors
        return self.real_batch(real), y, condition

    def __call__(self, batches: list[Batch], lazy: Sequence[int] = (), d_updates: int | None = None) -> Tensor:
        """Run one step; return ``[g_loss, d_loss]`` on the device.

        Args:
            batches: One real batch per discriminator update (their count is
                this step's ``d_steps``); the generator update uses the first.
            lazy: Indices into :attr:`lazy` of the regularizers due after this
                step (the Trainer decides from the step number).
            d_updates: 0 for a step without discriminator updates (a trick's
                ``d_steps_at`` returned 0: a generator-only warm-up); the one
                batch given then serves G's update alone. Default: one per batch.

        ``d_loss`` is the mean over the discriminator updates (lazy
        regularization updates are not part of it; 0 when there were none).
        """
        for schedule in self.schedules:
            schedule.apply(self.step_count)
        reals = [self.prepare(x, y) for x, y in batches]
        real, real_labels, condition = reals[0]
        g_loss, fake, fake_labels = self.generator_update(real, real_labels, condition)
        if d_updates == 0:
            d_mean = torch.zeros((), device=self.device)
        else:
            d_total = self.discriminator_update(real, real_labels, fake, fake_labels, condition, z=self.last_z)
            for real_i, labels_i, condition_i in reals[1:]:
                fake, fake_labels, z_i = self._draw_fakes(real_i.shape[0], grad=False, condition=condition_i)
                d_total = d_total + self.discriminator_update(real_i, labels_i, fake, fake_labels, condition_i, z=z_i)
            d_mean = d_total.float() / len(reals)
        for i in lazy:
            self.regularization_update(self.lazy[i], real, real_labels, condition)
        self.step_count.add_(1)
        return torch.stack([g_loss.float(), d_mean.float()])
