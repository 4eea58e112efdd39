"""k-NN precision and recall (Kynkäänniemi et al. 2019) on constructed manifolds."""

from __future__ import annotations

import pytest
import torch

import ganforge
from ganforge.metrics.manifold import inside_manifold, knn_radii, precision_recall


def _grid(lo: float, hi: float, n: int = 30) -> torch.Tensor:
    ticks = torch.linspace(lo, hi, n)
    return torch.cartesian_prod(ticks, ticks)


def test_knn_radius_is_the_distance_to_the_kth_other_point():
    line = torch.tensor([[0.0], [1.0], [3.0], [7.0]])
    assert torch.equal(knn_radii(line, k=1), torch.tensor([1.0, 1.0, 2.0, 4.0]))
    assert torch.equal(knn_radii(line, k=2), torch.tensor([3.0, 2.0, 3.0, 6.0]))
    with pytest.raises(ganforge.ConfigError, match="k must be between 1 and N-1"):
        knn_radii(line, k=4)


def test_inside_manifold_uses_each_support_points_own_radius():
    support = torch.tensor([[0.0, 0.0], [10.0, 0.0]])
    radii = torch.tensor([1.0, 3.0])
    queries = torch.tensor([[0.5, 0.0], [2.0, 0.0], [8.0, 0.0], [5.0, 5.0]])
    assert inside_manifold(queries, support, radii).tolist() == [True, False, True, False]


def test_identical_sets_have_full_precision_and_recall():
    real = _grid(0, 1)
    assert precision_recall(real, real.clone()) == {"precision": 1.0, "recall": 1.0}


def test_disjoint_sets_have_none():
    real = _grid(0, 1)
    assert precision_recall(real, real + 5.0) == {"precision": 0.0, "recall": 0.0}


def test_fakes_covering_half_the_data_keep_precision_and_lose_half_the_recall():
    real = _grid(0, 1)
    left_half = real[real[:, 0] < 0.5]
    pr = precision_recall(real, left_half)
    assert pr["precision"] == 1.0
    assert pr["recall"] == pytest.approx(0.5, abs=0.05)


def test_fakes_half_off_the_data_lose_half_the_precision_and_keep_recall():
    real = _grid(0, 1)
    fake = torch.cat([real, real + 5.0])
    pr = precision_recall(real, fake)
    assert pr["precision"] == pytest.approx(0.5)
    assert pr["recall"] == 1.0


def test_width_mismatch_is_an_error():
    with pytest.raises(ganforge.DataError, match="differ in width"):
        precision_recall(torch.zeros(5, 2), torch.zeros(5, 3))
