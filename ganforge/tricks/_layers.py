"""The parts of a model that tricks find and rewrite: hidden activations, feature width, label modules.

Shared by the tricks that insert layers into the generator (``layer_noise``,
``generator_dropout``), add layers on the discriminator's features
(``minibatch_discrimination``, ``auxiliary_classifier``) or replace label
embeddings (``label_embedding``).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from ganforge.errors import IncompatibleError
from ganforge.interfaces import Discriminator, Generator

#: Module types counted as a layer's activation.
ACTIVATION_TYPES: tuple[type[nn.Module], ...] = (
    nn.ReLU, nn.LeakyReLU, nn.PReLU, nn.ELU, nn.SELU, nn.CELU, nn.GELU, nn.SiLU, nn.Mish,
    nn.Tanh, nn.Sigmoid, nn.Softplus, nn.Hardtanh, nn.ReLU6,
)


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


def feature_size(disc: Discriminator, trick: str = "") -> int:
    """Width ``F`` of ``disc.features``, found by a probe pass on two zero samples (eval mode, no gradients).

    Raises:
        IncompatibleError: when ``disc`` does not define ``features`` (it overrides
            only ``forward``) or its features are not ``(B, F)``; ``trick`` names the
            calling trick in the message.
    """
    if type(disc).features is Discriminator.features:
        by = f"trick '{trick}'" if trick else "this trick"
        raise IncompatibleError(
            f"Discriminator '{disc.name}' defines no features() (only forward()), which {by} needs to add layers "
            "on D's features: define features(x, labels) returning (B, F) and self.head, or drop the trick."
        )
    param = next(disc.parameters(), None)
    device = param.device if param is not None else torch.device("cpu")
    x = torch.zeros(2, *disc.spec.disc_input_shape, device=device)
    labels = torch.zeros(2, dtype=torch.long, device=device) if disc.spec.conditional else None
    was_training = disc.training
    disc.eval()
    try:
        with torch.no_grad():
            features = disc.features(x, labels)
    finally:
        disc.train(was_training)
    if features.ndim != 2:
        raise IncompatibleError(
            f"Discriminator '{disc.name}'.features() returned shape {tuple(features.shape)}; tricks that add "
            "layers on D's features need (B, F)."
        )
    return int(features.shape[1])


#: Attribute names under which models keep the ``nn.Embedding`` of their labels.
#: ``mlp`` uses ``label_embedding`` in G and D; ``dcgan`` uses ``label_embedding``
#: in G and ``label_map`` (one image-sized channel per label) in D.
LABEL_MODULE_NAMES: tuple[str, ...] = ("label_embedding", "label_map")


def label_modules(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """The model's label-embedding modules ``(attribute, module)`` among :data:`LABEL_MODULE_NAMES`."""
    found = []
    for attr in LABEL_MODULE_NAMES:
        module = getattr(model, attr, None)
        if isinstance(module, nn.Module):
            found.append((attr, module))
    return found
