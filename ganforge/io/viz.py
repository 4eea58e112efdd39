"""Pictures of samples: image grids and 2-D scatter plots, written as PNG without matplotlib.

Every picture is encoded in memory and written by a temporary file renamed over
the destination, never through a link (:func:`write_png`).
"""

from __future__ import annotations

import io
import math
import os
from typing import Any

import torch
from torch import Tensor

# Colours (RGB in [0, 1]) of the scatter plot.
_BACKGROUND = (1.0, 1.0, 1.0)
_REAL = (0.55, 0.75, 0.95)
_FAKE = (0.85, 0.15, 0.1)
_AXIS = (0.8, 0.8, 0.8)


def png_bytes(image: Tensor, **grid: Any) -> bytes:
    """``image`` (``(C, H, W)``, or a batch for a grid; values in [0, 1]) encoded as PNG.

    ``grid``: ``torchvision.utils.make_grid``'s options (``nrow``, ``padding``, ``pad_value``).
    """
    from torchvision.utils import (
        save_image,  # imported here: torchvision takes a second to import
    )

    buffer = io.BytesIO()
    save_image(image, buffer, format="PNG", **grid)
    return buffer.getvalue()


def write_png(path: str | os.PathLike, data: bytes) -> None:
    """Write PNG bytes to ``path`` by a temporary file renamed over it (:func:`ganforge.io.atomic.atomic_write`).

    A link at ``path`` is replaced, not written through; inside a run folder no
    linked folder is followed; a full disk leaves the previous file as it was
    and raises :class:`~ganforge.errors.StorageError` naming ``path``.
    """
    from ganforge.io.atomic import atomic_write_bytes

    atomic_write_bytes(path, data)


def save_grid(images: Tensor, path: str | os.PathLike, nrow: int | None = None) -> None:
    """Save images in [-1, 1] of shape ``(N, C, H, W)`` as one PNG grid with 2-pixel padding (see :func:`write_png`)."""
    nrow = nrow or max(1, int(math.ceil(math.sqrt(images.shape[0]))))
    write_png(path, png_bytes(images.detach().float().cpu().add(1).div(2).clamp(0, 1), nrow=nrow, padding=2,
                              pad_value=1.0))


def scatter_image(points: Tensor, reference: Tensor | None = None, extent: float | None = None, size: int = 512,
                  alpha: float = 0.3) -> Tensor:
    """Render 2-D ``points`` (red) over ``reference`` points (light blue) as an RGB image ``(3, size, size)``.

    Each point is a 3x3 square laid over the picture with opacity ``alpha``, so
    where points pile up (a mode the generator covers) the red is solid and a
    lone stray point is pale: the picture shows density, not just support.
    The view is the square ``[-extent, extent]^2`` (default: fits all points
    with a margin), with faint axes through the origin.
    """
    pts = points.detach().float().cpu()
    ref = reference.detach().float().cpu() if reference is not None else pts[:0]
    if extent is None:
        both = torch.cat([pts, ref]) if ref.numel() else pts
        finite = both[torch.isfinite(both).all(dim=1)]
        extent = float(finite.abs().max()) * 1.15 if finite.numel() else 1.0
        extent = max(extent, 1e-3)
    img = torch.tensor(_BACKGROUND).view(3, 1, 1).repeat(1, size, size)
    mid = size // 2
    img[:, mid, :] = torch.tensor(_AXIS).view(3, 1)
    img[:, :, mid] = torch.tensor(_AXIS).view(3, 1)

    def pixels(p: Tensor, radius: int) -> list[tuple[Tensor, Tensor]]:
        p = p[torch.isfinite(p).all(dim=1)]
        col = ((p[:, 0] / extent + 1) / 2 * (size - 1)).round().long()
        row = ((1 - (p[:, 1] / extent + 1) / 2) * (size - 1)).round().long()
        out = []
        for dr in range(-radius, radius + 1):
            for dc in range(-radius, radius + 1):
                r, c = row + dr, col + dc
                keep = (r >= 0) & (r < size) & (c >= 0) & (c < size)
                out.append((r[keep], c[keep]))
        return out

    for r, c in pixels(ref, 2):
        for ch in range(3):
            img[ch, r, c] = _REAL[ch]
    count = torch.zeros(size, size)
    for r, c in pixels(pts, 1):
        count.index_put_((r, c), torch.ones(r.shape[0]), accumulate=True)
    opacity = 1 - (1 - alpha) ** count
    return img * (1 - opacity) + torch.tensor(_FAKE).view(3, 1, 1) * opacity


def save_scatter(points: Tensor, path: str | os.PathLike, reference: Tensor | None = None, extent: float | None = None) -> None:
    """Save :func:`scatter_image` as a PNG (see :func:`write_png`)."""
    write_png(path, png_bytes(scatter_image(points, reference, extent)))
