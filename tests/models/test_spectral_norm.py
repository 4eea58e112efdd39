"""Spectral normalisation (Miyato et al. 2018), an option of every builtin model: its layers, effect and state."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn
from torch.nn.utils import parametrize

import ganforge
from ganforge.interfaces import ModelSpec
from ganforge.models.layers import SPECTRAL_NORM_LAYERS
from ganforge.options import describe_options

#: A data shape each builtin family fits, and options that keep it tiny.
FAMILIES = {
    "mlp": ((2,), {"hidden": (16, 16)}),
    "pacgan": ((2,), {"hidden": 16, "layers": 2}),
    "dcgan": ((3, 32, 32), {"width": 8}),
    "sngan": ((3, 32, 32), {"width": 8}),
}
CONDITIONAL = {"mlp": True, "pacgan": False, "dcgan": True, "sngan": True}


def normalised(module: nn.Module) -> bool:
    return parametrize.is_parametrized(module, "weight")


def weight_matrix(weight: torch.Tensor, dim: int) -> torch.Tensor:
    """The weight as the normalisation sees it: ``dim`` (the output axis) first, the rest flattened."""
    return weight.movedim(dim, 0).flatten(1)


def singular_values(model: nn.Module) -> dict[str, tuple[float, float]]:
    """``{layer: (sigma of the normalised weight, sigma of the raw weight)}`` for every normalised layer.

    Read in eval mode: the weight the layer uses with its current power-iteration estimate, no iteration run.
    """
    was = model.training
    model.eval()
    out = {}
    with torch.no_grad():
        for name, m in model.named_modules():
            if normalised(m):
                dim = m.parametrizations.weight[0].dim
                used = torch.linalg.matrix_norm(weight_matrix(m.weight, dim), 2).item()
                raw = torch.linalg.matrix_norm(weight_matrix(m.parametrizations.weight.original, dim), 2).item()
                out[name] = (used, raw)
    model.train(was)
    return out


def test_every_builtin_model_declares_the_option():
    for kind in ("generator", "discriminator"):
        for info in ganforge.list_plugins(kind):
            opts = {o.name: o for o in describe_options(info.cls)}
            assert "spectral_norm" in opts, f"{kind} {info.name} has no spectral_norm option"
            assert opts["spectral_norm"].default is (kind == "discriminator" and info.name == "sngan")
            assert opts["spectral_norm"].help.startswith("Spectrally normalise")
    with pytest.raises(ganforge.ConfigError, match="'spectral_norm' must be true or false \\(got 'yes'\\)"):
        ganforge.create_plugin("discriminator", "mlp", ModelSpec((2,)), spectral_norm="yes")


@pytest.mark.parametrize("kind", ["generator", "discriminator"])
@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_every_linear_and_convolution_is_normalised(family, kind):
    shape, options = FAMILIES[family]
    spec = ModelSpec(shape, latent_dim=8, num_classes=10 if CONDITIONAL[family] else None)
    extra = {"conditional": "projection"} if (family, kind) == ("dcgan", "discriminator") else {}
    model = ganforge.create_plugin(kind, family, spec, **options, **extra, spectral_norm=True)
    layers = [m for m in model.modules() if isinstance(m, SPECTRAL_NORM_LAYERS)]
    assert layers and all(normalised(m) for m in layers)
    embeddings = {id(m): m for m in model.modules() if isinstance(m, nn.Embedding)}
    projection = getattr(model, "projection", None)
    for m in embeddings.values():  # only a projection's class embedding is normalised (as in the paper)
        assert normalised(m) == (projection is not None and m is projection.embed)
    if kind == "discriminator" and CONDITIONAL[family] and family != "mlp":
        assert normalised(model.projection.embed)
    # The power-iteration vectors are buffers: they are saved with the weights.
    state = model.state_dict()
    sn_layers = [m for m in model.modules() if normalised(m)]
    vectors_u = sum(k.endswith("weight.0._u") for k in state)
    assert vectors_u == sum(k.endswith("weight.0._v") for k in state) == len(sn_layers)
    # Off: no layer is touched (sngan's discriminator has it on by default, so it is switched off explicitly).
    plain = ganforge.create_plugin(kind, family, spec, **options, **extra, spectral_norm=False)
    assert not any(normalised(m) for m in plain.modules())


def _trained(family: str, tmp_path, image_root, steps: int = 20) -> ganforge.Trainer:
    shape, options = FAMILIES[family]
    settings = dict(steps=steps, batch_size=16, latent_dim=8, log_every=steps, sample_every=0, checkpoint_every=0,
                    progress=False, device="cpu", out_dir=str(tmp_path / "run"), gen=family, disc=family,
                    gen_options={**options, "spectral_norm": True}, disc_options={**options, "spectral_norm": True},
                    conditional=CONDITIONAL[family])
    if len(shape) == 1:
        settings["data"] = "grid25"
    else:
        settings.update(data="mnist", data_root=str(image_root), split="test", image_size=32)
    if family == "dcgan":
        settings["disc_options"]["conditional"] = "projection"
    trainer = ganforge.Trainer(**settings)
    trainer.fit()
    return trainer


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_largest_singular_value_is_one_after_training(family, tmp_path, tiny_mnist):
    """After 20 steps every normalised layer's weight has a largest singular value close to 1.

    One power iteration per training forward pass (15 at construction) refines the estimate of
    sigma while the weights move. The estimate errs low, never high, so the normalised value
    approaches 1 from above; a layer whose two largest singular values are close converges slowly.
    Measured after 20 steps: within 0.1% of 1 for most layers; the worst were a PacGAN maxout
    layer (1.13) and a DCGAN transposed convolution (1.035).
    """
    trainer = _trained(family, tmp_path, tiny_mnist)
    for net in (trainer.gen, trainer.disc):
        values = singular_values(net)
        assert values, f"{family}: no normalised layer"
        for name, (used, raw) in values.items():
            assert 1 - 1e-4 <= used <= 1.15, f"{family} {type(net).__name__}.{name}: sigma {used}"
        close = [name for name, (used, _) in values.items() if used <= 1.01]
        assert len(close) >= len(values) / 2, values
        # The raw weights are not ~1 themselves: the normalisation is what brings each layer to 1.
        off = [name for name, (_, raw) in values.items() if abs(raw - 1) > 0.05]
        assert len(off) >= len(values) / 2, values


def test_power_iteration_runs_in_training_mode_only_and_its_state_is_restored():
    spec = ModelSpec((3, 32, 32), num_classes=10)
    torch.manual_seed(0)
    disc = ganforge.create_plugin("discriminator", "sngan", spec, width=8)
    u = disc.head.parametrizations.weight[0]._u
    conv = disc.blocks[1].conv1.parametrizations.weight[0]
    x, y = torch.randn(4, 3, 32, 32), torch.arange(4)
    before = conv._u.clone()
    disc.eval()
    disc(x, y)
    assert torch.equal(conv._u, before)  # sampling and evaluation leave the estimate alone
    disc.train()
    disc(x, y)
    assert not torch.equal(conv._u, before)  # each training forward pass runs one power iteration
    assert u.shape == (1,)
    # A model built from another seed, loaded from the state dict, computes the same logits and iterates alike.
    torch.manual_seed(1)
    other = ganforge.create_plugin("discriminator", "sngan", spec, width=8)
    other.load_state_dict(copy.deepcopy(disc.state_dict()))
    for mode in (False, True):
        disc.train(mode), other.train(mode)
        assert torch.equal(disc(x, y), other(x, y))
    assert torch.equal(other.blocks[1].conv1.parametrizations.weight[0]._u, conv._u)
