"""SNGAN's ResNet generator and discriminator (Miyato et al. 2018), conditional as in Miyato and Koyama 2018.

Generator: a linear layer maps z to a small feature map (4x4, or 6x6 for
48x48 images); residual *up blocks* double its size, each
``BN -> ReLU -> upsample x2 -> conv 3x3 -> BN -> ReLU -> conv 3x3`` plus a
shortcut ``conv 1x1 -> upsample x2`` (the 1x1 convolution commutes with
nearest-neighbour upsampling, so running it first gives the same result at a
quarter of the cost); then ``BN -> ReLU -> conv 3x3 -> tanh`` to the image.
When training is conditional every batch norm of the blocks is a
:class:`~ganforge.models.conditioning.ConditionalBatchNorm2d` (per-class
gains and biases; the last one, before the output convolution, stays
unconditional, as in Miyato and Koyama's code).

Discriminator: residual *down blocks*
``ReLU -> conv 3x3 -> ReLU -> conv 3x3 [-> avgpool 2x2]`` with a shortcut
``conv 1x1 [-> avgpool 2x2]`` (identity when neither the channels nor the
size change); the first block is the "optimized" one, which has no leading
ReLU and pools its input before the shortcut's 1x1 convolution. Then ReLU,
a *sum* over the spatial positions (the features ``phi``) and a linear logit
(the head). When training is conditional the discriminator is a projection
discriminator: its logit is ``head(phi) + <embed(y), phi>``
(:class:`~ganforge.models.conditioning.Projection`). No batch norm.

Spectral normalisation: on by default in the discriminator (every
convolution, the head and the projection's embedding), off by default in the
generator (``spectral_norm=True`` normalises its linear and convolution
layers, not the conditional gains), as in the paper.

Layouts (``w`` = the ``width`` option; channels of each stage):

| size | generator: first map, then each up block | discriminator: each block (d: halves the size) |
|---|---|---|
| 32 | 4x4: w, w, w, w (w = 256) | w d, w d, w, w (w = 128) |
| 48 | 6x6: 8w, 4w, 2w, w (w = 64) | w d, 2w d, 4w d, 8w d, 16w (w = 64) |
| 64 | 4x4: 16w, 8w, 4w, 2w, w (w = 64) | w d, 2w d, 4w d, 8w d, 16w d (w = 64) |

32x32 is the CIFAR-10 model and 48x48 the STL-10 model of Miyato et al.
(2018, appendix B); 64x64 follows the pattern of Miyato and Koyama's ResNets
(their 128x128 ImageNet model without its first generator block and last
discriminator block). Weights start Xavier-uniform (gain sqrt(2) in the
residual branches' convolutions, 1 elsewhere), biases at 0, as in the
papers' Chainer code. Other image sizes raise
:class:`~ganforge.errors.DataError` suggesting ``image_size=``.
"""

from __future__ import annotations

import math
from itertools import pairwise

import attrs
import torch.nn.functional as F
from torch import Tensor, nn

from ganforge.errors import DataError
from ganforge.interfaces import Discriminator, Generator, ModelSpec
from ganforge.models.conditioning import ConditionalBatchNorm2d, Projection
from ganforge.models.layers import apply_spectral_norm
from ganforge.options import boolean, integer, option, optional, options


@attrs.frozen
class ResNetLayout:
    """The SNGAN ResNet layout for one image size.

    Attributes:
        base: Side of the generator's first feature map.
        gen: Generator channels as multiples of ``width``: the first map's, then each up block's output.
        disc: Discriminator channels as multiples of ``width``, one per block.
        disc_down: Whether each discriminator block halves the size (the first, optimized block always does).
        gen_width: The paper's generator ``width``.
        disc_width: The paper's discriminator ``width``.
    """

    base: int
    gen: tuple[int, ...]
    disc: tuple[int, ...]
    disc_down: tuple[bool, ...]
    gen_width: int
    disc_width: int


#: Layout of each supported image size (height = width).
LAYOUTS: dict[int, ResNetLayout] = {
    32: ResNetLayout(4, (1, 1, 1, 1), (1, 1, 1, 1), (True, True, False, False), 256, 128),
    48: ResNetLayout(6, (8, 4, 2, 1), (1, 2, 4, 8, 16), (True, True, True, True, False), 64, 64),
    64: ResNetLayout(4, (16, 8, 4, 2, 1), (1, 2, 4, 8, 16), (True, True, True, True, True), 64, 64),
}


def resnet_layout(shape: tuple[int, ...], model: str) -> tuple[int, int, ResNetLayout]:
    """Check an image shape for the SNGAN models; return ``(channels, size, layout)``.

    Raises:
        DataError: naming the shape, the supported sizes and the fix.
    """
    shape = tuple(shape)
    if len(shape) != 3:
        raise DataError(
            f"The sngan {model} needs image data shaped (channels, height, width); this data has samples of "
            f"shape {shape}. Use gen='mlp' / disc='mlp' (--gen mlp --disc mlp) for vector data such as grid25."
        )
    channels, height, width = shape
    if height != width or height not in LAYOUTS:
        raise DataError(
            f"The sngan {model} supports images of 32x32, 48x48 and 64x64; got {height}x{width} (samples of "
            f"shape {shape}). Resize the data with image_size=32 (--image-size 32), or 48 or 64."
        )
    return channels, height, LAYOUTS[height]


def _xavier(module: nn.Module, gain: float = 1.0) -> None:
    nn.init.xavier_uniform_(module.weight, gain)
    if getattr(module, "bias", None) is not None:
        nn.init.zeros_(module.bias)


def _up(x: Tensor) -> Tensor:
    return F.interpolate(x, scale_factor=2, mode="nearest")


class GenBlock(nn.Module):
    """Residual up block: ``[C]BN, ReLU, up x2, conv 3x3, [C]BN, ReLU, conv 3x3`` + ``conv 1x1, up x2``.

    Args:
        in_channels, out_channels: Channels in and out.
        num_classes: Classes for conditional batch norm, or None for plain batch norm.
    """

    def __init__(self, in_channels: int, out_channels: int, num_classes: int | None):
        super().__init__()
        self.norm1 = _batch_norm(in_channels, num_classes)
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, padding=1)
        self.norm2 = _batch_norm(out_channels, num_classes)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1)
        self.shortcut = nn.Conv2d(in_channels, out_channels, 1)
        _xavier(self.conv1, math.sqrt(2))
        _xavier(self.conv2, math.sqrt(2))
        _xavier(self.shortcut)

    def forward(self, x: Tensor, labels: Tensor | None = None) -> Tensor:
        h = F.relu(_normalise(self.norm1, x, labels))
        h = self.conv1(_up(h))
        h = F.relu(_normalise(self.norm2, h, labels))
        return self.conv2(h) + _up(self.shortcut(x))


def _batch_norm(channels: int, num_classes: int | None) -> nn.Module:
    return nn.BatchNorm2d(channels) if num_classes is None else ConditionalBatchNorm2d(channels, num_classes)


def _normalise(norm: nn.Module, x: Tensor, labels: Tensor | None) -> Tensor:
    return norm(x, labels) if isinstance(norm, ConditionalBatchNorm2d) else norm(x)


class DiscBlock(nn.Module):
    """Residual down block: ``ReLU, conv 3x3, ReLU, conv 3x3 [, avgpool]`` + ``conv 1x1 [, avgpool]``.

    The *optimized* block (the discriminator's first) has no leading ReLU,
    always halves the size and pools its input before the shortcut's
    convolution. Otherwise the shortcut is the identity when the block keeps
    both the channels and the size.

    Args:
        in_channels, out_channels: Channels in and out.
        downsample: Halve height and width (2x2 average pooling).
        optimized: Make this the optimized first block.
    """

    def __init__(self, in_channels: int, out_channels: int, downsample: bool, optimized: bool = False):
        super().__init__()
        self.optimized, self.downsample = optimized, downsample or optimized
        hidden = out_channels if optimized else in_channels
        self.conv1 = nn.Conv2d(in_channels, hidden, 3, padding=1)
        self.conv2 = nn.Conv2d(hidden, out_channels, 3, padding=1)
        learned = optimized or downsample or in_channels != out_channels
        self.shortcut = nn.Conv2d(in_channels, out_channels, 1) if learned else None
        _xavier(self.conv1, math.sqrt(2))
        _xavier(self.conv2, math.sqrt(2))
        if self.shortcut is not None:
            _xavier(self.shortcut)

    def forward(self, x: Tensor) -> Tensor:
        h = x if self.optimized else F.relu(x)
        h = self.conv2(F.relu(self.conv1(h)))
        if self.downsample:
            h = F.avg_pool2d(h, 2)
        if self.optimized:
            return h + self.shortcut(F.avg_pool2d(x, 2))
        short = x if self.shortcut is None else self.shortcut(x)
        return h + (F.avg_pool2d(short, 2) if self.downsample else short)


class SNGANGenerator(Generator):
    """SNGAN ResNet generator (Miyato et al. 2018): linear, residual up blocks, BN-ReLU-conv-tanh; conditional BN."""

    name = "sngan"
    description = "SNGAN ResNet generator (Miyato et al. 2018) for 32/48/64 px; conditional batch norm when conditional"

    @options
    class Options:
        width: int | None = option(None, validator=optional(integer(1)),
                                   help="Channels of the last up block; earlier blocks are multiples of it "
                                        "(default: the paper's, 256 at 32x32 and 64 at 48x48 and 64x64).")
        spectral_norm: bool = option(False, validator=boolean(),
                                     help="Spectrally normalise the linear and convolution layers "
                                          "(off in the paper's generator).")

    def __init__(self, spec: ModelSpec, **options: object):
        super().__init__(spec, **options)
        channels, self.size, layout = resnet_layout(spec.data_shape, "generator")
        width = self.options.width or layout.gen_width
        widths = [k * width for k in layout.gen]
        self.base = layout.base
        self.dense = nn.Linear(spec.latent_dim, widths[0] * layout.base**2)
        self.blocks = nn.ModuleList(GenBlock(c_in, c_out, spec.num_classes) for c_in, c_out in pairwise(widths))
        self.out_norm = nn.BatchNorm2d(widths[-1])
        self.out_conv = nn.Conv2d(widths[-1], channels, 3, padding=1)
        _xavier(self.dense)
        _xavier(self.out_conv)
        if self.options.spectral_norm:
            apply_spectral_norm(self)

    def forward(self, z: Tensor, labels: Tensor | None = None) -> Tensor:
        h = self.dense(z).view(z.shape[0], -1, self.base, self.base)
        for block in self.blocks:
            h = block(h, labels)
        return self.out_conv(F.relu(self.out_norm(h))).tanh()


class SNGANDiscriminator(Discriminator):
    """SNGAN ResNet discriminator (Miyato et al. 2018): residual down blocks, ReLU, sum pooling, linear; projection."""

    name = "sngan"
    description = "SNGAN ResNet discriminator (Miyato et al. 2018) for 32/48/64 px, spectral norm; projection D"

    @options
    class Options:
        width: int | None = option(None, validator=optional(integer(1)),
                                   help="Channels of the first block; later blocks are multiples of it "
                                        "(default: the paper's, 128 at 32x32 and 64 at 48x48 and 64x64).")
        spectral_norm: bool = option(True, validator=boolean(),
                                     help="Spectrally normalise every convolution, the head and the projection "
                                          "(the SN in SNGAN; false gives the plain ResNet critic).")

    def __init__(self, spec: ModelSpec, **options: object):
        super().__init__(spec, **options)
        channels, self.size, layout = resnet_layout(spec.disc_input_shape, "discriminator")
        width = self.options.width or layout.disc_width
        blocks = []
        for i, (k, down) in enumerate(zip(layout.disc, layout.disc_down)):
            blocks.append(DiscBlock(channels, k * width, downsample=down, optimized=i == 0))
            channels = k * width
        self.blocks = nn.Sequential(*blocks)
        #: Width ``F`` of the features (the last block's channels, summed over positions).
        self.num_features = channels
        self.head = nn.Linear(channels, 1)
        _xavier(self.head)
        self.projection = Projection(spec.num_classes, channels) if spec.conditional else None
        if self.options.spectral_norm:
            apply_spectral_norm(self, extra=[self.projection.embed] if self.projection is not None else [])

    def features(self, x: Tensor, labels: Tensor | None = None) -> Tensor:
        """``phi(x)``: ReLU of the last block's output summed over height and width, ``(B, F)``."""
        return F.relu(self.blocks(x)).sum(dim=(2, 3))

    def forward(self, x: Tensor, labels: Tensor | None = None) -> Tensor:
        """Raw logits ``(B,)``: ``head(phi)``, plus ``<embed(y), phi>`` when conditional."""
        features = self.features(x, labels)
        logits = self.head(features).squeeze(-1)
        if self.projection is not None:
            logits = logits + self.projection(features, labels)
        return logits
