"""U-Net generator for image-to-image translation (Isola et al. 2017, pix2pix), scaled to small images.

The generator translates the data set's *condition* (``forward(z, labels,
condition=...)``, the source image of a paired set or a sample of the other
domain of an unpaired one) into a sample of the data's shape. It is an
encoder-decoder whose decoder layers also see the encoder's feature maps of
the same size (skip connections), so detail of the input reaches the output
without passing the bottleneck:

* encoder, level ``k`` = 0 .. depth-1: a stride-2 convolution to
  ``width * min(2**k, 8)`` channels; every level but the first starts with
  LeakyReLU(0.2), and every level but the first and the innermost ends with
  the norm (Isola's C64-C128-C256-C512-... layout);
* decoder, level ``k`` = depth-1 .. 0: ReLU, a stride-2 transposed
  convolution back to the size of level ``k``'s input, the norm (but on the
  output) and dropout on the ``dropout_layers`` innermost levels; its input
  is the encoder's level ``k`` features concatenated with the decoder's
  previous output (the innermost level sees the bottleneck alone);
* a tanh on the output.

Any image size works: a side that is even is halved by a 4x4 convolution
(padding 1) and doubled back by a 4x4 transposed one; an odd side ``2m+1``
goes to ``m+1`` with a 3x3 convolution (padding 1) and back to ``2m+1`` with a
3x3 transposed one, so MNIST's 28 goes 28-14-7-4-2-1 and back. ``depth``
defaults to the number of halvings that bring the image to 1x1 (5 for 28x28
and 32x32, 6 for 64x64; Isola's 256x256 network has 8).

Randomness: as in pix2pix, the noise is the decoder's dropout (``dropout``,
``dropout_layers``; Isola et al. keep it on when sampling: ``eval_dropout``).
When the run has a latent (``latent_dim > 0``), z is broadcast over the image
as extra input channels; with ``latent_dim = 0`` there is none. When training
is conditional (class labels), a label embedding is broadcast the same way.

All weights start from N(0, 0.02), norm scales from N(1, 0.02).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ganforge.errors import ConfigError, DataError
from ganforge.interfaces import Generator, ModelSpec
from ganforge.models.layers import NORMS, apply_spectral_norm, init_normal_, make_norm
from ganforge.options import boolean, choice, integer, number, option, optional, options

#: Widest encoder level, in multiples of ``width`` (Isola's ngf * 8).
MAX_MULTIPLE = 8


def image_sides(shape: tuple[int, ...], model: str) -> tuple[int, int, int]:
    """``(channels, height, width)`` of an image shape, or a DataError naming the shape and the fix."""
    shape = tuple(shape)
    if len(shape) != 3 or min(shape) < 1:
        raise DataError(f"The {model} needs image data shaped (channels, height, width); this data has samples of "
                        f"shape {shape}. Use an image data set (e.g. --data mnist-edges2digits).")
    return shape[0], shape[1], shape[2]


def halvings(height: int, width: int) -> list[tuple[int, int]]:
    """The sizes of a U-Net's levels: ``(height, width)`` halved (rounding up) until both sides are 1."""
    sizes = [(height, width)]
    while sizes[-1] != (1, 1):
        h, w = sizes[-1]
        sizes.append(((h + 1) // 2, (w + 1) // 2))
    return sizes


def _kernel(side: int) -> int:
    """Kernel of the stride-2 (transposed) convolution that halves (doubles back) ``side``: 4 if even, 3 if odd."""
    return 4 if side % 2 == 0 else 3


class DecoderDropout(nn.Module):
    """Dropout with probability ``p``; with ``always=True`` it stays on in eval mode (pix2pix's test-time noise)."""

    def __init__(self, p: float, always: bool = False):
        super().__init__()
        self.p, self.always = float(p), bool(always)

    def forward(self, x: Tensor) -> Tensor:
        return F.dropout(x, self.p, training=self.training or self.always)

    def extra_repr(self) -> str:
        return f"p={self.p}, always={self.always}"


class UNetGenerator(Generator):
    """U-Net generator (Isola et al. 2017): encoder-decoder with skip connections, from the data set's condition.

    Input: the condition ``(B, C_cond, H, W)`` in model space, plus z broadcast
    as ``latent_dim`` extra channels when ``latent_dim > 0`` (and a label
    embedding when conditional). Output: ``(B, *spec.data_shape)`` in [-1, 1];
    the condition must have the data's height and width.

    ``C_cond`` is ``condition_channels`` when given, else the channels of
    ``spec.condition_shape`` when the spec has one, else the data's channels
    (the translations of ganforge's builtin data sets keep the channel count).
    """

    name = "unet"
    description = "U-Net image-to-image generator (Isola et al. 2017): encoder-decoder with skips, from the condition"
    takes_condition = True

    @options
    class Options:
        width: int = option(64, validator=integer(1),
                            help="Channels of the first encoder level; deeper ones have 2x, 4x, at most 8x as many.")
        depth: int | None = option(None, validator=optional(integer(1)),
                                   help="Encoder (and decoder) levels, each halving the size (default: down to "
                                        "1x1: 5 for 28x28 and 32x32, 6 for 64x64).")
        norm: str = option("batch", validator=choice(*NORMS),
                           help="Normalisation of the hidden levels (not the first or innermost encoder level, "
                                "not the output).")
        dropout: float = option(0.5, validator=number(0.0, 1.0, high_open=True),
                                help="Dropout probability in the innermost decoder levels, pix2pix's noise (0: none).")
        dropout_layers: int = option(3, validator=integer(0),
                                     help="How many of the innermost decoder levels have dropout (Isola et al.: 3).")
        eval_dropout: bool = option(False, validator=boolean(),
                                    help="Keep the dropout on when sampling (eval mode), as Isola et al. do; off: "
                                         "sampling is deterministic.")
        condition_channels: int | None = option(
            None, validator=optional(integer(1)),
            help="Channels of the condition (default: the spec's condition_shape, else the data's channels).")
        embed_dim: int | None = option(None, validator=optional(integer(1)),
                                       help="Channels of the label embedding when conditional (default: the number "
                                            "of classes, at most 16).")
        spectral_norm: bool = option(False, validator=boolean(),
                                     help="Spectrally normalise every (transposed) convolution (Miyato et al. 2018).")

    def __init__(self, spec: ModelSpec, **options: object):
        super().__init__(spec, **options)
        o = self.options
        out_channels, height, width = image_sides(spec.data_shape, "unet generator")
        sizes = halvings(height, width)
        most = len(sizes) - 1
        if most == 0:
            raise DataError(f"The unet generator needs images larger than 1x1; got {spec.data_shape}.")
        depth = most if o.depth is None else o.depth
        if depth > most:
            raise ConfigError(f"unet depth={depth} is too deep for {height}x{width} images: {most} halvings bring "
                              f"them to 1x1. Pass depth={most} or less (--gen-option depth={most}).")
        self.depth = depth
        self.condition_channels = self._condition_channels(spec, o.condition_channels, out_channels, height, width)
        self.label_embedding = None
        embed = 0
        if spec.conditional:
            embed = o.embed_dim or min(spec.num_classes, 16)
            self.label_embedding = nn.Embedding(spec.num_classes, embed)
        in_channels = self.condition_channels + max(spec.latent_dim, 0) + embed
        widths = [o.width * min(2 ** k, MAX_MULTIPLE) for k in range(depth)]
        self.widths = widths

        encoder: list[nn.Module] = []
        for k in range(depth):
            (h, w), c_in = sizes[k], (in_channels if k == 0 else widths[k - 1])
            norm = make_norm(o.norm, widths[k], dims=2) if 0 < k < depth - 1 else None
            conv = nn.Conv2d(c_in, widths[k], (_kernel(h), _kernel(w)), stride=2, padding=1, bias=norm is None)
            layers = ([] if k == 0 else [nn.LeakyReLU(0.2, inplace=False)]) + [conv] + ([norm] if norm else [])
            encoder.append(nn.Sequential(*layers))
        self.encoder = nn.ModuleList(encoder)

        decoder: list[nn.Module] = []  # decoder[k] maps level k (at sizes[k + 1]) back to sizes[k]
        dropped = {k for k in range(depth - 1, depth - 1 - o.dropout_layers, -1) if k > 0} if o.dropout > 0 else set()
        self.dropout_levels = tuple(sorted(dropped))
        for k in range(depth):
            (h, w) = sizes[k]
            c_in = widths[k] if k == depth - 1 else 2 * widths[k]
            c_out = out_channels if k == 0 else widths[k - 1]
            norm = make_norm(o.norm, c_out, dims=2) if k > 0 else None
            conv = nn.ConvTranspose2d(c_in, c_out, (_kernel(h), _kernel(w)), stride=2, padding=1,
                                      bias=norm is None)
            layers = [nn.ReLU(inplace=False), conv]
            if norm is not None:
                layers.append(norm)
            if k in dropped:
                layers.append(DecoderDropout(o.dropout, always=o.eval_dropout))
            if k == 0:
                layers.append(nn.Tanh())
            decoder.append(nn.Sequential(*layers))
        self.decoder = nn.ModuleList(decoder)
        init_normal_(self)
        if o.spectral_norm:
            apply_spectral_norm(self)

    @staticmethod
    def _condition_channels(spec: ModelSpec, given: int | None, data_channels: int, height: int, width: int) -> int:
        declared = getattr(spec, "condition_shape", None)
        if declared is not None:
            declared = tuple(int(v) for v in declared)
            if len(declared) != 3 or declared[1:] != (height, width):
                raise DataError(f"The unet generator translates an image condition of the data's size "
                                f"({height}x{width}); this data set's condition has shape {declared}. Use a data set "
                                "whose condition and samples have the same height and width.")
            if given is not None and given != declared[0]:
                raise ConfigError(f"unet condition_channels={given} disagrees with the data set's condition "
                                  f"{declared}; drop the option.")
            return declared[0]
        return data_channels if given is None else given

    def _inputs(self, z: Tensor | None, labels: Tensor | None, condition: Tensor | None) -> Tensor:
        if condition is None:
            raise ConfigError("The unet generator translates the data set's condition and was called without one: "
                              "train it on a data set that offers a condition (e.g. --data mnist-edges2digits) and "
                              "call it as gen(z, labels, condition=...).")
        expected = (self.condition_channels, *self.spec.data_shape[1:])
        if condition.ndim != 4 or tuple(condition.shape[1:]) != expected:
            raise DataError(f"The unet generator takes conditions of shape (B, {', '.join(map(str, expected))}); got "
                            f"{tuple(condition.shape)}. Give conditions of the data's size and "
                            f"{self.condition_channels} channel(s) (or set condition_channels).")
        b, _, h, w = condition.shape
        parts = [condition]
        if self.spec.latent_dim > 0 and z is not None:
            parts.append(z.reshape(b, -1, 1, 1).to(condition.dtype).expand(-1, -1, h, w))
        if self.label_embedding is not None:
            parts.append(self.label_embedding(labels).to(condition.dtype)[:, :, None, None].expand(-1, -1, h, w))
        return torch.cat(parts, dim=1) if len(parts) > 1 else condition

    def forward(self, z: Tensor, labels: Tensor | None = None, condition: Tensor | None = None) -> Tensor:
        """Translate ``condition`` ``(B, C_cond, H, W)`` into samples ``(B, *spec.data_shape)`` in [-1, 1]."""
        h = self._inputs(z, labels, condition)
        skips = []
        for level in self.encoder:
            h = level(h)
            skips.append(h)
        out = self.decoder[-1](skips[-1])
        for k in range(self.depth - 2, -1, -1):
            out = self.decoder[k](torch.cat([skips[k], out], dim=1))
        return out
