"""ganhacks #1: real data in [-1, 1] and a tanh-bounded generator output."""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any

import attrs
import torch
from torch import Tensor

from ganforge.errors import ConfigError, DataError
from ganforge.interfaces import Discriminator, Generator, Trick
from ganforge.options import boolean, integer, option, optional, options, pair, to_tuple

if TYPE_CHECKING:  # pragma: no cover
    from ganforge.interfaces import TrickContext

#: Slack allowed beyond an interval's ends when checking ranges (float rounding).
TOLERANCE = 1e-4


def _not_empty(inst: Any, attr: attrs.Attribute, value: Any) -> None:
    if value is not None and value[0] == value[1]:
        raise ConfigError(f"{attr.name!r} must have low < high (got {value!r})")


def observed_range(ctx: TrickContext, probe: int) -> tuple[float, float]:
    """Smallest and largest real value in model space, as the loader returns it.

    Finite data sets are scanned whole (uint8 images map to [-1, 1] exactly
    as the loader maps them); distributions are probed with ``probe`` samples
    drawn under a forked RNG, so the training random stream is not moved.
    """
    if ctx.dataset.is_distribution:
        cuda = [ctx.device] if ctx.device.type == "cuda" else []
        with torch.random.fork_rng(devices=cuda):
            x, _ = ctx.dataset.sample(probe, ctx.device)
        low, high = torch.aminmax(x.float())
        return float(low), float(high)
    data = getattr(ctx.batches, "data", None)
    if data is None:  # an unknown loader: look at one batch, then rewind it
        state = ctx.batches.state_dict()
        x, _ = ctx.batches.next()
        ctx.batches.load_state_dict(state)
        low, high = torch.aminmax(x.float())
        return float(low), float(high)
    low, high = torch.aminmax(data.reshape(-1))
    if data.dtype == torch.uint8:
        return float(low) / 127.5 - 1.0, float(high) / 127.5 - 1.0
    return float(low), float(high)


class Normalize(Trick):
    """Real batches in [-1, 1] and a tanh-bounded generator output (ganhacks #1).

    At setup the trick measures the range of the real data in model space
    (finite data sets: all of it; distributions: ``probe`` samples drawn
    without moving the training RNG) and then:

    * data within [0, 1] (and ``source_range`` not given) is rescaled to
      [-1, 1] with ``2 x - 1``;
    * data within [-1, 1] is left as it is (ganforge's own data sets already
      arrive there: images map ``[0, 255] -> [-1, 1]``, the 2-D mixtures are
      divided by their scale);
    * anything else raises :class:`~ganforge.errors.DataError` naming the
      measured range and the fix (``source_range``).

    The rescaling acts at the ``real_batch`` event, so every consumer of a
    real batch (the discriminator, losses, regularizers, extra-loss terms,
    extra D updates) sees the [-1, 1] version, as do evaluation and sample
    plots (:meth:`ganforge.Trainer.to_model_space`). It is one multiply-add
    per batch on the device.

    It also checks the generator: a model whose class declares
    ``output_bounded = False`` gets a ``warnings.warn`` naming it and the
    fix; with ``add_tanh=True`` a ``tanh`` is applied to its output instead
    (a forward hook, so checkpoints keep the model's own layers). A model that
    declares a bounded output is probed once on 64 latents and warned about
    when its output leaves [-1, 1].

    Options:
        source_range: ``(low, high)`` of the real data in model space, mapped
            linearly to [-1, 1]. Default None: detect as above.
        add_tanh: Apply ``tanh`` to the output of a generator that is not
            bounded, instead of only warning. Default False.
        probe: Samples drawn from a distribution data set to measure its
            range, default 4096.
    """

    name = "normalize"
    description = "Real batches in [-1, 1] (rescales [0, 1] data), tanh-bounded generator output"
    ganhacks = 1

    @options
    class Options:
        source_range: tuple[float, float] | None = option(
            None, converter=to_tuple, validator=[optional(pair()), _not_empty],
            help="(low, high) of the real data in model space, mapped to [-1, 1] (None: detect [0, 1] or [-1, 1]).")
        add_tanh: bool = option(False, validator=boolean(),
                                help="Apply tanh to the output of a generator that is not bounded, instead of warning.")
        probe: int = option(4096, validator=integer(1), help="Samples drawn from a distribution to measure its range.")

    def __init__(self, **options: Any):
        super().__init__(**options)
        #: The data range found at setup, and the one mapped to [-1, 1] (None: no rescaling).
        self.measured: tuple[float, float] | None = None
        self.rescaled_from: tuple[float, float] | None = None

    # -- generator ------------------------------------------------------------

    def modify_models(self, gen: Generator, disc: Discriminator) -> tuple[Generator, Discriminator]:
        if not getattr(gen, "output_bounded", True):
            if self.options.add_tanh:
                gen.register_forward_hook(_tanh_output)
            else:
                warnings.warn(
                    f"Generator '{gen.name}' declares output_bounded=False: its output is not tanh-bounded to "
                    f"[-1, 1], the range of the normalised data (ganhacks #1). End the model with a tanh, or "
                    f"set trick option normalize.add_tanh=true to apply one.",
                    stacklevel=2,
                )
        return gen, disc

    def _probe_generator(self, ctx: TrickContext) -> None:
        gen = ctx.gen
        if not getattr(gen, "output_bounded", True):
            return  # warned about (or given a tanh) in modify_models
        z = torch.randn(64, ctx.spec.latent_dim, generator=torch.Generator().manual_seed(0)).to(ctx.device)
        labels = ctx.spec.probe_labels(64, ctx.device)
        was_training = gen.training
        gen.eval()
        try:
            with torch.no_grad():
                out = gen(z, labels).float()
        finally:
            gen.train(was_training)
        low, high = float(out.min()), float(out.max())
        if low < -1 - TOLERANCE or high > 1 + TOLERANCE:
            warnings.warn(
                f"Generator '{gen.name}' declares a bounded output but produced values in [{low:.3g}, {high:.3g}], "
                f"outside [-1, 1] (ganhacks #1). End the model with a tanh, or set output_bounded = False on its "
                f"class and use trick option normalize.add_tanh=true.",
                stacklevel=2,
            )

    # -- data -------------------------------------------------------------------

    def setup(self, ctx: TrickContext) -> None:
        self.measured = low, high = observed_range(ctx, self.options.probe)
        name = ctx.dataset.name
        if self.options.source_range is not None:
            a, b = self.options.source_range
            mapped = ((low - a) * 2 / (b - a) - 1, (high - a) * 2 / (b - a) - 1)
            if mapped[0] < -1 - TOLERANCE or mapped[1] > 1 + TOLERANCE:
                raise DataError(
                    f"Data set '{name}' has values in [{low:.4g}, {high:.4g}], outside normalize.source_range "
                    f"[{a:g}, {b:g}]; set source_range to the data's true (low, high)."
                )
            self.rescaled_from = (a, b)
        elif low >= 0.0 and high <= 1.0 + TOLERANCE:
            self.rescaled_from = (0.0, 1.0)
        elif low >= -1.0 - TOLERANCE and high <= 1.0 + TOLERANCE:
            self.rescaled_from = None
        else:
            raise DataError(
                f"Data set '{name}' has values in [{low:.4g}, {high:.4g}], neither in [-1, 1] nor in [0, 1] "
                f"(ganhacks #1). Set trick option normalize.source_range=[low, high] to map that range to "
                f"[-1, 1], or rescale the data set."
            )
        self._probe_generator(ctx)

    def real_batch(self, x: Tensor) -> Tensor:
        if self.rescaled_from is None:
            return x
        low, high = self.rescaled_from
        return (x - low) * (2.0 / (high - low)) - 1.0

    def undo_real_batch(self, x: Tensor) -> Tensor:
        if self.rescaled_from is None:
            return x
        low, high = self.rescaled_from
        return (x + 1.0) * ((high - low) / 2.0) + low

    def state_dict(self) -> dict[str, Any]:
        return {"rescaled_from": None if self.rescaled_from is None else list(self.rescaled_from)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        # The range is measured again at setup; a checkpoint only records it.
        pass


def _tanh_output(module: Any, inputs: Any, output: Tensor) -> Tensor:
    return torch.tanh(output)
