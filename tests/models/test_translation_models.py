"""The image-to-image models: the unet generator (from the data set's condition) and the patchgan discriminator."""

from __future__ import annotations

import pytest
import torch

import ganforge
from ganforge.interfaces import ModelSpec
from ganforge.models.patchgan import PatchGANDiscriminator, receptive_field
from ganforge.models.unet import DecoderDropout, UNetGenerator

SHAPES = [(1, 28, 28), (3, 32, 32), (3, 64, 64)]


def unet(shape, latent_dim=0, num_classes=None, **options):
    return ganforge.create_plugin("generator", "unet", ModelSpec(shape, latent_dim=latent_dim,
                                                                 num_classes=num_classes), **{"width": 4, **options})


def patchgan(shape, num_classes=None, **options):
    return ganforge.create_plugin("discriminator", "patchgan", ModelSpec(shape, num_classes=num_classes),
                                  **{"width": 4, **options})


def conditions(n, shape, seed=0):
    return torch.rand(n, *shape, generator=torch.Generator().manual_seed(seed)) * 2 - 1


def test_both_are_registered_builtins():
    assert ganforge.get_plugin("generator", "unet") is UNetGenerator
    assert ganforge.get_plugin("discriminator", "patchgan") is PatchGANDiscriminator
    assert UNetGenerator.takes_condition and UNetGenerator.output_bounded


@pytest.mark.parametrize("latent_dim", [0, 5])
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_unet_translates_the_condition_into_the_data_shape(shape, latent_dim):
    torch.manual_seed(0)
    gen = unet(shape, latent_dim=latent_dim)
    # Down to 1x1: 28 and 32 halve five times (28-14-7-4-2-1), 64 six times.
    assert gen.depth == (6 if shape[1] == 64 else 5)
    x = gen(torch.randn(3, latent_dim), None, condition=conditions(3, shape) * 50)  # far outside [-1, 1]
    assert x.shape == (3, *shape) and x.dtype == torch.float32
    assert x.abs().max() <= 1.0 and torch.isfinite(x).all()


def test_unet_output_depends_on_the_condition_z_and_labels():
    torch.manual_seed(0)
    gen = unet((1, 28, 28), latent_dim=4, num_classes=10, dropout=0.0).eval()
    c, z, y = conditions(2, (1, 28, 28)), torch.randn(2, 4), torch.tensor([1, 2])
    base = gen(z, y, condition=c)
    assert not torch.allclose(base, gen(z, y, condition=conditions(2, (1, 28, 28), seed=1)))
    assert not torch.allclose(base, gen(torch.randn(2, 4), y, condition=c))
    assert not torch.allclose(base, gen(z, torch.tensor([3, 4]), condition=c))
    # A sample depends on its own condition only (eval mode: batch norm uses its running statistics).
    single = gen(z[:1], y[:1], condition=c[:1])
    assert torch.allclose(base[:1], single, atol=1e-6)


def test_unet_skip_connections_carry_the_input_past_the_bottleneck():
    """With depth 1 the only path is conv down, transposed conv up; deeper nets see each level's features."""
    gen = unet((1, 28, 28), depth=3)
    assert [type(m).__name__ for m in gen.decoder[1]][:2] == ["ReLU", "ConvTranspose2d"]
    # Decoder levels below the innermost take the encoder's features beside the decoder's: twice the channels.
    assert gen.decoder[2][1].in_channels == gen.widths[2]
    assert gen.decoder[1][1].in_channels == 2 * gen.widths[1]
    assert gen.decoder[0][1].in_channels == 2 * gen.widths[0]


def test_unet_dropout_is_the_noise_and_optionally_stays_on_when_sampling():
    torch.manual_seed(0)
    shape = (1, 28, 28)
    c = conditions(2, shape)
    z = torch.zeros(2, 0)
    gen = unet(shape, dropout=0.5, dropout_layers=3)
    assert gen.dropout_levels == (2, 3, 4)  # the three innermost decoder levels (of 5); never the output
    gen.train()
    assert not torch.allclose(gen(z, condition=c), gen(z, condition=c))  # two draws differ
    gen.eval()
    assert torch.equal(gen(z, condition=c), gen(z, condition=c))  # deterministic sampling by default
    always = unet(shape, dropout=0.5, eval_dropout=True).eval()
    assert not torch.allclose(always(z, condition=c), always(z, condition=c))
    assert unet(shape, dropout=0.0).dropout_levels == ()
    assert not any(isinstance(m, DecoderDropout) for m in unet(shape, dropout_layers=0).modules())


@pytest.mark.parametrize("norm", ["batch", "instance", "none"])
def test_unet_gradients_reach_every_parameter(norm):
    torch.manual_seed(0)
    gen = unet((1, 28, 28), latent_dim=3, num_classes=10, norm=norm)
    x = gen(torch.randn(4, 3), torch.arange(4), condition=conditions(4, (1, 28, 28)))
    x.square().mean().backward()
    missing = [n for n, p in gen.named_parameters() if p.grad is None or not torch.isfinite(p.grad).all()
               or p.grad.abs().sum() == 0]
    assert not missing


def test_unet_condition_channels_come_from_the_spec_or_the_option():
    torch.manual_seed(0)
    gen = unet((1, 28, 28), condition_channels=3)
    assert gen(torch.zeros(2, 0), condition=conditions(2, (3, 28, 28))).shape == (2, 1, 28, 28)
    with pytest.raises(ganforge.DataError, match=r"conditions of shape \(B, 3, 28, 28\); got \(2, 1, 28, 28\)"):
        gen(torch.zeros(2, 0), condition=conditions(2, (1, 28, 28)))


def test_unet_takes_the_condition_shape_the_spec_declares():
    import attrs

    if "condition_shape" not in attrs.fields_dict(ModelSpec):
        pytest.skip("ModelSpec has no condition_shape in this checkout")
    spec = ModelSpec((1, 28, 28), latent_dim=0, condition_shape=(3, 28, 28))
    gen = ganforge.create_plugin("generator", "unet", spec, width=4)
    assert gen.condition_channels == 3
    assert gen(torch.zeros(2, 0), condition=conditions(2, (3, 28, 28))).shape == (2, 1, 28, 28)
    with pytest.raises(ganforge.ConfigError, match="condition_channels=1 disagrees"):
        ganforge.create_plugin("generator", "unet", spec, width=4, condition_channels=1)
    with pytest.raises(ganforge.DataError, match=r"condition has shape \(1, 14, 14\)"):
        ganforge.create_plugin("generator", "unet", ModelSpec((1, 28, 28), condition_shape=(1, 14, 14)))


def test_unet_refuses_what_it_cannot_do_clearly():
    with pytest.raises(ganforge.ConfigError, match="called without one.*condition="):
        unet((1, 28, 28))(torch.zeros(2, 0))
    with pytest.raises(ganforge.DataError, match=r"shape \(2,\)"):
        unet((2,))
    with pytest.raises(ganforge.ConfigError, match="depth=6 is too deep for 28x28.*depth=5 or less"):
        unet((1, 28, 28), depth=6)
    with pytest.raises(ganforge.ConfigError, match="'norm'"):
        unet((1, 28, 28), norm="layer")
    with pytest.raises(ganforge.ConfigError, match="'dropout'"):
        unet((1, 28, 28), dropout=1.0)


@pytest.mark.parametrize("shape, grid", [((1, 28, 28), (5, 5)), ((2, 28, 28), (5, 5)), ((3, 32, 32), (6, 6)),
                                         ((3, 64, 64), (6, 6))], ids=["28", "28x2ch", "32", "64"])
def test_patchgan_gives_one_logit_per_patch(shape, grid):
    torch.manual_seed(0)
    disc = patchgan(shape)
    assert disc.patch_grid == (grid,)
    logits = disc(conditions(3, shape))
    assert logits.shape == (3, *grid) and torch.isfinite(logits).all()
    feats = disc.features(conditions(3, shape))
    assert feats.ndim == 2 and feats.shape == (3, disc.num_features)


def test_patchgan_layers_set_the_patch_size():
    assert receptive_field(3) == 70  # Isola et al.'s 70x70 PatchGAN
    assert receptive_field(2) == 34 and receptive_field(1) == 16
    assert patchgan((3, 64, 64)).n_layers == (3,)
    assert patchgan((1, 28, 28), n_layers=1).patch_grid == ((12, 12),)
    logits = patchgan((1, 28, 28), n_layers=1)(torch.zeros(2, 1, 28, 28))
    assert logits.shape == (2, 12, 12)


def test_a_patch_logit_sees_only_its_receptive_field():
    torch.manual_seed(0)
    disc = patchgan((1, 64, 64), n_layers=1, norm="none").eval()  # 16x16 patches, stride 2
    x = conditions(1, (1, 64, 64))
    y = x.clone()
    y[..., 40:, 40:] = 0.5  # change only the bottom-right corner
    changed = (disc(x) - disc(y)).abs()[0] > 0
    assert changed[-1, -1] and not changed[0, 0]


def test_multiscale_patchgan_concatenates_the_scales():
    torch.manual_seed(0)
    disc = patchgan((1, 28, 28), num_scales=2)
    assert disc.patch_grid == ((5, 5), (5, 5)) and disc.n_layers == (2, 1)
    logits = disc(conditions(4, (1, 28, 28)))
    assert logits.shape == (4, 50)
    # The second scale judges the half-size copy: its logits are the second block.
    half = disc.bodies[1](disc.pool(conditions(4, (1, 28, 28))))
    assert torch.allclose(logits[:, 25:], disc.head.heads[1](half.flatten(1)).flatten(1), atol=1e-6)


@pytest.mark.parametrize("num_scales", [1, 2])
def test_patchgan_gradients_reach_every_parameter_and_the_input(num_scales):
    torch.manual_seed(0)
    disc = patchgan((2, 28, 28), num_classes=10, num_scales=num_scales)
    x = conditions(4, (2, 28, 28)).requires_grad_()
    torch.nn.functional.softplus(-disc(x, torch.arange(4))).mean().backward()
    missing = [n for n, p in disc.named_parameters() if p.grad is None or not torch.isfinite(p.grad).all()]
    assert not missing and x.grad.abs().sum() > 0


def test_patchgan_labels_change_the_logits_when_conditional():
    torch.manual_seed(0)
    disc = patchgan((1, 28, 28), num_classes=10).eval()
    x = conditions(2, (1, 28, 28))
    assert not torch.allclose(disc(x, torch.tensor([0, 0])), disc(x, torch.tensor([1, 1])))


def test_patchgan_refuses_what_it_cannot_judge_clearly():
    with pytest.raises(ganforge.ConfigError, match="n_layers=4: they give no patch. Pass n_layers=3 or less"):
        patchgan((1, 28, 28), n_layers=4)
    with pytest.raises(ganforge.DataError, match="scale 3 \\(4x4 pixels\\).*num_scales=3 or less"):
        patchgan((1, 28, 28), num_scales=4)
    with pytest.raises(ganforge.DataError, match="5x5 images.*at least 6x6"):
        patchgan((1, 5, 5))
    with pytest.raises(ganforge.DataError, match=r"shape \(2,\).*disc='mlp'"):
        patchgan((2,))
    with pytest.raises(ganforge.ConfigError, match="'num_scales'"):
        patchgan((1, 28, 28), num_scales=0)


def test_spectral_norm_covers_every_convolution_of_both():
    from torch.nn.utils import parametrize

    for model in (unet((1, 28, 28), spectral_norm=True), patchgan((1, 28, 28), num_scales=2, spectral_norm=True)):
        convs = [m for m in model.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.ConvTranspose2d))]
        assert convs and all(parametrize.is_parametrized(m, "weight") for m in convs)
