"""ganhacks #5: avoid sparse gradients (ReLU, MaxPool)."""

from __future__ import annotations

from typing import Any

from torch import nn

from ganforge.errors import IncompatibleError
from ganforge.interfaces import Discriminator, Generator, Trick
from ganforge.options import number, option, options

_AVG_POOL = {nn.MaxPool1d: nn.AvgPool1d, nn.MaxPool2d: nn.AvgPool2d, nn.MaxPool3d: nn.AvgPool3d}


def _is_one(value: Any) -> bool:
    return all(v == 1 for v in value) if isinstance(value, (tuple, list)) else value == 1


def avg_pool_for(pool: nn.Module, where: str) -> nn.Module:
    """An average pool with ``pool``'s kernel size, stride, padding and ceil mode.

    Padding cells are left out of the average (``count_include_pad=False``),
    as a max pool ignores them. Raises IncompatibleError for a max pool that
    has no average-pool equivalent (dilation, ``return_indices``).
    """
    if pool.return_indices or not _is_one(pool.dilation):
        raise IncompatibleError(
            f"Trick 'avoid_sparse_gradients' cannot replace {where} ({pool}): average pooling has no "
            "dilation and returns no indices. Drop the trick or use a plain max pool."
        )
    return _AVG_POOL[type(pool)](pool.kernel_size, stride=pool.stride, padding=pool.padding,
                                 ceil_mode=pool.ceil_mode, count_include_pad=False)


def replace_sparse_layers(model: nn.Module, slope: float) -> dict[str, int]:
    """Swap every ``nn.ReLU`` for ``nn.LeakyReLU(slope)`` and every max pool for an average pool, in place.

    Returns the number of replaced layers: ``{"relu": n, "maxpool": m}``.
    Only layer modules are found; ``F.relu`` calls inside ``forward`` are not.
    """
    counts = {"relu": 0, "maxpool": 0}
    for parent_name, parent in list(model.named_modules()):
        for child_name, child in list(parent.named_children()):
            where = f"{type(model).__name__}.{parent_name + '.' if parent_name else ''}{child_name}"
            if type(child) is nn.ReLU:
                setattr(parent, child_name, nn.LeakyReLU(slope, inplace=child.inplace))
                counts["relu"] += 1
            elif type(child) in _AVG_POOL:
                setattr(parent, child_name, avg_pool_for(child, where))
                counts["maxpool"] += 1
    return counts


class AvoidSparseGradients(Trick):
    """Replace ReLU by LeakyReLU(0.2) and MaxPool by AvgPool in both networks (ganhacks #5).

    ganhacks #5: sparse gradients hurt GAN stability; use LeakyReLU in G and
    D and average pooling (or strided convolutions) for downsampling. At
    setup (event ``modify_models``, before the optimizers exist) every
    ``nn.ReLU`` module of the generator and the discriminator becomes
    ``nn.LeakyReLU(slope)`` and every ``nn.MaxPool1d/2d/3d`` becomes the
    average pool of the same kernel size, stride, padding and ceil mode
    (padding left out of the averages). Layers are replaced as modules, so
    parameters and checkpoints are unchanged; ``F.relu`` calls written into
    a model's ``forward`` are not seen. :attr:`replaced` counts the changes
    per network. Tanh/sigmoid outputs are kept.

    Options:
        slope: Negative slope of the LeakyReLU, default 0.2 (DCGAN's value,
            Radford et al. 2016).
    """

    name = "avoid_sparse_gradients"
    description = "ReLU -> LeakyReLU(0.2) and MaxPool -> AvgPool in G and D"
    ganhacks = 5

    @options
    class Options:
        slope: float = option(0.2, validator=number(0.0, 1.0, low_open=True, high_open=True),
                              help="Negative slope of the LeakyReLU that replaces each ReLU, in (0, 1).")

    def __init__(self, **options: Any):
        super().__init__(**options)
        #: Replaced layers per network, e.g. ``{"gen": {"relu": 4, "maxpool": 0}, "disc": {...}}``.
        self.replaced: dict[str, dict[str, int]] = {}

    def modify_models(self, gen: Generator, disc: Discriminator) -> tuple[Generator, Discriminator]:
        slope = float(self.options.slope)
        self.replaced = {"gen": replace_sparse_layers(gen, slope), "disc": replace_sparse_layers(disc, slope)}
        return gen, disc
