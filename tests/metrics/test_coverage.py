"""Class coverage and stacked-MNIST modes with constructed predictions."""

from __future__ import annotations

import math

import pytest
import torch

import ganforge
from ganforge.metrics.coverage import class_coverage, stacked_modes


def test_uniform_predictions_cover_every_class_with_zero_kl():
    result = class_coverage(torch.arange(10).repeat(50), 10)
    assert result["classes"] == 10 and result["class_kl"] == pytest.approx(0.0, abs=1e-12)


def test_one_class_is_full_collapse():
    result = class_coverage(torch.full((100,), 7), 10)
    assert result == {"classes": 1, "class_kl": pytest.approx(math.log(10))}


def _encode(digits: torch.Tensor) -> torch.Tensor:
    """Images whose channel c is constant, its value encoding digit c (the decoder below inverts it)."""
    values = digits.float() / 10 - 0.45  # in [-1, 1]
    return values[:, :, None, None].expand(-1, -1, 28, 28).contiguous()


def _decode(channel: torch.Tensor) -> torch.Tensor:
    return ((channel.mean(dim=(1, 2, 3)) + 0.45) * 10).round().long()


def test_stacked_modes_count_digit_triples():
    every = torch.cartesian_prod(torch.arange(10), torch.arange(10), torch.arange(10))  # all 1,000 triples
    result = stacked_modes(_encode(every.repeat(2, 1)), _decode, batch=333)
    assert result["stacked_modes"] == 1000 and result["stacked_kl"] == pytest.approx(0.0, abs=1e-9)
    hundred = every[:100]  # digits 0 0 0 .. 0 9 9: 100 modes
    result = stacked_modes(_encode(hundred), _decode)
    assert result["stacked_modes"] == 100 and result["stacked_kl"] == pytest.approx(math.log(10))


def test_stacked_modes_needs_three_channels():
    with pytest.raises(ganforge.DataError, match=r"\(N, 3, H, W\)"):
        stacked_modes(torch.zeros(4, 1, 28, 28), _decode)
