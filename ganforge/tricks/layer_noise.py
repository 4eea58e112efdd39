"""ganhacks #13 (second half): Gaussian noise after every hidden layer of the generator.

Also home of :func:`insert_after_hidden_activations`, which the
``generator_dropout`` trick uses to place its modules the same way.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn

from ganforge.errors import ConfigError, IncompatibleError
from ganforge.interfaces import Discriminator, Generator, Trick

#: Module types counted as a layer's activation.
ACTIVATION_TYPES: tuple[type[nn.Module], ...] = (
    nn.ReLU, nn.LeakyReLU, nn.PReLU, nn.ELU, nn.SELU, nn.CELU, nn.GELU, nn.SiLU, nn.Mish,
    nn.Tanh, nn.Sigmoid, nn.Softplus, nn.Hardtanh, nn.ReLU6,
)


def check_number(option: str, value: object, low: float, high: float | None = None, low_open: bool = False) -> float:
    """Validate a number in ``[low, high]`` (``(low, high]`` with ``low_open``); return it as float."""
    ok = not isinstance(value, bool) and isinstance(value, (int, float))
    if ok:
        value = float(value)
        ok = (value > low if low_open else value >= low) and (high is None or value <= high)
    if not ok:
        bound = f"{'>' if low_open else '>='} {low}" + (f" and <= {high}" if high is not None else "")
        raise ConfigError(f"{option!r} must be a number {bound} (got {value!r})")
    return float(value)


def hidden_activations(gen: Generator) -> list[tuple[str, nn.Module]]:
    """The generator's hidden activation modules ``(qualified name, module)``, in call order.

    Found by one probe forward pass (eval mode, no gradients, batch of 2 zero
    latents, label 0 when conditional) that records which activation modules
    run. The last one to run is the output activation (e.g. the final tanh)
    when its output has as many elements as the generator's output; it is
    left out.
    """
    names = {id(m): n for n, m in gen.named_modules()}
    calls: list[tuple[nn.Module, int]] = []
    hooks = [
        m.register_forward_hook(lambda mod, _inp, out: calls.append((mod, out.numel())))
        for m in gen.modules() if isinstance(m, ACTIVATION_TYPES)
    ]
    param = next(gen.parameters(), None)
    device = param.device if param is not None else torch.device("cpu")
    z = torch.zeros(2, gen.spec.latent_dim, device=device)
    labels = torch.zeros(2, dtype=torch.long, device=device) if gen.spec.conditional else None
    was_training = gen.training
    gen.eval()
    try:
        with torch.no_grad():
            out = gen(z, labels)
    finally:
        gen.train(was_training)
        for h in hooks:
            h.remove()
    if calls and calls[-1][1] == out.numel():
        last = calls[-1][0]
        calls = [c for c in calls if c[0] is not last]
    order: list[nn.Module] = []
    for module, _ in calls:
        if all(module is not m for m in order):
            order.append(module)
    return [(names[id(m)], m) for m in order]


def insert_after_hidden_activations(gen: Generator, make: Callable[[], nn.Module], trick: str,
                                    first: int | None = None) -> list[nn.Module]:
    """Replace each hidden activation ``act`` of ``gen`` by ``nn.Sequential(act, make())``.

    Args:
        gen: The generator, rewritten in place.
        make: Builds one inserted module.
        trick: The calling trick's name, for error messages.
        first: Only the first ``first`` hidden activations (None: all).

    Returns:
        The inserted modules, in call order. Activations hold no parameters,
        so the generator's ``state_dict`` keys gain no new entries unless the
        inserted modules have parameters or buffers.
    """
    found = hidden_activations(gen)
    if not found:
        raise IncompatibleError(
            f"Trick '{trick}' found no hidden activation modules (nn.ReLU, nn.LeakyReLU, ...) in generator "
            f"'{gen.name}'; it can only be used with generators built from activation modules."
        )
    if first is not None:
        found = found[:first]
    inserted = []
    for qualified, act in found:
        parent_name, _, child = qualified.rpartition(".")
        parent = gen.get_submodule(parent_name) if parent_name else gen
        extra = make()
        setattr(parent, child, nn.Sequential(act, extra))
        inserted.append(extra)
    return inserted


class GaussianNoise(nn.Module):
    """Adds ``N(0, std^2)`` noise to its input in training mode; identity in eval mode.

    Args:
        std: Standard deviation of the noise, in the units of the layer's output.
    """

    def __init__(self, std: float):
        super().__init__()
        self.std = float(std)

    def forward(self, x: Tensor) -> Tensor:
        if not self.training or self.std == 0:
            return x
        return x + torch.randn_like(x) * self.std

    def extra_repr(self) -> str:
        return f"std={self.std}"


class LayerNoise(Trick):
    """Add Gaussian noise to the output of every hidden layer of the generator (ganhacks #13).

    ganhacks #13 cites Zhao et al. 2016 (EBGAN) for noise on every layer of
    G. In :meth:`modify_models` each hidden activation module of G (see
    :func:`hidden_activations`; the output activation is left alone) is
    followed by a :class:`GaussianNoise` module. The noise is drawn fresh on
    every forward pass in training mode and is off in eval mode, so sampling
    (which puts G in eval mode) is noise-free.

    Options:
        std: Standard deviation of the noise, default 0.1 (ganhacks gives no
            number; 0.1 is our choice, small next to LeakyReLU outputs of
            order 1).
    """

    name = "layer_noise"
    description = "Gaussian noise (std 0.1) after every hidden layer of G, in training"
    ganhacks = 13

    def __init__(self, std: float = 0.1):
        self.std = check_number("std", std, 0.0)
        self.inserted: list[GaussianNoise] = []

    def modify_models(self, gen: Generator, disc: Discriminator) -> tuple[Generator, Discriminator]:
        self.inserted = insert_after_hidden_activations(gen, lambda: GaussianNoise(self.std), self.name)
        return gen, disc
