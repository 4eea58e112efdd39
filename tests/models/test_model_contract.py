"""Every registered generator/discriminator pair: builds from a ModelSpec, fits the data, backpropagates,
or refuses with a ganforge error (never a raw torch error)."""

from __future__ import annotations

import os

import pytest
import torch
from torch.nn.utils import parametrize

import ganforge
from ganforge.interfaces import ModelSpec
from ganforge.models.layers import SPECTRAL_NORM_LAYERS
from ganforge.registry import DISABLE_AUTOLOAD_ENV


def _builtin_names(kind: str) -> list[str]:
    """Names registered by ganforge itself (collection happens before the isolation fixture runs)."""
    before = os.environ.get(DISABLE_AUTOLOAD_ENV)
    os.environ[DISABLE_AUTOLOAD_ENV] = "1"
    ganforge.reset_registry()
    try:
        return [info.name for info in ganforge.list_plugins(kind)]
    finally:
        if before is None:
            del os.environ[DISABLE_AUTOLOAD_ENV]
        else:
            os.environ[DISABLE_AUTOLOAD_ENV] = before
        ganforge.reset_registry()


GENERATORS = _builtin_names("generator")
DISCRIMINATORS = _builtin_names("discriminator")
SHAPES = [(2,), (1, 28, 28), (3, 32, 32)]
#: Model families whose every combination is pinned down here: (name, data shape) pairs in REFUSED must
#: be refused, all others must build. Other families may refuse what they do not support (PacGAN's
#: models are unconditional, for example), but only with a ganforge error.
PINNED = {"mlp", "dcgan", "sngan"}
REFUSED = {("dcgan", (2,)), ("sngan", (2,)), ("sngan", (1, 28, 28))}
#: Options that keep a family's default-sized models out of a CPU test's way (the default sngan is 4.3M + 1.1M
#: parameters at 32x32; tests/models/test_sngan.py builds it at its paper size).
SMALL = {"sngan": {"width": 8}}
BATCH = 4


def build(kind, name, spec, spectral_norm=None):
    """The model, or the ganforge error it raised (any other exception fails the test).

    ``spectral_norm``: None builds with the model's default, True/False sets the option.
    """
    options = dict(SMALL.get(name, {}))
    if spectral_norm is not None:
        options["spectral_norm"] = spectral_norm
    try:
        return ganforge.create_plugin(kind, name, spec, **options)
    except ganforge.GanforgeError as exc:
        return exc


def test_the_builtin_families_are_registered():
    assert {"mlp", "dcgan", "sngan"} <= set(GENERATORS) and {"mlp", "dcgan", "sngan"} <= set(DISCRIMINATORS)


@pytest.mark.parametrize("spectral_norm", [None, True], ids=["default", "spectral_norm"])
@pytest.mark.parametrize("num_classes", [None, 10], ids=["unconditional", "conditional"])
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("disc_name", DISCRIMINATORS)
@pytest.mark.parametrize("gen_name", GENERATORS)
def test_pair(gen_name, disc_name, shape, num_classes, spectral_norm):
    torch.manual_seed(0)
    spec = ModelSpec(shape, latent_dim=16, num_classes=num_classes)
    gen = build("generator", gen_name, spec, spectral_norm)
    disc = build("discriminator", disc_name, spec, spectral_norm)
    for name, model in ((gen_name, gen), (disc_name, disc)):
        if name not in PINNED:
            assert not isinstance(model, ganforge.GanforgeError) or str(model), "an error needs a message"
        elif isinstance(model, ganforge.GanforgeError):
            assert (name, shape) in REFUSED, f"{name} refused {shape}: {model}"
            assert str(shape) in str(model)  # the message names what did not fit
        else:
            assert (name, shape) not in REFUSED, f"{name} accepted {shape} but should refuse it"
    if isinstance(gen, Exception) or isinstance(disc, Exception):
        return
    assert isinstance(gen, ganforge.Generator) and isinstance(disc, ganforge.Discriminator)
    labels = torch.arange(BATCH) % num_classes if num_classes else None
    # An image-to-image generator translates the data set's condition (here: an image of the data's shape).
    extra = {"condition": torch.rand(BATCH, *shape) * 2 - 1} if gen.takes_condition else {}
    x = gen(torch.randn(BATCH, 16), labels, **extra)
    assert x.shape == (BATCH, *shape) and x.dtype == torch.float32
    if gen.output_bounded:
        assert x.abs().max() <= 1.0
    feats = disc.features(x, labels)
    assert feats.ndim == 2 and feats.shape[0] == BATCH
    head = disc.head(feats)  # (B, 1); a PatchGAN's (B, h, w, 1), several heads' (B, k, 1)
    assert head.shape[0] == BATCH and head.shape[-1] == 1
    logits = disc(x, labels)
    assert logits.shape == head.shape[:-1] and torch.isfinite(logits).all()
    assert logits.shape == (BATCH,) or disc_name not in PINNED
    # The generator's loss reaches every parameter of both networks.
    torch.nn.functional.softplus(-logits).mean().backward()
    for model in (gen, disc):
        missing = [n for n, p in model.named_parameters() if p.grad is None or not torch.isfinite(p.grad).all()]
        assert not missing, f"{type(model).__name__}: no finite gradient for {missing}"
    if spectral_norm:  # every linear and convolution weight is normalised, in both models
        for model in (gen, disc):
            layers = [m for m in model.modules() if isinstance(m, SPECTRAL_NORM_LAYERS)]
            assert layers and all(parametrize.is_parametrized(m, "weight") for m in layers)


@pytest.mark.parametrize("name", ["dcgan", "sngan"])
@pytest.mark.parametrize("kind", ["generator", "discriminator"])
def test_non_image_shapes_are_refused_clearly(kind, name):
    for shape in [(3, 28), (1, 30, 30)]:
        with pytest.raises(ganforge.DataError, match="image_size|mlp"):
            ganforge.create_plugin(kind, name, ModelSpec(shape))
