"""The SNGAN ResNet generator and discriminator: layouts per size, blocks, initialisation, options, errors, training."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import parametrize

import ganforge
from ganforge.interfaces import ModelSpec
from ganforge.models.conditioning import ConditionalBatchNorm2d
from ganforge.models.sngan import DiscBlock, GenBlock, SNGANDiscriminator, SNGANGenerator


def convs(model: nn.Module) -> list[nn.Conv2d]:
    return [m for m in model.modules() if isinstance(m, nn.Conv2d)]


@pytest.mark.parametrize("conditional", [False, True], ids=["unconditional", "conditional"])
@pytest.mark.parametrize("width", [4, 8])
@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("size, blocks_g, blocks_d, features, last_map", [
    (32, 3, 4, 1, 8), (48, 3, 5, 16, 3), (64, 4, 5, 16, 2)])
def test_shapes_for_each_size_and_width(size, blocks_g, blocks_d, features, last_map, channels, width, conditional):
    torch.manual_seed(0)
    spec = ModelSpec((channels, size, size), latent_dim=16, num_classes=10 if conditional else None)
    gen, disc = SNGANGenerator(spec, width=width), SNGANDiscriminator(spec, width=width)
    labels = torch.tensor([1, 7, 3]) if conditional else None
    x = gen(torch.randn(3, 16), labels)
    assert x.shape == (3, channels, size, size) and x.abs().max() <= 1.0
    assert len(gen.blocks) == blocks_g and len(disc.blocks) == blocks_d
    assert gen.blocks[-1].conv2.out_channels == width  # G's last block has `width` channels
    assert disc.blocks[0].conv1.out_channels == width  # D's first block too
    assert disc.blocks(x).shape == (3, features * width, last_map, last_map)
    assert disc.features(x, labels).shape == (3, features * width) == (3, disc.num_features)
    assert disc(x, labels).shape == (3,)


def test_the_cifar10_layout_is_the_papers():
    """Miyato et al. 2018, table 4: G 4x4x256 and 3 up blocks of 256; D 4 blocks of 128, ReLU, sum pooling, dense."""
    spec = ModelSpec((3, 32, 32), latent_dim=128)
    gen, disc = SNGANGenerator(spec), SNGANDiscriminator(spec)
    assert (gen.dense.in_features, gen.dense.out_features, gen.base) == (128, 4 * 4 * 256, 4)
    assert [(b.conv1.in_channels, b.conv2.out_channels) for b in gen.blocks] == [(256, 256)] * 3
    assert all(b.conv1.kernel_size == (3, 3) and b.shortcut.kernel_size == (1, 1) for b in gen.blocks)
    assert isinstance(gen.out_norm, nn.BatchNorm2d) and gen.out_norm.num_features == 256
    assert (gen.out_conv.in_channels, gen.out_conv.out_channels, gen.out_conv.kernel_size) == (256, 3, (3, 3))
    assert not any(parametrize.is_parametrized(m) for m in gen.modules())  # no SN in G by default

    assert [(b.conv1.in_channels, b.conv2.out_channels) for b in disc.blocks] == [(3, 128)] + [(128, 128)] * 3
    assert [b.optimized for b in disc.blocks] == [True, False, False, False]
    assert [b.downsample for b in disc.blocks] == [True, True, False, False]
    assert [b.shortcut is None for b in disc.blocks] == [False, False, True, True]  # identity when nothing changes
    assert not any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in disc.modules())
    assert (disc.head.in_features, disc.head.out_features) == (128, 1)
    assert all(parametrize.is_parametrized(m, "weight") for m in [*convs(disc), disc.head])  # SN on by default
    # The sizes docs/models.md quotes.
    assert sum(p.numel() for p in gen.parameters()) == 4_276_739
    assert sum(p.numel() for p in disc.parameters()) == 1_053_825


@pytest.mark.parametrize("size, gen_channels, disc_channels, downs, params", [
    (48, [512, 256, 128, 64], [64, 128, 256, 512, 1024], [True, True, True, True, False], (4_878_083, 10_141_441)),
    (64, [1024, 512, 256, 128, 64], [64, 128, 256, 512, 1024], [True] * 5, (12_220_675, 10_141_441)),
])
def test_the_48_and_64_layouts(size, gen_channels, disc_channels, downs, params):
    """STL-10 at 48x48 (Miyato et al. 2018, table 5) and the 64x64 pattern; default width 64."""
    spec = ModelSpec((3, size, size), latent_dim=128)
    gen, disc = SNGANGenerator(spec), SNGANDiscriminator(spec)
    assert gen.dense.out_features == gen_channels[0] * gen.base**2 and gen.base == (6 if size == 48 else 4)
    assert [b.conv2.out_channels for b in gen.blocks] == gen_channels[1:]
    assert [b.conv2.out_channels for b in disc.blocks] == disc_channels
    assert [b.downsample for b in disc.blocks] == downs
    assert (sum(p.numel() for p in gen.parameters()), sum(p.numel() for p in disc.parameters())) == params


def test_the_optimized_block_has_no_leading_relu_and_the_others_do():
    torch.manual_seed(0)
    first, later = DiscBlock(3, 8, downsample=True, optimized=True), DiscBlock(8, 8, downsample=False)
    x = torch.randn(2, 3, 8, 8)
    assert not torch.allclose(first(x), first(F.relu(x)))  # negative inputs reach the first convolution
    assert first(x).shape == (2, 8, 4, 4)
    # The identity shortcut carries x itself; the residual branch sees ReLU(x): with the branch's last
    # convolution zeroed, the block is exactly the identity.
    with torch.no_grad():
        later.conv2.weight.zero_(), later.conv2.bias.zero_()
    h = torch.randn(2, 8, 4, 4)
    assert later.shortcut is None and torch.equal(later(h), h)


def test_the_generator_shortcut_convolves_then_upsamples_which_equals_the_reverse():
    torch.manual_seed(0)
    block = GenBlock(4, 6, num_classes=None)
    with torch.no_grad():
        block.conv2.weight.zero_(), block.conv2.bias.zero_()
    x = torch.randn(2, 4, 5, 5)
    up = F.interpolate(x, scale_factor=2, mode="nearest")
    assert block(x).shape == (2, 6, 10, 10)
    assert torch.allclose(block(x), block.shortcut(up), atol=1e-6)


def test_features_are_summed_not_averaged_over_positions():
    torch.manual_seed(0)
    disc = SNGANDiscriminator(ModelSpec((3, 32, 32)), width=4).eval()  # eval: no power iteration between calls
    x = torch.randn(2, 3, 32, 32)
    last = F.relu(disc.blocks(x))
    assert last.shape[-2:] == (8, 8)
    assert torch.allclose(disc.features(x), last.sum(dim=(2, 3)))
    assert torch.allclose(disc.features(x), 64 * last.mean(dim=(2, 3)), rtol=1e-5)


def test_initialisation_is_xavier_uniform_with_zero_biases():
    torch.manual_seed(0)
    gen = SNGANGenerator(ModelSpec((3, 32, 32), latent_dim=128), width=64)
    disc = SNGANDiscriminator(ModelSpec((3, 32, 32)), width=64, spectral_norm=False)

    def bound(m, gain):
        fan_in = m.weight[0].numel()
        fan_out = m.weight.shape[0] * m.weight[0, 0].numel()
        return gain * math.sqrt(6 / (fan_in + fan_out))

    for block in [*gen.blocks, *disc.blocks]:
        for conv, gain in ((block.conv1, math.sqrt(2)), (block.conv2, math.sqrt(2)), (block.shortcut, 1.0)):
            if conv is None:
                continue
            b = bound(conv, gain)
            assert conv.weight.abs().max() <= b and conv.weight.abs().max() > 0.95 * b
            assert torch.all(conv.bias == 0)
    assert gen.dense.weight.abs().max() <= bound(gen.dense, 1.0) and torch.all(disc.head.bias == 0)
    assert torch.all(gen.out_norm.weight == 1) and torch.all(gen.out_norm.bias == 0)


@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 16, 16), (3, 128, 128), (3, 32, 48), (3, 40, 40)])
@pytest.mark.parametrize("cls", [SNGANGenerator, SNGANDiscriminator])
def test_unsupported_sizes_name_the_shape_and_the_fix(cls, shape):
    with pytest.raises(ganforge.DataError) as err:
        cls(ModelSpec(shape), width=4)
    msg = str(err.value)
    assert str(shape) in msg and f"{shape[1]}x{shape[2]}" in msg
    assert "32x32, 48x48 and 64x64" in msg and "image_size=32 (--image-size 32)" in msg


def test_vector_data_points_to_mlp():
    with pytest.raises(ganforge.DataError, match=r"shape \(2,\)\. Use gen='mlp' / disc='mlp'"):
        SNGANGenerator(ModelSpec((2,)))
    with pytest.raises(ganforge.DataError, match="The sngan discriminator needs image data"):
        SNGANDiscriminator(ModelSpec((2,)))


def test_bad_options():
    with pytest.raises(ganforge.ConfigError) as err:
        ganforge.create_plugin("generator", "sngan", ModelSpec((3, 32, 32)), width=0)
    assert str(err.value) == "Option of generator 'sngan': 'width' must be None or an integer >= 1 (got 0)"
    with pytest.raises(ganforge.ConfigError, match="Unknown option 'widht' for discriminator 'sngan'. Did you mean "
                                                   "'width'?"):
        ganforge.create_plugin("discriminator", "sngan", ModelSpec((3, 32, 32)), widht=8)


def test_conditional_generator_uses_conditional_batch_norm_in_its_blocks_only():
    gen = SNGANGenerator(ModelSpec((3, 32, 32), num_classes=10), width=4)
    cbn = [m for m in gen.modules() if isinstance(m, ConditionalBatchNorm2d)]
    assert len(cbn) == 2 * len(gen.blocks) and all(m.gain.num_embeddings == 10 for m in cbn)
    assert type(gen.out_norm) is nn.BatchNorm2d  # the last one is unconditional
    plain = SNGANGenerator(ModelSpec((3, 32, 32)), width=4)
    assert not any(isinstance(m, ConditionalBatchNorm2d) for m in plain.modules())


def _settings(tmp_path, **more):
    return dict(gen="sngan", disc="sngan", steps=3, batch_size=8, latent_dim=16, log_every=1, sample_every=0,
                checkpoint_every=0, progress=False, device="cpu", out_dir=str(tmp_path / "run"),
                gen_options={"width": 8}, disc_options={"width": 8}, **more)


def _check_run(trainer, shape, conditional):
    history = trainer.fit()
    assert trainer.spec.data_shape == shape
    assert len(history.g_loss) == 3 and all(math.isfinite(v) for v in history.g_loss + history.d_loss)
    labels = torch.arange(2) if conditional else None
    assert trainer.sample(2, labels=labels).shape == (2, *shape)


def test_trains_conditionally_on_cifar10(tiny_cifar, tmp_path):
    trainer = ganforge.Trainer(**_settings(tmp_path, data="cifar10", data_root=str(tiny_cifar), split="test",
                                           data_options={"download": False}, conditional=True))
    _check_run(trainer, (3, 32, 32), True)
    assert trainer.disc.projection is not None


@pytest.mark.parametrize("size", [48, 64])
def test_trains_on_an_image_folder(tiny_folder, tmp_path, size):
    trainer = ganforge.Trainer(**_settings(tmp_path, data="image-folder", data_root=str(tiny_folder),
                                           data_options={"image_size": size}, conditional=True))
    _check_run(trainer, (3, size, size), True)


def test_trains_on_mnist_resized_to_32(mnist_root, tmp_path):
    trainer = ganforge.Trainer(**_settings(tmp_path, data="mnist", data_root=str(mnist_root), split="test",
                                           image_size=32))
    _check_run(trainer, (1, 32, 32), False)


def test_mnist_at_28_is_refused_before_training_with_the_fix(tiny_mnist, tmp_path):
    trainer = ganforge.Trainer(**_settings(tmp_path, data="mnist", data_root=str(tiny_mnist), split="test"))
    with pytest.raises(ganforge.DataError, match=r"got 28x28 \(samples of shape \(1, 28, 28\)\)\. Resize the data "
                                                 r"with image_size=32"):
        trainer.fit()
    assert trainer.step == 0


@pytest.mark.parametrize("gen, disc", [("sngan", "dcgan"), ("dcgan", "sngan")])
def test_pairs_with_dcgan(gen, disc, tiny_mnist, tmp_path):
    settings = _settings(tmp_path, data="mnist", data_root=str(tiny_mnist), split="test", image_size=32,
                         conditional=True)
    settings.update(gen=gen, disc=disc)
    if disc == "dcgan":
        settings["disc_options"] = {"width": 8, "conditional": "projection"}
    _check_run(ganforge.Trainer(**settings), (1, 32, 32), True)
