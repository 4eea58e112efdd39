"""ganforge.augment: each operation changes images as documented, is differentiable, and keeps its random stream."""

from __future__ import annotations

import pytest
import torch

from ganforge import augment as aug


def images(n: int = 32, c: int = 3, h: int = 16, w: int = 16) -> torch.Tensor:
    """Distinct positive values in (0, 1]: no pixel is 0 before an operation zeroes it."""
    return (torch.arange(1, n * c * h * w + 1, dtype=torch.float32) / (n * c * h * w)).reshape(n, c, h, w)


def shifted(x: torch.Tensor, dy: int, dx: int) -> torch.Tensor:
    """``x`` moved down by dy and right by dx, zeros where nothing moved in."""
    out = torch.zeros_like(x)
    h, w = x.shape[-2:]
    out[..., max(dy, 0):h + min(dy, 0), max(dx, 0):w + min(dx, 0)] = \
        x[..., max(-dy, 0):h + min(-dy, 0), max(-dx, 0):w + min(-dx, 0)]
    return out


def test_translation_shifts_by_whole_pixels_up_to_an_eighth_and_zeroes_the_border():
    torch.manual_seed(0)
    x = images()
    y = aug.translation(x)  # 16 px: shifts in [-2, 2]
    found = []
    for xi, yi in zip(x, y):
        matches = [(dy, dx) for dy in range(-2, 3) for dx in range(-2, 3) if torch.equal(yi, shifted(xi, dy, dx))]
        assert len(matches) == 1
        found.append(matches[0])
    assert len(set(found)) > 5  # shifts vary per sample
    dy, dx = next(s for s in found if s[0] and s[1])
    i = found.index((dy, dx))
    rows = slice(0, dy) if dy > 0 else slice(16 + dy, 16)
    assert (y[i, :, rows, :] == 0).all()  # the uncovered border is zero
    assert aug.translation(x, ratio=0.25).eq(0).any(dim=(1, 2, 3)).float().mean() > 0.7  # larger shifts, more borders


def test_cutout_zeroes_one_rectangle_of_at_most_half_the_side():
    torch.manual_seed(1)
    x = images(n=64)
    y = aug.cutout(x)
    hole = y == 0
    assert torch.equal(y[~hole], x[~hole])  # nothing else changed
    assert (hole.all(dim=1) | ~hole.any(dim=1)).all()  # the same pixels in every channel
    sizes = []
    for mask in hole[:, 0]:
        rows, cols = mask.any(1).nonzero().flatten(), mask.any(0).nonzero().flatten()
        h, w = len(rows), len(cols)
        assert rows.max() - rows.min() + 1 == h and cols.max() - cols.min() + 1 == w  # contiguous
        assert mask.sum() == h * w  # a full rectangle
        assert 4 <= h <= 8 and 4 <= w <= 8  # half of 16, clipped to no less than a quarter at a corner
        sizes.append((h, w))
    assert (8, 8) in sizes and len(set(sizes)) > 3


def test_color_operations_change_the_statistics_they_name():
    torch.manual_seed(2)
    x = images() * 2 - 1
    b = aug.brightness(x)
    offset = (b - x).flatten(1)
    assert torch.allclose(offset, offset[:, :1].expand_as(offset), atol=1e-6)  # one offset per image...
    assert offset[:, 0].abs().max() <= 0.5 and offset[:, 0].std() > 0.1  # ...in [-0.5, 0.5], varying
    assert torch.allclose(b.mean(dim=(1, 2, 3)) - x.mean(dim=(1, 2, 3)), offset[:, 0], atol=1e-6)  # shifts the mean

    s = aug.saturation(x)
    assert torch.allclose(s.mean(dim=1), x.mean(dim=1), atol=1e-6)  # the grey level of each pixel is kept
    factor = (s - s.mean(1, keepdim=True)).flatten(1).norm(dim=1) / (x - x.mean(1, keepdim=True)).flatten(1).norm(dim=1)
    assert factor.min() >= 0 and factor.max() <= 2 and factor.std() > 0.1

    c = aug.contrast(x)
    assert torch.allclose(c.mean(dim=(1, 2, 3)), x.mean(dim=(1, 2, 3)), atol=1e-5)  # the mean is kept
    ratio = c.flatten(1).std(dim=1) / x.flatten(1).std(dim=1)  # the spread is scaled by U(0.5, 1.5)
    assert ratio.min() >= 0.5 - 1e-5 and ratio.max() <= 1.5 + 1e-5 and ratio.std() > 0.1


def test_flip_mirrors_about_half_of_the_images():
    torch.manual_seed(3)
    x = images(n=200)
    y = aug.flip(x)
    flipped = torch.tensor([torch.equal(a, b.flip(2)) for a, b in zip(y, x)])
    kept = torch.tensor([torch.equal(a, b) for a, b in zip(y, x)])
    assert (flipped ^ kept).all() and 70 < int(flipped.sum()) < 130


@pytest.mark.parametrize("op", [aug.brightness, aug.saturation, aug.contrast, aug.translation, aug.cutout, aug.flip])
def test_apply_leaves_other_samples_untouched_and_keeps_the_random_stream(op):
    x = images(n=8)
    apply = torch.tensor([True, False] * 4)
    torch.manual_seed(4)
    full = op(x)
    torch.manual_seed(4)
    part = op(x, apply=apply)
    after_part = torch.rand(3)
    torch.manual_seed(4)
    op(x)
    assert torch.equal(torch.rand(3), after_part)  # the same random numbers were drawn either way
    assert torch.equal(part[~apply], x[~apply])
    assert torch.equal(part[apply], full[apply])


@pytest.mark.parametrize("policy", [("color",), ("translation",), ("cutout",), ("flip",),
                                    ("color", "translation", "cutout")])
def test_augmentations_are_differentiable(policy):
    torch.manual_seed(5)
    x = (images(n=4) * 2 - 1).requires_grad_(True)
    weights = torch.randn(4, 3, 16, 16)
    (grad,) = torch.autograd.grad((aug.augment(x, policy) * weights).sum(), x)
    assert torch.isfinite(grad).all() and (grad != 0).float().mean() > 0.2


def test_augment_probability():
    torch.manual_seed(6)
    x = images(n=400) * 2 - 1
    assert torch.equal(aug.augment(x, ("color", "cutout"), p=0.0), x)
    assert torch.equal(aug.augment(x, ("color", "cutout"), p=torch.tensor(0.0)), x)
    changed = (aug.augment(x, ("cutout",), p=torch.tensor(0.25)) != x).flatten(1).any(1).float().mean()
    assert 0.17 < float(changed) < 0.33
    assert (aug.augment(x, ("cutout",)) != x).flatten(1).any(1).all()  # p = 1: every image


def test_check_images_names_the_fix():
    aug.check_images((3, 8, 8), "Trick 'x'")
    with pytest.raises(Exception, match=r"^Trick 'x' augments images \(channels, height, width\), but the data's "
                                        r"samples have shape \(2,\)\. Use an image data set"):
        aug.check_images((2,), "Trick 'x'")
