"""PatchGAN discriminator (Isola et al. 2017): one real/fake logit per image patch, at one or several scales.

A PatchGAN judges overlapping patches instead of the whole image: a stack of
4x4 convolutions whose last layer outputs a one-channel map, each value the
logit of the patch it sees (its receptive field). Per scale:

* ``n_layers`` stride-2 convolutions (padding 1) to ``width * min(2**i, 8)``
  channels, LeakyReLU(0.2), the norm on all but the first;
* one stride-1 4x4 convolution (padding 1) to ``width * min(2**n_layers, 8)``
  channels, the norm, LeakyReLU(0.2): the last feature map (the features);
* the head: a stride-1 4x4 convolution (padding 1) to one channel, the logits.

A side of ``S`` pixels gives ``(S >> n_layers) - 2`` patches per side (every
stride-2 layer halves it rounding down, each stride-1 layer takes one off):
5x5 patches of 34x34 pixels for 28x28 images with the default
``n_layers=2``, 6x6 patches for 32x32 (``n_layers=2``) and for 64x64
(``n_layers=3``: Isola's 70x70 PatchGAN). ``n_layers`` defaults, per scale,
to the largest of 3, 2, 1 that leaves at least 3x3 patches (else 1).

Multi-scale (``num_scales > 1``, Wang et al. 2018, pix2pixHD): further
PatchGANs of the same layout judge the input average-pooled by 2, 4, ...
(3x3 pooling, stride 2, padding not counted); the logits of all scales are
flattened and concatenated, ``(B, k)`` with ``k`` the patches of every scale.

Input: ``(B, *spec.disc_input_shape)``, channels as the spec gives them. The
discriminator assumes nothing about what they hold: an image-to-image GAN
that shows D the condition beside the sample (pix2pix's conditional D)
declares ``disc_input_shape`` with the channels of both, and passes their
concatenation. When training is conditional (class labels), a learned label
map is added as one more input channel.

Logits: ``(B, h, w)`` with one scale, ``(B, k)`` with several; losses treat
each logit as one judgement. ``features(x)`` are the last feature maps,
flattened (and concatenated over scales): ``(B, F)``.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ganforge.errors import ConfigError, DataError
from ganforge.interfaces import Discriminator, ModelSpec
from ganforge.models.layers import NORMS, apply_spectral_norm, init_normal_, make_norm
from ganforge.options import boolean, choice, integer, option, optional, options

#: Widest layer, in multiples of ``width`` (Isola's ndf * 8).
MAX_MULTIPLE = 8
#: The default ``n_layers`` is the largest of these leaving at least MIN_PATCHES patches per side.
DEFAULT_LAYERS = (3, 2, 1)
MIN_PATCHES = 3


def patches(side: int, n_layers: int) -> int:
    """Patches per side of a PatchGAN with ``n_layers`` stride-2 layers on ``side`` pixels (< 1: too small)."""
    return (side >> n_layers) - 2


def receptive_field(n_layers: int) -> int:
    """Side, in input pixels, of the patch one logit sees (70 for ``n_layers=3``, Isola's 70x70 PatchGAN)."""
    field = 4 + 3  # the head and the stride-1 layer
    for _ in range(n_layers):
        field = (field - 1) * 2 + 4
    return field


def default_layers(side: int) -> int | None:
    """The largest of :data:`DEFAULT_LAYERS` leaving at least :data:`MIN_PATCHES` patches per side, else 1 when
    that leaves any, else None (too small)."""
    found = next((n for n in DEFAULT_LAYERS if patches(side, n) >= MIN_PATCHES), None)
    return found if found is not None else (1 if patches(side, 1) >= 1 else None)


class PatchHead(nn.Module):
    """The last convolution of one scale: flattened features ``(B, C*h*w)`` -> logits ``(B, h-1, w-1, 1)``."""

    def __init__(self, channels: int, height: int, width: int):
        super().__init__()
        self.shape = (channels, height, width)
        self.conv = nn.Conv2d(channels, 1, 4, stride=1, padding=1)

    def forward(self, features: Tensor) -> Tensor:
        logits = self.conv(features.reshape(features.shape[0], *self.shape))  # (B, 1, h - 1, w - 1)
        return logits.permute(0, 2, 3, 1)


class MultiScaleHead(nn.Module):
    """The heads of several scales: concatenated flattened features -> logits ``(B, k, 1)``, scales in order."""

    def __init__(self, heads: list[PatchHead]):
        super().__init__()
        self.heads = nn.ModuleList(heads)
        self.sizes = [c * h * w for c, h, w in (head.shape for head in heads)]

    def forward(self, features: Tensor) -> Tensor:
        parts = torch.split(features, self.sizes, dim=1)
        return torch.cat([head(f).flatten(1) for head, f in zip(self.heads, parts)], dim=1).unsqueeze(-1)


class PatchGANDiscriminator(Discriminator):
    """PatchGAN discriminator (Isola et al. 2017): one logit per patch, ``(B, h, w)``; multi-scale ``(B, k)``."""

    name = "patchgan"
    description = "PatchGAN discriminator (Isola et al. 2017): a logit per image patch, optionally at several scales"

    @options
    class Options:
        width: int = option(64, validator=integer(1),
                            help="Channels of the first layer; later ones have 2x, 4x, at most 8x as many.")
        n_layers: int | None = option(None, validator=optional(integer(1)),
                                      help="Stride-2 layers per scale (3: Isola's 70x70 patches; default: the "
                                           "largest of 3, 2, 1 leaving at least 3x3 patches at each scale).")
        norm: str = option("batch", validator=choice(*NORMS),
                           help="Normalisation of every layer but the first and the head ('instance': CycleGAN).")
        num_scales: int = option(1, validator=integer(1, 4),
                                 help="PatchGANs on the input and on copies average-pooled by 2, 4, ... "
                                      "(pix2pixHD); their logits are concatenated as (B, k).")
        spectral_norm: bool = option(False, validator=boolean(),
                                     help="Spectrally normalise every convolution, the heads included "
                                          "(Miyato et al. 2018).")

    def __init__(self, spec: ModelSpec, **options: object):
        super().__init__(spec, **options)
        o = self.options
        shape = tuple(spec.disc_input_shape)
        if len(shape) != 3:
            raise DataError(f"The patchgan discriminator needs image data shaped (channels, height, width); this "
                            f"data has discriminator inputs of shape {shape}. Use disc='mlp' (--disc mlp) for "
                            "vector data.")
        channels, height, width = shape
        self.label_map = None
        if spec.conditional:
            self.label_map = nn.Embedding(spec.num_classes, height * width)
            channels += 1
        sides = [(height, width)]
        for _ in range(o.num_scales - 1):
            h, w = sides[-1]
            sides.append(((h + 1) // 2, (w + 1) // 2))  # AvgPool2d(3, stride 2, padding 1)
        self.pool = nn.AvgPool2d(3, stride=2, padding=1, count_include_pad=False)
        bodies: list[nn.Module] = []
        heads: list[PatchHead] = []
        layers_used = []
        for scale, (h, w) in enumerate(sides):
            n = o.n_layers if o.n_layers is not None else default_layers(min(h, w))
            if n is None or patches(min(h, w), n) < 1:
                raise self._too_small(h, w, scale)
            layers_used.append(n)
            body, c_last = self._body(channels, n, o.width, o.norm)
            bodies.append(body)
            heads.append(PatchHead(c_last, (h >> n) - 1, (w >> n) - 1))
        self.n_layers = tuple(layers_used)
        self.bodies = nn.ModuleList(bodies)
        #: Patches per side of each scale, ``(h, w)``.
        self.patch_grid = tuple(((h >> n) - 2, (w >> n) - 2) for (h, w), n in zip(sides, layers_used))
        self.head = heads[0] if o.num_scales == 1 else MultiScaleHead(heads)
        self.num_features = sum(c * h * w for c, h, w in (head.shape for head in heads))
        init_normal_(self)
        if o.spectral_norm:
            apply_spectral_norm(self)

    def _too_small(self, height: int, width: int, scale: int) -> Exception:
        """The error for a scale whose images are too small for its layers, naming the fix."""
        n_layers, scales = self.options.n_layers, self.options.num_scales
        where = f"scale {scale} ({height}x{width} pixels)" if scales > 1 else f"{height}x{width} images"
        most = max((k for k in range(1, 9) if patches(min(height, width), k) >= 1), default=0)
        if n_layers is not None and most:
            return ConfigError(f"The patchgan discriminator cannot judge {where} with n_layers={n_layers}: "
                               f"they give no patch. Pass n_layers={most} or less (--disc-option n_layers={most}).")
        fix = f"Use num_scales={scale} or less" if scale else "Use images of at least 6x6 pixels (image_size=)"
        return DataError(f"The patchgan discriminator cannot judge {where}: they give no patch. {fix}.")

    @staticmethod
    def _body(channels: int, n_layers: int, width: int, norm: str) -> tuple[nn.Sequential, int]:
        layers: list[nn.Module] = []
        c_in = channels
        for i in range(n_layers + 1):
            c_out = width * min(2 ** i, MAX_MULTIPLE)
            norm_layer = make_norm(norm, c_out, dims=2) if i > 0 else None
            stride = 2 if i < n_layers else 1
            layers.append(nn.Conv2d(c_in, c_out, 4, stride=stride, padding=1, bias=norm_layer is None))
            if norm_layer is not None:
                layers.append(norm_layer)
            layers.append(nn.LeakyReLU(0.2, inplace=True))
            c_in = c_out
        return nn.Sequential(*layers), c_in

    def features(self, x: Tensor, labels: Tensor | None = None) -> Tensor:
        """The last feature map of each scale, flattened and concatenated: ``(B, num_features)``."""
        if self.label_map is not None:
            label_channel = self.label_map(labels).view(x.shape[0], 1, *x.shape[2:]).to(x.dtype)
            x = torch.cat([x, label_channel], dim=1)
        out = []
        for scale, body in enumerate(self.bodies):
            if scale:
                x = self.pool(x)
            out.append(body(x).flatten(1))
        return out[0] if len(out) == 1 else torch.cat(out, dim=1)
