"""Differentiable image augmentations drawn on the device (DiffAugment, consistency regularization).

Every function takes a float batch of images ``(B, C, H, W)`` in model space
([-1, 1]) and returns a batch of the same shape and dtype, differentiable with
respect to the input, so a generator's gradient passes through it. Random
parameters are drawn per sample with ``torch.rand``/``torch.randint`` on the
batch's device: no host randomness, no ``.item()``, a fixed amount of random
numbers per call, so a training step that augments can be captured in a CUDA
graph.

``apply`` (optional, a bool tensor ``(B,)``) chooses the samples to transform;
the others pass through unchanged, bit for bit (the adaptive probability of
the ``diffaugment`` trick uses it). The random parameters are drawn for every
sample either way, so the random stream does not depend on ``apply``.

The operations and their ranges follow Zhao et al. 2020, "Differentiable
Augmentation for Data-Efficient GAN Training":

* ``color``: :func:`brightness` (add U(-0.5, 0.5)), :func:`saturation`
  (scale each pixel's distance from its channel mean by U(0, 2)),
  :func:`contrast` (scale each image's distance from its mean by U(0.5, 1.5));
* ``translation``: :func:`translation`, an integer shift of up to 1/8 of the
  image in each direction, the uncovered border filled with zeros;
* ``cutout``: :func:`cutout`, a zeroed rectangle of half the image's height
  and width at a random centre, clipped at the borders.

:func:`flip` (a horizontal flip of half the samples) is the other
augmentation of consistency regularization (Zhang et al. 2020; Zhao et al.
2020, "Improved Consistency Regularization for GANs").
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor

from ganforge.errors import IncompatibleError

__all__ = ["POLICIES", "augment", "brightness", "check_images", "contrast", "cutout", "flip", "saturation",
           "translation"]


def _uniform(x: Tensor, low: float, high: float) -> Tensor:
    """One U(low, high) number per sample, shaped ``(B, 1, 1, 1)`` to broadcast over an image."""
    return torch.rand(x.shape[0], 1, 1, 1, device=x.device, dtype=x.dtype) * (high - low) + low


def _select(apply: Tensor | None, changed: Tensor, x: Tensor) -> Tensor:
    return changed if apply is None else torch.where(apply.view(-1, 1, 1, 1), changed, x)


def brightness(x: Tensor, apply: Tensor | None = None) -> Tensor:
    """Add one U(-0.5, 0.5) offset per image (the data range is [-1, 1])."""
    return _select(apply, x + _uniform(x, -0.5, 0.5), x)


def saturation(x: Tensor, apply: Tensor | None = None) -> Tensor:
    """Scale each pixel's deviation from its mean over the channels by U(0, 2) (no change for one channel)."""
    mean = x.mean(dim=1, keepdim=True)
    return _select(apply, (x - mean) * _uniform(x, 0.0, 2.0) + mean, x)


def contrast(x: Tensor, apply: Tensor | None = None) -> Tensor:
    """Scale each image's deviation from its own mean (over channels and pixels) by U(0.5, 1.5)."""
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return _select(apply, (x - mean) * _uniform(x, 0.5, 1.5) + mean, x)


def _shifts(n: int, size: int, ratio: float, device: torch.device) -> Tensor:
    """``n`` integer shifts uniform in ``[-s, s]`` with ``s = round(size * ratio)``."""
    s = int(size * ratio + 0.5)
    return torch.randint(-s, s + 1, (n,), device=device)


def translation(x: Tensor, ratio: float = 0.125, apply: Tensor | None = None) -> Tensor:
    """Shift each image by whole pixels, up to ``ratio`` of its size in each direction; zeros fill the border.

    The shifts (rows and columns drawn independently, uniform in
    ``[-round(ratio * H), round(ratio * H)]``) move the content; the pixels
    uncovered at the opposite border become 0 (mid-grey in [-1, 1]). Built
    from two ``gather`` calls, so the gradient reaches every input pixel that
    stays in the picture.
    """
    b, c, h, w = x.shape
    dy = _shifts(b, h, ratio, x.device)
    dx = _shifts(b, w, ratio, x.device)
    if apply is not None:  # an unapplied sample is shifted by 0: the gathers then copy it exactly
        dy, dx = dy * apply, dx * apply
    rows = torch.arange(h, device=x.device) - dy[:, None]  # source row of each output row, (B, H)
    cols = torch.arange(w, device=x.device) - dx[:, None]  # (B, W)
    out = x.gather(2, rows.clamp(0, h - 1)[:, None, :, None].expand(b, c, h, w))
    out = out.gather(3, cols.clamp(0, w - 1)[:, None, None, :].expand(b, c, h, w))
    inside = ((rows >= 0) & (rows < h))[:, None, :, None] & ((cols >= 0) & (cols < w))[:, None, None, :]
    return torch.where(inside, out, torch.zeros((), device=x.device, dtype=x.dtype))


def cutout(x: Tensor, ratio: float = 0.5, apply: Tensor | None = None) -> Tensor:
    """Zero a rectangle of ``round(ratio * H) x round(ratio * W)`` pixels centred on a random pixel of each image.

    The centre is uniform over the image, so the rectangle is clipped where
    it crosses a border (down to a quarter of its area at a corner).
    """
    b, _, h, w = x.shape
    ph, pw = max(1, int(h * ratio + 0.5)), max(1, int(w * ratio + 0.5))
    top = torch.randint(0, h, (b,), device=x.device) - ph // 2
    left = torch.randint(0, w, (b,), device=x.device) - pw // 2
    rows = torch.arange(h, device=x.device)
    cols = torch.arange(w, device=x.device)
    in_rows = (rows >= top[:, None]) & (rows < top[:, None] + ph)  # (B, H)
    in_cols = (cols >= left[:, None]) & (cols < left[:, None] + pw)  # (B, W)
    hole = in_rows[:, None, :, None] & in_cols[:, None, None, :]
    if apply is not None:
        hole = hole & apply.view(-1, 1, 1, 1)
    return torch.where(hole, torch.zeros((), device=x.device, dtype=x.dtype), x)


def flip(x: Tensor, apply: Tensor | None = None) -> Tensor:
    """Mirror each image left to right with probability 1/2 (and only where ``apply`` is True)."""
    coin = torch.rand(x.shape[0], device=x.device) < 0.5
    return torch.where((coin if apply is None else coin & apply).view(-1, 1, 1, 1), x.flip(3), x)


#: The named policies and the operations each applies, in order.
POLICIES: dict[str, tuple[Callable[..., Tensor], ...]] = {
    "color": (brightness, saturation, contrast),
    "translation": (translation,),
    "cutout": (cutout,),
    "flip": (flip,),
}


def augment(x: Tensor, policy: Sequence[str], p: float | Tensor = 1.0, *, translation_ratio: float = 0.125,
            cutout_ratio: float = 0.5) -> Tensor:
    """Apply the operations of each policy in ``policy``, in order, each to every sample with probability ``p``.

    Args:
        x: Images ``(B, C, H, W)``, float, in [-1, 1].
        policy: Names from :data:`POLICIES`, e.g. ``("color", "translation", "cutout")``.
        p: Probability that one operation transforms one sample (each operation
            and sample independently, as ADA does): a number, or a 0-d tensor on
            ``x``'s device (read there, without a host synchronisation). 1 (the
            default) transforms every sample, as DiffAugment does.
        translation_ratio: Largest shift of :func:`translation`, as a fraction of the image size (default 1/8).
        cutout_ratio: Side of :func:`cutout`'s rectangle, as a fraction of the image size (default 1/2).

    Returns:
        The augmented batch, same shape and dtype.
    """
    ratios = {translation: translation_ratio, cutout: cutout_ratio}
    always = isinstance(p, (int, float)) and p >= 1
    for name in policy:
        for op in POLICIES[name]:
            apply = None if always else torch.rand(x.shape[0], device=x.device) < p
            x = op(x, ratios[op], apply=apply) if op in ratios else op(x, apply=apply)
    return x


def check_images(shape: Sequence[int], who: str) -> None:
    """Raise :class:`~ganforge.errors.IncompatibleError` unless ``shape`` (one sample's) is an image ``(C, H, W)``."""
    if len(shape) != 3:
        raise IncompatibleError(
            f"{who} augments images (channels, height, width), but the data's samples have shape {tuple(shape)}. "
            "Use an image data set (mnist, cifar10, image-folder, ...) or drop it."
        )
