"""R3GAN's networks (Huang et al. 2024, "The GAN is dead; long live the GAN! A modern baseline GAN").

A ResNet modernised as ConvNeXt was, trained without any normalisation layer:

* **residual block**: ``x + conv1x1(act(gconv3x3(act(conv1x1(x)))))`` -- an inverted bottleneck that widens the
  ``C`` channels ``expansion`` times, a grouped 3x3 convolution over groups of ``group_size`` channels (the
  paper's cardinality is ``C * expansion / group_size``), and a 1x1 convolution back to ``C``. The activations
  are leaky ReLUs (slope 0.2) after a learned bias; the convolutions have no bias.
* **initialisation** (the paper's fix-up scheme): weights normal with standard deviation ``gain / sqrt(fan_in)``
  (``gain = sqrt(2 / (1 + 0.2^2))`` before an activation, 1 elsewhere), the two widening layers of a block
  scaled by ``L^(-1/4)`` for ``L`` blocks in the network, and each block's last convolution zero, so every
  block starts as the identity.
* **resampling**: the fixed low-pass ``[1, 2, 1]`` filter, applied after zero-insertion to double a map and
  before subsampling to halve one; a 1x1 convolution changes the channels (before upsampling, after
  downsampling).
* **generator**: ``z`` (with the label's embedding when conditional) scales a learned ``b x b`` basis per
  channel (``b = 7`` for 28x28 images, else 4); stages of ``blocks`` residual blocks, each stage after the first
  doubling the size; a 1x1 convolution to the image's channels. The output is linear, as in the paper
  (``output="tanh"`` bounds it).
* **discriminator**: the mirror image -- a 1x1 convolution from the image, stages of blocks each followed by a
  halving, then a depthwise ``b x b`` convolution over the last map (the discriminative basis) gives the
  features ``phi`` and a linear head the logit. Conditional: a projection term ``<embed(y), phi>`` is added
  (Miyato and Koyama 2018; R3GAN's conditional discriminator is this projection without the unconditional
  head).

Sizes: 28x28 (7x7 base, 3 stages), 32x32 (4x4 base, 4 stages), 64x64 (5 stages) and the other powers of two up
to 256. ``widths`` gives each stage's channels from the base up (the discriminator uses them reversed); the
default is ``width`` at every stage. The paper's CIFAR-10 networks are ``width=768, blocks=2, expansion=2,
group_size=16`` with 64-d latents (the ``r3gan-cifar10`` preset). Train them with the ``rpgan`` loss and the ``r1``
and ``r2`` penalties.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ganforge.errors import DataError
from ganforge.interfaces import Discriminator, Generator, ModelSpec
from ganforge.models.conditioning import label_encoder
from ganforge.models.layers import apply_spectral_norm
from ganforge.options import boolean, choice, integer, option, optional, options, to_tuple

#: Gain of a leaky ReLU of slope 0.2 (He et al.), folded into the initialisation of the layer before it.
ACT_GAIN = math.sqrt(2 / (1 + 0.2**2))
SIZES = (28, 32, 64, 128, 256)


def layout(shape: tuple[int, ...], model: str) -> tuple[int, int, int]:
    """``(channels, base, stages)`` of an image shape, or a DataError that names the sizes and the fix."""
    if len(shape) != 3 or shape[1] != shape[2] or shape[1] not in SIZES:
        raise DataError(f"The r3gan {model} needs square images of {', '.join(f'{s}x{s}' for s in SIZES)}; "
                        f"this data has samples of shape {tuple(shape)}. Resize with image_size=32 "
                        "(--image-size 32), or use the mlp models for vector data.")
    size = shape[1]
    base = 7 if size == 28 else 4
    return shape[0], base, int(math.log2(size // base)) + 1


def msr_init_(layer: nn.Module, gain: float = 1.0) -> nn.Module:
    """Normal weights of standard deviation ``gain / sqrt(fan_in)`` (zero for ``gain=0``); biases zero.

    An ``nn.Embedding`` counts as the linear map of a one-hot vector: its fan-in is the number of classes.
    """
    weight = layer.weight
    fan_in = layer.num_embeddings if isinstance(layer, nn.Embedding) else weight[0].numel()
    with torch.no_grad():
        if gain:
            weight.normal_(0.0, gain / math.sqrt(fan_in))
        else:
            weight.zero_()
        if getattr(layer, "bias", None) is not None:
            layer.bias.zero_()
    return layer


class BiasedLeakyReLU(nn.Module):
    """``leaky_relu(x + b, 0.2)`` with a learned per-channel bias ``b`` (the convolutions have none)."""

    def __init__(self, channels: int):
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x: Tensor) -> Tensor:
        return F.leaky_relu(x + self.bias.view(1, -1, 1, 1).to(x.dtype), 0.2)


def _conv(c_in: int, c_out: int, kernel: int = 1, groups: int = 1, gain: float = 1.0) -> nn.Conv2d:
    return msr_init_(nn.Conv2d(c_in, c_out, kernel, padding=kernel // 2, groups=groups, bias=False), gain)


class ResidualBlock(nn.Module):
    """R3GAN's inverted-bottleneck block: identity plus a widen -> grouped conv -> narrow branch that starts at 0."""

    def __init__(self, channels: int, expansion: int, group_size: int, total_blocks: int):
        super().__init__()
        wide = channels * expansion
        if wide % group_size:
            raise DataError(f"r3gan: {channels} channels x expansion {expansion} = {wide} is not a multiple of "
                            f"group_size {group_size}; choose widths that are.")
        gain = ACT_GAIN * total_blocks ** -0.25  # the fix-up scaling: L^(-1/(2m - 2)) with m = 3 layers per block
        self.widen = _conv(channels, wide, gain=gain)
        self.act1 = BiasedLeakyReLU(wide)
        self.grouped = _conv(wide, wide, 3, groups=wide // group_size, gain=gain)
        self.act2 = BiasedLeakyReLU(wide)
        self.narrow = _conv(wide, channels, gain=0.0)

    def forward(self, x: Tensor) -> Tensor:
        return x + self.narrow(self.act2(self.grouped(self.act1(self.widen(x)))))


def _filter(channels: int, like: Tensor) -> Tensor:
    k = torch.tensor([1.0, 2.0, 1.0], dtype=like.dtype, device=like.device)
    k = torch.outer(k, k)
    return (k / k.sum()).expand(channels, 1, 3, 3)


def upsample(x: Tensor) -> Tensor:
    """Double ``x``'s size: zero-insertion and the ``[1, 2, 1]`` low-pass filter (gain 4 keeps the mean)."""
    c = x.shape[1]
    return F.conv_transpose2d(x, _filter(c, x) * 4, stride=2, padding=1, output_padding=1, groups=c)


def downsample(x: Tensor) -> Tensor:
    """Halve ``x``'s size: the ``[1, 2, 1]`` low-pass filter, then every second pixel."""
    c = x.shape[1]
    return F.conv2d(x, _filter(c, x), stride=2, padding=1, groups=c)


def apply_r3gan_spectral_norm(model: nn.Module) -> None:
    """Spectral normalisation of every layer of ``model`` (label embeddings too). The blocks' last convolutions
    cannot start at zero under it (it divides by the largest singular value): they start as the others do, so the
    blocks no longer start as the identity."""
    for block in (m for m in model.modules() if isinstance(m, ResidualBlock)):
        msr_init_(block.narrow, 1.0)
    apply_spectral_norm(model, extra=[m for m in model.modules() if isinstance(m, nn.Embedding)])


def _stage_widths(o: object, stages: int, model: str) -> tuple[int, ...]:
    widths = tuple(o.widths) if o.widths is not None else (o.width,) * stages
    if len(widths) != stages:
        raise DataError(f"r3gan {model}: widths has {len(widths)} entries, and images of this size need {stages} "
                        f"stages (one width per stage, from the {('7x7' if stages == 3 else '4x4')} base up).")
    return widths


def _r3gan_options(embed_help: str, generator: bool = False) -> type:
    @options
    class Options:
        width: int = option(128, validator=integer(1), help="Channels of every stage (when widths is not given).")
        widths: tuple[int, ...] | None = option(None, converter=lambda v: None if v is None else to_tuple(v),
                                                help="Channels of each stage from the base up (overrides width).")
        blocks: int = option(2, validator=integer(1), help="Residual blocks per stage (the paper: 2).")
        expansion: int = option(2, validator=integer(1), help="Widening of the inverted bottleneck (the paper: 2).")
        group_size: int = option(16, validator=integer(1), help="Channels per group of the grouped 3x3 convolution "
                                                                "(the paper's CIFAR-10 networks: 16).")
        embed_dim: int | None = option(None, validator=optional(integer(1)), help=embed_help)
        spectral_norm: bool = option(False, validator=boolean(),
                                     help="Spectrally normalise every convolution and linear layer (not in the paper; "
                                          "the blocks then do not start as the identity).")
        if generator:
            output: str = option("linear", validator=choice("linear", "tanh"),
                                 help="The image layer: linear as in the paper, or bounded by tanh.")

    return Options


class R3GANGenerator(Generator):
    """R3GAN's generator: a learned basis scaled by z, stages of inverted-bottleneck blocks, no normalisation."""

    name = "r3gan"
    description = "R3GAN's generator (Huang et al. 2024): grouped-conv ResNet, no normalisation, fix-up init"
    output_bounded = False
    takes_attributes = True

    Options = _r3gan_options("Size of the label embedding concatenated to z when conditional (default: latent_dim).",
                             generator=True)

    def __init__(self, spec: ModelSpec, **options: object):
        super().__init__(spec, **options)
        o = self.options
        channels, base, stages = layout(spec.data_shape, "generator")
        widths = _stage_widths(o, stages, "generator")
        self.base = base
        in_features = spec.latent_dim
        self.label_embedding = None
        if spec.conditional:
            embed = o.embed_dim or max(1, spec.latent_dim)
            self.label_embedding = msr_init_(label_encoder(spec, embed))
            in_features += embed
        if in_features == 0:
            raise DataError("The r3gan generator draws from latents: give latent_dim >= 1.")
        total = stages * o.blocks
        self.basis = nn.Parameter(torch.randn(widths[0], base, base))
        self.to_basis = msr_init_(nn.Linear(in_features, widths[0], bias=False))
        self.transitions = nn.ModuleList(  # before each doubling: a 1x1 convolution where the channels change
            _conv(a, b) if a != b else nn.Identity() for a, b in zip(widths[:-1], widths[1:]))
        self.stages = nn.ModuleList(
            nn.Sequential(*(ResidualBlock(w, o.expansion, o.group_size, total) for _ in range(o.blocks)))
            for w in widths)
        self.to_image = _conv(widths[-1], channels)
        self.output = o.output
        if o.spectral_norm:
            apply_r3gan_spectral_norm(self)

    def forward(self, z: Tensor, labels: Tensor | None = None) -> Tensor:
        if self.label_embedding is not None:
            z = torch.cat([z, self.label_embedding(labels)], dim=1)
        x = self.basis[None] * self.to_basis(z)[:, :, None, None]
        for i, stage in enumerate(self.stages):
            if i > 0:
                x = upsample(self.transitions[i - 1](x))
            x = stage(x)
        x = self.to_image(x)
        return torch.tanh(x) if self.output == "tanh" else x


class R3GANDiscriminator(Discriminator):
    """R3GAN's discriminator: stages of inverted-bottleneck blocks and halvings, a depthwise basis, a linear logit."""

    name = "r3gan"
    description = "R3GAN's discriminator (Huang et al. 2024): grouped-conv ResNet, no normalisation, projection"
    takes_attributes = True

    Options = _r3gan_options("Size of the projection's label embedding when conditional (default: the last "
                             "stage's width, as the features).")

    def __init__(self, spec: ModelSpec, **options: object):
        super().__init__(spec, **options)
        o = self.options
        channels, base, stages = layout(spec.disc_input_shape, "discriminator")
        widths = _stage_widths(o, stages, "discriminator")[::-1]  # from the image down to the base
        total = stages * o.blocks
        self.from_image = _conv(channels, widths[0])
        self.stages = nn.ModuleList(
            nn.Sequential(*(ResidualBlock(w, o.expansion, o.group_size, total) for _ in range(o.blocks)))
            for w in widths)
        self.transitions = nn.ModuleList(
            _conv(a, b) if a != b else nn.Identity() for a, b in zip(widths[:-1], widths[1:]))
        last = widths[-1]
        self.basis = msr_init_(nn.Conv2d(last, last, base, groups=last, bias=False))
        self.num_features = last
        self.head = msr_init_(nn.Linear(last, 1, bias=False))
        self.projection = None
        if spec.conditional:
            if o.embed_dim is not None and o.embed_dim != last:
                raise DataError(f"r3gan discriminator: the projection's embedding must match the features ({last}); "
                                f"leave embed_dim unset (got {o.embed_dim}).")
            self.projection = msr_init_(label_encoder(spec, last), gain=1 / math.sqrt(last))
        if o.spectral_norm:
            apply_r3gan_spectral_norm(self)

    def features(self, x: Tensor, labels: Tensor | None = None) -> Tensor:
        x = self.from_image(x)
        for i, stage in enumerate(self.stages):
            x = stage(x)
            if i < len(self.transitions):
                x = self.transitions[i](downsample(x))
        return self.basis(x).flatten(1)

    def forward(self, x: Tensor, labels: Tensor | None = None) -> Tensor:
        """Raw logits ``(B,)``: ``head(phi)``, plus ``<embed(y), phi>`` when conditional."""
        phi = self.features(x, labels)
        logits = self.head(phi).squeeze(-1)
        if self.projection is not None:
            logits = logits + (self.projection(labels).to(phi.dtype) * phi).sum(dim=1)
        return logits
