"""Deep convolutional GAN (Radford, Metz and Chintala 2015).

The generator projects the latent vector to a small feature map (4x4, or 7x7
for 28x28 images) and doubles its height and width block by block, halving
the channels (BatchNorm and ReLU after every block), up to a last block that
outputs the image's channels through a tanh. The discriminator mirrors it:
strided convolutions halve the size and double the channels (LeakyReLU 0.2,
BatchNorm on every block but the first, no pooling) down to the same small
map, which is flattened (the features) and fed to one linear logit (the
head). All weights start from N(0, 0.02), BatchNorm scales from N(1, 0.02).

Channels: the block at the smallest map has ``width * 2**(k-1)`` channels
(``k`` blocks), capped at ``8 * width``; for 64x64 images this is the
paper's 8w-4w-2w-w layout (w = 64).

Supported images: C x S x S with S = 28 or a power of two from 32 to 256,
any number of channels C. Anything else raises :class:`~ganforge.errors.DataError`
suggesting ``image_size=`` to resize the data.

Conditional training: G concatenates a label embedding to z. D either adds a
learned label map to its input as an extra channel (``conditional="label_map"``,
the default) or is a projection discriminator (``conditional="projection"``,
Miyato and Koyama 2018): its logit is ``head(phi) + <embed(y), phi>`` on its
features ``phi``. ``spectral_norm=True`` (either model) divides every linear
and (transposed) convolution weight, the head and the projection's embedding
included, by its largest singular value (Miyato et al. 2018).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ganforge.errors import DataError
from ganforge.interfaces import Discriminator, Generator, ModelSpec
from ganforge.models.conditioning import Projection, label_count, label_encoder
from ganforge.models.layers import (
    ACTIVATIONS,
    DOWNSAMPLES,
    NORMS,
    UPSAMPLES,
    apply_spectral_norm,
    init_normal_,
    make_activation,
    make_downsample,
    make_norm,
    make_upsample,
)
from ganforge.options import boolean, choice, integer, option, optional, options

#: Image sizes (height = width) the DCGAN models are built for.
SUPPORTED_SIZES = (28, 32, 64, 128, 256)
#: The discriminator's label map is at most this many pixels wide, then upsampled.
_LABEL_MAP_MAX = 32
#: How the discriminator uses labels in conditional training.
CONDITIONINGS = ("label_map", "projection")


def image_layout(shape: tuple[int, ...], model: str) -> tuple[int, int, int]:
    """Check an image shape for the DCGAN models; return ``(channels, size, base)``.

    ``base`` is the side of the smallest feature map: 7 for 28x28 images,
    4 for powers of two. The number of size-doubling blocks is
    ``log2(size / base)``.

    Raises:
        DataError: naming the shape, the supported sizes and the fix.
    """
    shape = tuple(shape)
    if len(shape) != 3:
        raise DataError(
            f"The dcgan {model} needs image data shaped (channels, height, width); this data has samples of "
            f"shape {shape}. Use gen='mlp' / disc='mlp' (--gen mlp --disc mlp) for vector data such as grid25."
        )
    channels, height, width = shape
    sizes = ", ".join(f"{s}x{s}" for s in SUPPORTED_SIZES)
    hint = f"Resize the data with image_size=32 (--image-size 32), or any of {SUPPORTED_SIZES[1:]}."
    if height != width:
        raise DataError(f"The dcgan {model} needs square images ({sizes}); got {height}x{width}. {hint}")
    if height == 28:
        return channels, 28, 7
    if height in SUPPORTED_SIZES:
        return channels, height, 4
    raise DataError(f"The dcgan {model} supports images of {sizes} (powers of two from 32 to 256, and 28); "
                    f"got {height}x{width}. {hint}")


def block_widths(width: int, blocks: int) -> list[int]:
    """Channels of each block from the smallest feature map outwards: ``width * 2**(blocks-1-i)``, capped at ``8 * width``."""
    return [width * min(2 ** (blocks - 1 - i), 8) for i in range(blocks)]


class DCGANGenerator(Generator):
    """DCGAN generator: project z, upsample x2 per block (BatchNorm, ReLU), tanh output."""

    name = "dcgan"
    description = "Deep convolutional generator (Radford et al. 2015): project, upsample x2 per block, tanh"
    takes_attributes = True

    @options
    class Options:
        width: int = option(64, validator=integer(1),
                            help="Channels of the last hidden block; earlier ones have 2x, 4x, at most 8x as many.")
        upsample: str = option("convtranspose", validator=choice(*UPSAMPLES),
                               help="How each block doubles the size: 4x4 transposed conv, conv + PixelShuffle, "
                                    "or nearest neighbour + conv.")
        norm: str = option("batch", validator=choice(*NORMS),
                           help="Normalisation after the projection and every hidden block, never on the output.")
        activation: str = option("relu", validator=choice(*ACTIVATIONS), help="Hidden activation.")
        embed_dim: int | None = option(None, validator=optional(integer(1)),
                                       help="Size of the label embedding concatenated to z when conditional "
                                            "(default: the number of classes, at most 128).")
        spectral_norm: bool = option(False, validator=boolean(),
                                     help="Spectrally normalise the projection and every convolution "
                                          "(Miyato et al. 2018).")

    def __init__(self, spec: ModelSpec, **options: object):
        super().__init__(spec, **options)
        o = self.options
        channels, size, base = image_layout(spec.data_shape, "generator")
        widths = block_widths(o.width, int(math.log2(size // base)))
        bias = o.norm == "none"  # a norm's shift makes a bias before it redundant
        in_features = spec.latent_dim
        self.label_embedding = None
        if spec.conditional:
            embed_dim = o.embed_dim or min(label_count(spec), 128)
            self.label_embedding = label_encoder(spec, embed_dim)
            in_features += embed_dim
        self.base = base
        self.project = nn.Linear(in_features, widths[0] * base * base, bias=bias)
        first = [make_norm(o.norm, widths[0], dims=2), make_activation(o.activation)]
        self.project_act = nn.Sequential(*[m for m in first if m is not None])
        blocks: list[nn.Module] = []
        for c_in, c_out in zip(widths, widths[1:]):
            blocks.append(make_upsample(o.upsample, c_in, c_out, bias=bias))
            norm_layer = make_norm(o.norm, c_out, dims=2)
            if norm_layer is not None:
                blocks.append(norm_layer)
            blocks.append(make_activation(o.activation))
        blocks += [make_upsample(o.upsample, widths[-1], channels, bias=True), nn.Tanh()]
        self.blocks = nn.Sequential(*blocks)
        init_normal_(self)
        if o.spectral_norm:
            apply_spectral_norm(self)

    def forward(self, z: Tensor, labels: Tensor | None = None) -> Tensor:
        if self.label_embedding is not None:
            z = torch.cat([z, self.label_embedding(labels)], dim=1)
        h = self.project(z).view(z.shape[0], -1, self.base, self.base)
        return self.blocks(self.project_act(h))


class DCGANDiscriminator(Discriminator):
    """DCGAN discriminator: downsample x2 per block (LeakyReLU 0.2, BatchNorm but on the first), linear logit.

    When training is conditional, ``conditional="label_map"`` (default) embeds
    each label as a one-channel map (learned, at most 32x32, upsampled to the
    image size) concatenated to the input as an extra channel;
    ``conditional="projection"`` leaves the input alone and adds
    ``<embed(y), features>`` to the logit (a projection discriminator).
    """

    name = "dcgan"
    description = "Deep convolutional discriminator (Radford et al. 2015): strided convolutions, linear logit"
    takes_attributes = True

    @options
    class Options:
        width: int = option(64, validator=integer(1),
                            help="Channels of the first block; later ones have 2x, 4x, at most 8x as many.")
        downsample: str = option("strided", validator=choice(*DOWNSAMPLES),
                                 help="How each block halves the size: 4x4 stride-2 conv, or 3x3 conv + 2x2 "
                                      "average pooling.")
        norm: str = option("batch", validator=choice(*NORMS), help="Normalisation of every block but the first.")
        activation: str = option("leaky_relu", validator=choice(*ACTIVATIONS),
                                 help="Hidden activation ('leaky_relu': slope 0.2).")
        conditional: str = option("label_map", validator=choice(*CONDITIONINGS),
                                  help="How labels enter when training is conditional: an extra input channel "
                                       "('label_map') or a projection term on the features ('projection').")
        spectral_norm: bool = option(False, validator=boolean(),
                                     help="Spectrally normalise every convolution, the head and the projection "
                                          "(Miyato et al. 2018).")

    def __init__(self, spec: ModelSpec, **options: object):
        super().__init__(spec, **options)
        o = self.options
        channels, size, base = image_layout(spec.disc_input_shape, "discriminator")
        widths = block_widths(o.width, int(math.log2(size // base)))[::-1]
        self.size = size
        self.label_map = None
        self.projection = None
        self.map_size = min(size, _LABEL_MAP_MAX)
        if spec.conditional and o.conditional == "label_map":
            self.label_map = label_encoder(spec, self.map_size * self.map_size)
            channels += 1
        blocks: list[nn.Module] = []
        for i, c_out in enumerate(widths):
            norm_layer = make_norm(o.norm, c_out, dims=2) if i > 0 else None
            blocks.append(make_downsample(o.downsample, channels, c_out, bias=norm_layer is None))
            if norm_layer is not None:
                blocks.append(norm_layer)
            blocks.append(make_activation(o.activation))
            channels = c_out
        self.body = nn.Sequential(*blocks)
        self.num_features = widths[-1] * base * base
        self.head = nn.Linear(self.num_features, 1)
        init_normal_(self)
        if spec.conditional and o.conditional == "projection":
            # Initialised like the head (N(0, 0.02)): the class term starts as small as the unconditional one.
            self.projection = Projection(label_count(spec), self.num_features, init_std=0.02,
                                         attributes=spec.num_attributes is not None)
        if o.spectral_norm:
            apply_spectral_norm(self, extra=[self.projection.embed] if self.projection is not None else [])

    def label_channel(self, labels: Tensor) -> Tensor:
        """The ``(B, 1, size, size)`` map a batch of labels adds to the input."""
        m = self.label_map(labels).view(labels.shape[0], 1, self.map_size, self.map_size)
        if self.map_size != self.size:
            m = F.interpolate(m, size=(self.size, self.size), mode="nearest")
        return m

    def features(self, x: Tensor, labels: Tensor | None = None) -> Tensor:
        if self.label_map is not None:
            x = torch.cat([x, self.label_channel(labels).to(x.dtype)], dim=1)
        return self.body(x).flatten(1)

    def forward(self, x: Tensor, labels: Tensor | None = None) -> Tensor:
        """Raw logits ``(B,)``: ``head(features)``, plus the projection term when it has one."""
        features = self.features(x, labels)
        logits = self.head(features).squeeze(-1)
        if self.projection is not None:
            logits = logits + self.projection(features, labels)
        return logits
