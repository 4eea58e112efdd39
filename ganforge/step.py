"""The GAN training step: one generator update, then ``d_steps`` discriminator updates.

The step is written so it can be captured whole in a CUDA graph: it only
launches device work (no ``.item()``, no host randomness), generates the
fake batch once and reuses it (detached) for the discriminator, and returns
both losses as one device tensor that the Trainer reads only every
``log_every`` steps. Tricks act at the events of
:class:`~ganforge.interfaces.Trick`; only tricks that override an event are
called for it, in the order the user listed them.
"""

from __future__ import annotations

from contextlib import nullcontext
from typing import Any

import torch
from torch import Tensor, nn

from ganforge.interfaces import Discriminator, Generator, Loss, StepBatch, Trick

Batch = tuple[Tensor, "Tensor | None"]


def overriding(tricks: list[Trick], event: str) -> list[Any]:
    """Bound ``event`` methods of the tricks that override it, in order."""
    base = getattr(Trick, event)
    return [getattr(t, event) for t in tricks if getattr(type(t), event) is not base]


def unwrap(module: nn.Module) -> nn.Module:
    """The model inside a DistributedDataParallel or torch.compile wrapper."""
    module = getattr(module, "module", module)  # DDP
    return getattr(module, "_orig_mod", module)  # torch.compile


class GANStep:
    """Callable training step over a list of ``d_steps`` real batches.

    Args:
        gen, disc: The models (possibly DDP- or compile-wrapped).
        loss: The :class:`Loss`.
        opt_g, opt_d: Their optimizers.
        tricks: Enabled tricks, in the user's order.
        batch_size: Samples per batch (targets are preallocated for it).
        latent_dim: Size of ``z``.
        num_classes: Classes for conditional training, else None.
        device: Where everything runs.
        precision: ``"fp32"``, ``"bf16"`` or ``"fp16"``.
        scaler: A ``torch.amp.GradScaler`` for fp16, else None.
        grad_clip: Clip each network's gradient norm to this (None: off).
        skip_nonfinite: Skip an update whose loss is NaN/Inf (reads the loss
            on the host every update, so the step cannot be graphed; under DDP
            every rank skips when any rank's loss is not finite).
        rank, world_size: Data parallelism. ``batch_size`` is then this rank's
            share; latents and fake labels are drawn for the whole global batch
            (``batch_size * world_size``) from an RNG seeded alike on every rank,
            and each rank keeps its own slice, so N processes draw exactly what
            one process would.
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
        precision: str = "fp32",
        scaler: Any = None,
        grad_clip: float | None = None,
        skip_nonfinite: bool = False,
        rank: int = 0,
        world_size: int = 1,
    ):
        self.gen, self.disc, self.loss = gen, disc, loss
        self.opt_g, self.opt_d = opt_g, opt_d
        self.tricks = tricks
        self.latent_dim = latent_dim
        self.num_classes = num_classes
        self.device = device
        self.scaler = scaler
        self.grad_clip = grad_clip
        self.skip_nonfinite = skip_nonfinite
        self.rank, self.world_size = rank, world_size
        #: Steps skipped for a non-finite loss (only counted with skip_nonfinite).
        self.skipped = 0
        self.g_params = [p for g in opt_g.param_groups for p in g["params"]]
        self.d_params = [p for g in opt_d.param_groups for p in g["params"]]
        # In the generator's phase D runs unwrapped: its gradients are not wanted
        # (backward(inputs=...) skips them) and DDP must not wait for them.
        self.disc_for_g = disc.module if isinstance(disc, nn.parallel.DistributedDataParallel) else disc
        self.d_steps = max([t.d_steps for t in tricks if t.d_steps] or [1])
        self.mixed_batches = any(t.mixed_batches for t in tricks)
        self.ones = torch.ones(batch_size, device=device)
        self.zeros = torch.zeros(batch_size, device=device)
        if precision == "fp32" or device.type not in ("cuda", "cpu", "mps"):
            self.autocast = nullcontext
        else:
            dtype = torch.bfloat16 if precision == "bf16" else torch.float16
            # No cast cache: a cached cast made during CUDA-graph capture would go stale on replay.
            self.autocast = lambda: torch.autocast(device.type, dtype=dtype, cache_enabled=False)
        self._latent = overriding(tricks, "latent")
        self._disc_input = overriding(tricks, "disc_input")
        self._fakes_for_disc = overriding(tricks, "fakes_for_disc")
        self._targets = overriding(tricks, "targets")
        self._generator_loss = overriding(tricks, "generator_loss")
        self._extra_loss = overriding(tricks, "extra_loss")
        self._after_backward = overriding(tricks, "after_backward")

    # -- pieces shared with sampling -----------------------------------------

    def sample_latent(self, n: int) -> Tensor:
        """Gaussian latents ``(n, latent_dim)`` on the device, transformed by the tricks."""
        z = torch.randn(n, self.latent_dim, device=self.device)
        for latent in self._latent:
            z = latent(z)
        return z

    def sample_labels(self, n: int) -> Tensor | None:
        """Uniform class labels for the fakes when conditional, else None."""
        if self.num_classes is None:
            return None
        return torch.randint(0, self.num_classes, (n,), device=self.device)

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

    def _disc(self, disc: nn.Module, x: Tensor, labels: Tensor | None, real: bool) -> Tensor:
        return disc(self._prep(x, real), labels).float()

    def _finite_everywhere(self, loss: Tensor) -> bool:
        """True when ``loss`` is finite on every rank (a host sync; one tiny all_reduce under DDP).

        Ranks must agree: one rank skipping a backward pass that the others run
        would leave DDP's gradient all-reduce waiting for it.
        """
        finite = torch.isfinite(loss.detach()).float().reshape(1)
        if self.world_size > 1:
            torch.distributed.all_reduce(finite, op=torch.distributed.ReduceOp.MIN)
        return bool(finite.item())

    def _backward(self, loss: Tensor, params: list[Tensor], opt: torch.optim.Optimizer, net: str, module: nn.Module) -> None:
        if self.skip_nonfinite and not self._finite_everywhere(loss):
            self.skipped += 1
            return
        if self.scaler is not None:
            self.scaler.scale(loss).backward(inputs=params)
        else:
            loss.backward(inputs=params)
        for hook in self._after_backward:
            hook(net, module)
        if self.grad_clip is not None:
            if self.scaler is not None:
                self.scaler.unscale_(opt)
            torch.nn.utils.clip_grad_norm_(params, self.grad_clip, foreach=True)
        if self.scaler is not None:
            # update() after every optimizer step, not once per training step: with d_steps > 1 (or
            # extra D updates) an optimizer steps again before the next update(), and unscale_()
            # (for grad_clip) may only run once per optimizer between updates.
            self.scaler.step(opt)
            self.scaler.update()
        else:
            opt.step()

    def _extra(self, net: str, batch: StepBatch, total: Tensor) -> Tensor:
        for extra in self._extra_loss:
            term = extra(net, batch)
            if term is not None:
                total = total + term
        return total

    # -- the two updates -------------------------------------------------------

    def generator_update(self, real: Tensor, real_labels: Tensor | None) -> tuple[Tensor, Tensor, Tensor | None]:
        """Update G once; return its loss and the (detached) fakes with their labels."""
        n = real.shape[0]
        self.opt_g.zero_grad(set_to_none=True)
        with self.autocast():
            z = self._shard(self.sample_latent(n * self.world_size), n)
            fake_labels = self._shard(self.sample_labels(n * self.world_size), n)
            fake = self.gen(z, fake_labels)
            logits = self._disc(self.disc_for_g, fake, fake_labels, real=False)
            ones, zeros = self.ones[:n], self.zeros[:n]
            g_loss = None
            for replace in self._generator_loss:
                g_loss = replace(self.loss, logits, ones, zeros)
                if g_loss is not None:
                    break
            if g_loss is None:
                g_loss = self.loss.g_loss(logits, ones, zeros)
            if self._extra_loss:
                g_loss = self._extra("gen", StepBatch(real, real_labels, fake, fake_labels, None, logits), g_loss)
        self._backward(g_loss, self.g_params, self.opt_g, "gen", self.gen)
        return g_loss.detach(), fake.detach(), fake_labels

    def discriminator_update(
        self, real: Tensor, real_labels: Tensor | None, fake: Tensor, fake_labels: Tensor | None
    ) -> Tensor:
        """Update D once on a real and a fake batch; return its loss."""
        for choose in self._fakes_for_disc:
            fake, fake_labels = choose(fake, fake_labels)
        self.opt_d.zero_grad(set_to_none=True)
        with self.autocast():
            if self.mixed_batches:
                x = torch.cat([self._prep(real, True), self._prep(fake, False)])
                labels = None if real_labels is None or fake_labels is None else torch.cat([real_labels, fake_labels])
                logits = self.disc(x, labels).float()
                real_logits, fake_logits = logits[: real.shape[0]], logits[real.shape[0] :]
            else:
                real_logits = self._disc(self.disc, real, real_labels, real=True)
                fake_logits = self._disc(self.disc, fake, fake_labels, real=False)
            real_t, fake_t = self.ones[: real.shape[0]], self.zeros[: fake.shape[0]]
            for targets in self._targets:
                real_t, fake_t = targets(real_t, fake_t)
            d_loss = self.loss.d_loss(real_logits, fake_logits, real_t, fake_t)
            if self._extra_loss:
                batch = StepBatch(real, real_labels, fake, fake_labels, real_logits, fake_logits)
                d_loss = self._extra("disc", batch, d_loss)
        self._backward(d_loss, self.d_params, self.opt_d, "disc", self.disc)
        return d_loss.detach()

    def fresh_fakes(self, n: int) -> tuple[Tensor, Tensor | None]:
        """A new detached fake batch (for discriminator updates after the first)."""
        with torch.no_grad(), self.autocast():
            labels = self._shard(self.sample_labels(n * self.world_size), n)
            return self.gen(self._shard(self.sample_latent(n * self.world_size), n), labels), labels

    def __call__(self, batches: list[Batch]) -> Tensor:
        """Run one step over ``d_steps`` real batches; return ``[g_loss, d_loss]`` on the device.

        ``d_loss`` is the mean over the discriminator updates.
        """
        real, real_labels = batches[0]
        g_loss, fake, fake_labels = self.generator_update(real, real_labels)
        d_total = self.discriminator_update(real, real_labels, fake, fake_labels)
        for real, real_labels in batches[1:]:
            fake, fake_labels = self.fresh_fakes(real.shape[0])
            d_total = d_total + self.discriminator_update(real, real_labels, fake, fake_labels)
        return torch.stack([g_loss.float(), d_total.float() / len(batches)])
