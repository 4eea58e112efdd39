"""The DCGAN generator and discriminator: sizes, layout, initialisation, options, errors."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import ganforge
from ganforge.interfaces import ModelSpec
from ganforge.models.dcgan import DCGANDiscriminator, DCGANGenerator


def pair(shape, num_classes=None, **options):
    spec = ModelSpec(shape, latent_dim=16, num_classes=num_classes)
    g_opts = {k: v for k, v in options.items() if k in ("upsample", "norm", "activation")}
    d_opts = {k: v for k, v in options.items() if k in ("downsample", "norm")}
    return DCGANGenerator(spec, width=8, **g_opts), DCGANDiscriminator(spec, width=8, **d_opts)


@pytest.mark.parametrize("size", [28, 32, 64, 128, 256])
@pytest.mark.parametrize("channels", [1, 3])
def test_shapes_for_every_supported_size(size, channels):
    torch.manual_seed(0)
    gen, disc = pair((channels, size, size))
    x = gen(torch.randn(2, 16))
    assert x.shape == (2, channels, size, size)
    assert x.abs().max() <= 1.0
    feats = disc.features(x)
    base = 7 if size == 28 else 4
    assert feats.shape == (2, disc.head.in_features)
    # The features are the last feature map, flattened: base x base pixels.
    assert disc.head.in_features % (base * base) == 0
    assert disc(x).shape == (2,)


def test_layout_at_64x64_is_the_papers():
    gen, disc = DCGANGenerator(ModelSpec((3, 64, 64))), DCGANDiscriminator(ModelSpec((3, 64, 64)))
    assert gen.project.out_features == 512 * 4 * 4  # 8w channels at 4x4
    ups = [m for m in gen.blocks if isinstance(m, nn.ConvTranspose2d)]
    assert [(m.in_channels, m.out_channels) for m in ups] == [(512, 256), (256, 128), (128, 64), (64, 3)]
    assert all(m.kernel_size == (4, 4) and m.stride == (2, 2) for m in ups)
    assert [m.num_features for m in gen.modules() if isinstance(m, nn.BatchNorm2d)] == [512, 256, 128, 64]
    assert sum(isinstance(m, nn.ReLU) for m in gen.modules()) == 4
    assert isinstance(gen.blocks[-1], nn.Tanh)

    convs = [m for m in disc.body if isinstance(m, nn.Conv2d)]
    assert [(m.in_channels, m.out_channels) for m in convs] == [(3, 64), (64, 128), (128, 256), (256, 512)]
    assert all(m.stride == (2, 2) for m in convs)
    # BatchNorm on every block but the first, LeakyReLU 0.2 everywhere, no pooling.
    assert [m.num_features for m in disc.modules() if isinstance(m, nn.BatchNorm2d)] == [128, 256, 512]
    assert isinstance(disc.body[1], nn.LeakyReLU) and disc.body[1].negative_slope == 0.2
    assert all(m.negative_slope == 0.2 for m in disc.modules() if isinstance(m, nn.LeakyReLU))
    assert not any(isinstance(m, (nn.AvgPool2d, nn.MaxPool2d)) for m in disc.modules())
    assert disc.head.in_features == 512 * 4 * 4 and disc.head.out_features == 1


def test_28x28_starts_from_7x7_and_widths_are_capped():
    gen = DCGANGenerator(ModelSpec((1, 28, 28)), width=8)
    assert gen.base == 7 and gen.project.out_features == 16 * 7 * 7
    big = DCGANGenerator(ModelSpec((3, 256, 256)), width=4)
    chans = [m.out_channels for m in big.blocks if isinstance(m, nn.ConvTranspose2d)]
    assert big.project.out_features == 32 * 16 and chans == [32, 32, 16, 8, 4, 3]  # at most 8 * width


def test_initialisation_statistics():
    torch.manual_seed(0)
    gen, disc = DCGANGenerator(ModelSpec((3, 64, 64)), width=32), DCGANDiscriminator(ModelSpec((3, 64, 64)), width=32)
    for model in (gen, disc):
        for m in model.modules():
            if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
                if m.weight.numel() >= 1000:
                    assert abs(m.weight.std().item() - 0.02) < 0.003, m
                    assert abs(m.weight.mean().item()) < 0.003, m
                if m.bias is not None:
                    assert torch.all(m.bias == 0)
        scales = torch.cat([m.weight for m in model.modules() if isinstance(m, nn.BatchNorm2d)])
        assert abs(scales.mean().item() - 1.0) < 0.005 and abs(scales.std().item() - 0.02) < 0.005
        assert all(torch.all(m.bias == 0) for m in model.modules() if isinstance(m, nn.BatchNorm2d))


@pytest.mark.parametrize("upsample", ["convtranspose", "pixelshuffle", "upsample"])
@pytest.mark.parametrize("norm", ["batch", "instance", "none"])
def test_generator_options_build_and_train(upsample, norm):
    gen = DCGANGenerator(ModelSpec((3, 32, 32), latent_dim=16), width=8, upsample=upsample, norm=norm)
    x = gen(torch.randn(3, 16))
    assert x.shape == (3, 3, 32, 32)
    x.square().mean().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in gen.parameters())
    kinds = {type(m) for m in gen.modules()}
    assert (nn.PixelShuffle in kinds) == (upsample == "pixelshuffle")
    assert (nn.Upsample in kinds) == (upsample == "upsample")
    assert (nn.InstanceNorm2d in kinds) == (norm == "instance")
    assert (nn.BatchNorm2d in kinds) == (norm == "batch")


@pytest.mark.parametrize("downsample", ["strided", "avgpool"])
@pytest.mark.parametrize("norm", ["batch", "instance", "none"])
def test_discriminator_options_build_and_train(downsample, norm):
    disc = DCGANDiscriminator(ModelSpec((1, 28, 28)), width=8, downsample=downsample, norm=norm)
    out = disc(torch.randn(3, 1, 28, 28))
    assert out.shape == (3,)
    out.sum().backward()
    assert all(p.grad is not None for p in disc.parameters())
    pools = [m for m in disc.modules() if isinstance(m, nn.AvgPool2d)]
    assert len(pools) == (2 if downsample == "avgpool" else 0)
    convs = [m for m in disc.body if isinstance(m, nn.Conv2d)]
    assert all(c.stride == ((1, 1) if downsample == "avgpool" else (2, 2)) for c in convs)


def test_activation_options():
    gen = DCGANGenerator(ModelSpec((1, 32, 32)), width=8, activation="leaky_relu")
    disc = DCGANDiscriminator(ModelSpec((1, 32, 32)), width=8, activation="elu")
    assert not any(isinstance(m, nn.ReLU) for m in gen.modules())
    assert any(isinstance(m, nn.LeakyReLU) for m in gen.modules())
    assert any(isinstance(m, nn.ELU) for m in disc.modules())
    assert not any(isinstance(m, nn.LeakyReLU) for m in disc.modules())


@pytest.mark.parametrize("shape", [(1, 30, 30), (3, 16, 16), (3, 512, 512), (3, 48, 48), (1, 32, 64)])
@pytest.mark.parametrize("cls", [DCGANGenerator, DCGANDiscriminator])
def test_unsupported_sizes_say_which_work(shape, cls):
    with pytest.raises(ganforge.DataError) as err:
        cls(ModelSpec(shape), width=8)
    msg = str(err.value)
    assert f"{shape[1]}x{shape[2]}" in msg
    assert "28x28" in msg and "256x256" in msg
    assert "image_size=32" in msg and "--image-size 32" in msg


def test_vector_data_points_to_mlp():
    with pytest.raises(ganforge.DataError, match=r"\(2,\).*gen='mlp'"):
        DCGANGenerator(ModelSpec((2,)))
    with pytest.raises(ganforge.DataError, match="disc='mlp'"):
        DCGANDiscriminator(ModelSpec((2,)))


def test_trainer_refuses_dcgan_on_points(tiny):
    with pytest.raises(ganforge.DataError, match="mlp"):
        ganforge.Trainer(gen="dcgan", disc="dcgan", data="grid25", **tiny).fit()


@pytest.mark.parametrize(
    "cls, options, text",
    [
        (DCGANGenerator, {"width": 0}, "'width'"),
        (DCGANGenerator, {"upsample": "bilinear"}, "'upsample' must be one of"),
        (DCGANGenerator, {"norm": "group"}, "'norm' must be one of"),
        (DCGANGenerator, {"activation": "swish"}, "'activation' must be one of"),
        (DCGANDiscriminator, {"downsample": "maxpool"}, "'downsample' must be one of"),
        (DCGANDiscriminator, {"width": 2.5}, "'width'"),
    ],
)
def test_bad_options(cls, options, text):
    with pytest.raises(ganforge.ConfigError, match=text):
        cls(ModelSpec((1, 32, 32)), **options)


def test_conditional_inputs_change_the_outputs():
    torch.manual_seed(0)
    gen, disc = pair((3, 64, 64), num_classes=10)
    gen.eval(), disc.eval()
    z = torch.randn(1, 16).expand(2, 16)
    labels = torch.tensor([2, 7])
    x = gen(z, labels)
    assert not torch.allclose(x[0], x[1])  # same z, different class
    assert gen.label_embedding.embedding_dim == 10
    maps = disc.label_channel(labels)
    assert maps.shape == (2, 1, 64, 64)  # learned 32x32, upsampled to the image size
    assert disc.body[0].in_channels == 4
    same = x[:1].expand(2, -1, -1, -1)
    logits = disc(same, labels)
    assert logits.shape == (2,) and logits[0] != logits[1]  # same image, different class


def test_trainer_on_mnist_resized_to_32(mnist_root, tiny):
    tiny.update(steps=4, log_every=2, batch_size=16)
    trainer = ganforge.Trainer(gen="dcgan", disc="dcgan", data="mnist", data_root=str(mnist_root), split="test",
                               image_size=32, gen_options={"width": 8}, disc_options={"width": 8}, **tiny)
    history = trainer.fit()
    assert trainer.spec.data_shape == (1, 32, 32)
    assert len(history.g_loss) == 4 and all(map(torch.isfinite, torch.tensor(history.g_loss + history.d_loss)))
    assert trainer.sample(3).shape == (3, 1, 32, 32)


def test_trainer_on_mnist_at_28_without_resizing(mnist_root, tiny):
    tiny.update(steps=4, log_every=2, batch_size=16)
    trainer = ganforge.Trainer(gen="dcgan", disc="dcgan", data="mnist", data_root=str(mnist_root), split="test",
                               conditional=True, gen_options={"width": 8}, disc_options={"width": 8}, **tiny)
    trainer.fit()
    assert trainer.spec.data_shape == (1, 28, 28) and trainer.spec.num_classes == 10
    assert trainer.sample(2, labels=torch.tensor([3, 4])).shape == (2, 1, 28, 28)
