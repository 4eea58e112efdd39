"""Small building blocks shared by the builtin models: activations, norms, resampling, init, spectral norm."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import attrs
from torch import nn
from torch.nn.utils import parametrize
from torch.nn.utils.parametrizations import spectral_norm

from ganforge.errors import ConfigError

ACTIVATIONS = ("leaky_relu", "relu", "elu", "gelu", "silu", "tanh")
NORMS = ("batch", "instance", "none")
#: Ways to double an image's height and width (generators).
UPSAMPLES = ("convtranspose", "pixelshuffle", "upsample")
#: Ways to halve an image's height and width (discriminators).
DOWNSAMPLES = ("strided", "avgpool")


def check_choice(option: str, value: object, allowed: tuple[str, ...]) -> None:
    """Raise ConfigError unless ``value`` is one of ``allowed``."""
    if value not in allowed:
        raise ConfigError(f"{option!r} must be one of {allowed} (got {value!r})")


def layer_widths(inst: Any, attr: attrs.Attribute, value: Any) -> None:
    """Options validator: a non-empty tuple of positive integer layer widths."""
    if (not isinstance(value, tuple) or not value
            or any(isinstance(w, bool) or not isinstance(w, int) or w < 1 for w in value)):
        raise ConfigError(f"{attr.name!r} must be a non-empty list of positive layer widths (got {value!r})")


def make_activation(name: str, slope: float = 0.2) -> nn.Module:
    """An activation module by name; ``slope`` is LeakyReLU's negative slope."""
    check_choice("activation", name, ACTIVATIONS)
    if name == "leaky_relu":
        return nn.LeakyReLU(slope, inplace=True)
    return {"relu": nn.ReLU, "elu": nn.ELU, "gelu": nn.GELU, "silu": nn.SiLU, "tanh": nn.Tanh}[name]()


def make_norm(kind: str, features: int, dims: int, eps: float = 1e-5, momentum: float = 0.1) -> nn.Module | None:
    """A normalisation layer for ``dims``-D features (1: vectors, 2: images), or None for ``"none"``.

    ``"instance"`` on vectors normalises each sample over its features
    (``LayerNorm``): the per-sample analogue of instance norm, which keeps a
    sample's output independent of the rest of the batch.
    """
    check_choice("norm", kind, NORMS)
    if kind == "none":
        return None
    if kind == "batch":
        cls = nn.BatchNorm1d if dims == 1 else nn.BatchNorm2d
        return cls(features, eps=eps, momentum=momentum)
    if dims == 1:
        return nn.LayerNorm(features, eps=eps)
    return nn.InstanceNorm2d(features, eps=eps, affine=True)


def make_upsample(kind: str, in_channels: int, out_channels: int, bias: bool = True) -> nn.Module:
    """A block that doubles height and width and maps ``in_channels`` to ``out_channels``.

    * ``"convtranspose"``: a 4x4 transposed convolution with stride 2 and
      padding 1 (DCGAN).
    * ``"pixelshuffle"``: a 3x3 convolution to ``4 * out_channels`` channels,
      then ``PixelShuffle(2)`` (sub-pixel convolution; no checkerboard overlap).
    * ``"upsample"``: nearest-neighbour upsampling by 2, then a 3x3 convolution.
    """
    check_choice("upsample", kind, UPSAMPLES)
    if kind == "convtranspose":
        return nn.ConvTranspose2d(in_channels, out_channels, 4, stride=2, padding=1, bias=bias)
    if kind == "pixelshuffle":
        return nn.Sequential(nn.Conv2d(in_channels, 4 * out_channels, 3, padding=1, bias=bias), nn.PixelShuffle(2))
    return nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"),
                         nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=bias))


def make_downsample(kind: str, in_channels: int, out_channels: int, bias: bool = True) -> nn.Module:
    """A block that halves height and width (rounding down) and maps ``in_channels`` to ``out_channels``.

    * ``"strided"``: a 4x4 convolution with stride 2 and padding 1 (DCGAN:
      learned downsampling instead of pooling).
    * ``"avgpool"``: a 3x3 convolution with stride 1, then ``AvgPool2d(2)``.
    """
    check_choice("downsample", kind, DOWNSAMPLES)
    if kind == "strided":
        return nn.Conv2d(in_channels, out_channels, 4, stride=2, padding=1, bias=bias)
    return nn.Sequential(nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=bias), nn.AvgPool2d(2))


def init_normal_(module: nn.Module, std: float = 0.02) -> None:
    """DCGAN initialisation, in place, for ``module`` and everything inside it.

    Convolution, transposed-convolution and linear weights are drawn from
    N(0, ``std``); normalisation weights (scales) from N(1, ``std``); all
    biases are set to 0. Embeddings keep PyTorch's N(0, 1).
    """
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.normal_(m.weight, 0.0, std)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d, nn.InstanceNorm2d, nn.LayerNorm)):
            if m.weight is not None:
                nn.init.normal_(m.weight, 1.0, std)
            if m.bias is not None:
                nn.init.zeros_(m.bias)


#: Layers whose weight spectral normalisation divides by its largest singular value.
SPECTRAL_NORM_LAYERS = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose1d, nn.ConvTranspose2d,
                        nn.ConvTranspose3d)


def apply_spectral_norm(module: nn.Module, extra: Iterable[nn.Module] = ()) -> list[nn.Module]:
    """Spectrally normalise every linear and (transposed) convolution layer inside ``module``, in place.

    Spectral normalisation (Miyato et al. 2018) replaces a layer's weight
    ``W`` by ``W / sigma(W)``, ``sigma`` being its largest singular value
    estimated by one power iteration per forward pass in training mode
    (:func:`torch.nn.utils.parametrizations.spectral_norm`; convolution
    weights are reshaped to ``(out_channels, in_channels * kernel)``). The
    power-iteration vectors ``u`` and ``v`` are buffers: they are in the
    state dict (checkpoints), are updated in place on the device (a CUDA graph
    can capture them) and are left unchanged in eval mode (sampling).

    Call it after the weights are initialised: the parametrization's first
    estimate is made from the weights at that moment (15 power iterations,
    from vectors drawn from the global RNG).

    Args:
        module: The model; every :data:`SPECTRAL_NORM_LAYERS` instance in it
            is normalised (layers already normalised are left alone).
        extra: Further modules with a ``weight`` to normalise (e.g. the class
            embedding of a projection discriminator; an ``nn.Embedding``'s
            ``(num_classes, features)`` weight is normalised as a matrix).

    Returns:
        The modules normalised.
    """
    targets = [m for m in module.modules() if isinstance(m, SPECTRAL_NORM_LAYERS)] + list(extra)
    done = []
    for m in targets:
        if parametrize.is_parametrized(m, "weight"):
            continue
        spectral_norm(m)
        done.append(m)
    return done
