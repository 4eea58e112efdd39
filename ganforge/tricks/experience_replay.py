"""ganhacks #8: experience replay of past fakes for the discriminator."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor

from ganforge.errors import CheckpointError, ConfigError
from ganforge.interfaces import Trick
from ganforge.options import integer, number, option, optional, options

if TYPE_CHECKING:  # pragma: no cover
    from ganforge.interfaces import TrickContext


class ExperienceReplay(Trick):
    """Part of every fake batch D trains on comes from a buffer of past fakes (ganhacks #8).

    ganhacks #8: "keep a replay buffer of past generations and occasionally
    show them". Shrivastava et al. 2017 (SimGAN, section 2.3) train D on
    batches that are half current and half past refined images so that D
    keeps rejecting what G produced before and G cannot cycle back to it.

    Mechanics (event ``fakes_for_disc``, once per discriminator update):

    * The first ``round(fraction * B)`` fakes of the batch are replaced by
      fakes drawn uniformly, with replacement, from the buffer (and their
      class labels, in conditional training). Until the buffer holds
      anything the batch stays fresh.
    * Then the whole fresh batch (detached) is written into the buffer, a
      ring that keeps the ``size`` most recent fakes (first in, first out).

    Everything stays on the device: the buffer, the write position and the
    fill count are device tensors updated in place, indices come from
    ``torch.rand`` on the device and no value is read on the host, so the step
    can be captured in a CUDA graph. The buffer, its labels, the position and
    the count are saved in checkpoints (``size`` fakes of one sample's shape,
    float32: 2048 MNIST samples take 6.4 MB).

    Options:
        size: Buffer capacity in samples; default None: 32 batches
            (``32 * batch_size``), our choice: fakes up to 32 steps old
            (SimGAN does not fix a size; ganhacks gives none). Must be at
            least the batch size.
        fraction: Share of each fake batch taken from the buffer, default 0.5
            (SimGAN's half-and-half), in [0, 1].
    """

    name = "experience_replay"
    description = "Half of each D fake batch drawn from a ring buffer of past fakes (32 batches)"
    ganhacks = 8

    @options
    class Options:
        size: int | None = option(None, validator=optional(integer(1)),
                                  help="Buffer capacity in samples, at least the batch size (None: 32 batches).")
        fraction: float = option(0.5, validator=number(0.0, 1.0), help="Share of each fake batch drawn from the "
                                                                        "buffer, in [0, 1].")

    def __init__(self, **options: Any):
        super().__init__(**options)
        #: Buffer capacity in samples: the option, or 32 batches once allocated.
        self.size: int | None = self.options.size
        self.buffer: Tensor | None = None
        self.labels: Tensor | None = None
        #: Next write position and number of stored fakes (0-d int64 device tensors).
        self.cursor = torch.zeros((), dtype=torch.long)
        self.filled = torch.zeros((), dtype=torch.long)

    def allocate(self, batch_size: int, shape: tuple[int, ...], device: torch.device, conditional: bool) -> None:
        """Create the empty buffer for fakes of ``shape`` (called by :meth:`setup`)."""
        if self.size is None:
            self.size = 32 * batch_size
        if self.size < batch_size:
            raise ConfigError(
                f"experience_replay 'size' ({self.size}) must be at least the batch size ({batch_size}); "
                f"use size >= {batch_size} or leave it unset (32 batches)."
            )
        self.buffer = torch.zeros(self.size, *shape, device=device)
        self.labels = torch.zeros(self.size, dtype=torch.long, device=device) if conditional else None
        self.cursor = torch.zeros((), dtype=torch.long, device=device)
        self.filled = torch.zeros((), dtype=torch.long, device=device)
        self._slots = torch.arange(batch_size, device=device)

    def setup(self, ctx: TrickContext) -> None:
        self.allocate(ctx.config.batch_size, tuple(ctx.spec.data_shape), ctx.device, ctx.spec.num_classes is not None)

    def fakes_for_disc(self, fake: Tensor, labels: Tensor | None) -> tuple[Tensor, Tensor | None]:
        if self.buffer is None:
            raise ConfigError("experience_replay: call setup() (or allocate()) before the first step.")
        n = fake.shape[0]
        k = min(n, int(math.floor(self.options.fraction * n + 0.5)))
        out, out_labels = fake, labels
        if k > 0:
            # Uniform indices in [0, filled); with an empty buffer they are 0 and unused.
            idx = (torch.rand(k, device=fake.device) * self.filled).long().clamp_(max=self.size - 1)
            has = self.filled > 0
            replay = self.buffer.index_select(0, idx).to(fake.dtype)
            out = torch.cat([torch.where(has, replay, fake[:k]), fake[k:]])
            if labels is not None and self.labels is not None:
                replay_labels = self.labels.index_select(0, idx)
                out_labels = torch.cat([torch.where(has, replay_labels, labels[:k]), labels[k:]])
        pos = (self.cursor + self._slots[:n]) % self.size
        self.buffer.index_copy_(0, pos, fake.detach().to(self.buffer.dtype))
        if labels is not None and self.labels is not None:
            self.labels.index_copy_(0, pos, labels)
        self.cursor.add_(n).remainder_(self.size)
        self.filled.add_(n).clamp_(max=self.size)
        return out, out_labels

    def state_dict(self) -> dict[str, Any]:
        if self.buffer is None:
            return {}
        state = {"size": self.size, "buffer": self.buffer, "cursor": self.cursor, "filled": self.filled}
        if self.labels is not None:
            state["labels"] = self.labels
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if not state:
            return
        if self.buffer is None or tuple(state["buffer"].shape) != tuple(self.buffer.shape):
            have = None if self.buffer is None else tuple(self.buffer.shape)
            raise CheckpointError(
                f"experience_replay: the checkpoint's buffer has shape {tuple(state['buffer'].shape)}, this run's "
                f"{have}; resume with the same 'size', batch size and data."
            )
        # In-place copies keep the tensors a captured CUDA graph refers to.
        self.buffer.copy_(state["buffer"])
        self.cursor.copy_(state["cursor"])
        self.filled.copy_(state["filled"])
        if self.labels is not None and "labels" in state:
            self.labels.copy_(state["labels"])
