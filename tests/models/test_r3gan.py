"""R3GAN's networks: sizes, the fix-up initialisation (blocks start as the identity), no normalisation, the
resampling filter, conditioning, and a short rpgan + R1 + R2 run that traces whole."""

from __future__ import annotations

import math

import pytest
import torch
from test_capture import capturable_on_the_cpu, eager_and_traced  # noqa: F401
from torch import nn

import ganforge
from ganforge.errors import DataError
from ganforge.interfaces import ModelSpec
from ganforge.models.r3gan import ACT_GAIN, R3GANDiscriminator, R3GANGenerator, ResidualBlock, downsample, upsample


@pytest.mark.parametrize(("shape", "stages"), [((1, 28, 28), 3), ((3, 32, 32), 4), ((3, 64, 64), 5)])
def test_sizes_stages_and_outputs(shape, stages):
    spec = ModelSpec(shape, 16)
    g, d = R3GANGenerator(spec, width=32), R3GANDiscriminator(spec, width=32)
    assert len(g.stages) == len(d.stages) == stages and g.basis.shape[-1] == (7 if shape[1] == 28 else 4)
    x = g(torch.randn(3, 16))
    assert x.shape == (3, *shape) and d(x).shape == (3,) and d.features(x).shape == (3, 32)


def test_widths_per_stage_and_the_mirror_in_d():
    spec = ModelSpec((3, 32, 32), 8)
    g = R3GANGenerator(spec, widths=(64, 64, 32, 16))
    d = R3GANDiscriminator(spec, widths=(64, 64, 32, 16))
    assert [s[0].widen.in_channels for s in g.stages] == [64, 64, 32, 16]
    assert [s[0].widen.in_channels for s in d.stages] == [16, 32, 64, 64] and d.from_image.out_channels == 16
    with pytest.raises(DataError, match=r"widths has 3 entries, and images of this size need 4 stages"):
        R3GANGenerator(spec, widths=(64, 32, 16))


def test_every_block_starts_as_the_identity_and_the_widening_layers_have_the_fixup_scale():
    spec = ModelSpec((3, 32, 32), 8)
    g = R3GANGenerator(spec, width=64, blocks=2, expansion=2, group_size=16)
    blocks = [m for m in g.modules() if isinstance(m, ResidualBlock)]
    assert len(blocks) == 8
    x = torch.randn(2, 64, 8, 8)
    for block in blocks:
        assert torch.equal(block(x), x) and not block.narrow.weight.any()
        assert block.grouped.groups == 64 * 2 // 16
    torch.manual_seed(0)
    wide = R3GANGenerator(ModelSpec((3, 32, 32), 8), width=512, blocks=2).stages[0][0].widen.weight
    expected = ACT_GAIN * 8 ** -0.25 / math.sqrt(512)  # gain * L^(-1/4) / sqrt(fan_in), L = 8 blocks
    assert float(wide.detach().std()) == pytest.approx(expected, rel=0.02)


def test_no_normalisation_layer_anywhere():
    spec = ModelSpec((3, 32, 32), 8, 10)
    for model in (R3GANGenerator(spec, width=32), R3GANDiscriminator(spec, width=32)):
        norms = [m for m in model.modules() if isinstance(m, (nn.BatchNorm2d, nn.GroupNorm, nn.InstanceNorm2d,
                                                              nn.LayerNorm))]
        assert norms == []


def test_resampling_keeps_a_constant_inside_and_halves_or_doubles_the_size():
    up, down = upsample(torch.ones(1, 2, 4, 4)), downsample(torch.ones(1, 2, 8, 8))
    assert up.shape == (1, 2, 8, 8) and down.shape == (1, 2, 4, 4)
    assert torch.allclose(up[..., :7, :7], torch.ones(())) and torch.allclose(down[..., 1:, 1:], torch.ones(()))


def test_conditional_by_embedding_in_g_and_projection_in_d():
    spec = ModelSpec((1, 28, 28), 16, 10)
    g, d = R3GANGenerator(spec, width=32), R3GANDiscriminator(spec, width=32)
    assert g.label_embedding.embedding_dim == 16 and d.projection.embedding_dim == 32
    z, x = torch.randn(2, 16), torch.randn(2, 1, 28, 28)
    with torch.no_grad():
        d.projection.weight.normal_()
        assert not torch.allclose(d(x, torch.tensor([1, 1])), d(x, torch.tensor([2, 2])))
        assert not torch.allclose(g(z, torch.tensor([0, 0])), g(z, torch.tensor([5, 5])))


def test_attribute_rows_are_taken():
    spec = ModelSpec((1, 28, 28), 8, None, num_attributes=3)
    g, d = R3GANGenerator(spec, width=16), R3GANDiscriminator(spec, width=16)
    rows = torch.tensor([[1.0, 0, 1], [0, 1, 0]])
    assert d(g(torch.randn(2, 8), rows), rows).shape == (2,)


def test_other_sizes_are_refused_with_the_fix():
    with pytest.raises(DataError, match=r"needs square images of 28x28, 32x32, 64x64.*got|image_size=32"):
        R3GANGenerator(ModelSpec((3, 48, 48), 8))
    with pytest.raises(DataError, match="not a multiple of group_size 16"):
        R3GANGenerator(ModelSpec((3, 32, 32), 8), width=12, expansion=1)


def test_the_linear_output_and_tanh_option():
    spec = ModelSpec((1, 28, 28), 8)
    assert R3GANGenerator.output_bounded is False
    g = R3GANGenerator(spec, width=16, output="tanh")
    with torch.no_grad():
        g.to_image.weight.mul_(1000)
        assert g(torch.randn(4, 8)).abs().max() <= 1


def test_spectral_norm_normalises_every_layer_and_the_blocks_then_start_random():
    g = R3GANGenerator(ModelSpec((1, 28, 28), 8, 10), width=16, spectral_norm=True)
    from torch.nn.utils import parametrize

    block = g.stages[0][0]
    assert parametrize.is_parametrized(block.widen) and parametrize.is_parametrized(block.narrow)
    assert parametrize.is_parametrized(g.label_embedding) and block.narrow.weight.abs().sum() > 0
    assert torch.isfinite(g(torch.randn(2, 8), torch.tensor([1, 2]))).all()


def _tiny(tmp_path, **more):
    return dict(data="tiny_images", gen="r3gan", disc="r3gan", image_size=32, gen_options={"width": 16},
                disc_options={"width": 16}, loss="rpgan", regularizers=["r1", "r2"], latent_dim=8, batch_size=8,
                steps=12, log_every=12, sample_every=0, checkpoint_every=0, progress=False, device="cpu",
                out_dir=str(tmp_path / "run"), **more)


@pytest.mark.slow
def test_an_rpgan_r1_r2_run_trains_and_traces_whole(image_data, tmp_path, capturable_on_the_cpu):  # noqa: F811
    eager, traced = eager_and_traced(ganforge.Trainer(**_tiny(tmp_path, conditional=True)))
    assert torch.isfinite(eager).all() and torch.allclose(eager, traced, rtol=1e-4, atol=1e-5)
