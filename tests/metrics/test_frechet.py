"""FID and KID against closed forms and constructed feature sets."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import ganforge
from ganforge.metrics.frechet import (
    fid_from_features,
    frechet_distance,
    gaussian_fid_closed_form,
    gaussian_stats,
    kid_from_features,
    mmd2_unbiased,
    psd_sqrt,
)


def _gen(seed=0):
    return torch.Generator().manual_seed(seed)


def test_fid_of_a_set_with_itself_is_zero_and_a_shift_adds_its_squared_length():
    x = torch.randn(2000, 16, generator=_gen())
    assert fid_from_features(x, x) == pytest.approx(0.0, abs=1e-6)
    for length in (0.5, 1.0, 2.0):
        shift = torch.zeros(16)
        shift[3] = length
        # Same covariance, means apart by `shift`: exactly |shift|^2.
        assert fid_from_features(x, x + shift) == pytest.approx(length**2, rel=1e-6)


def test_psd_sqrt_squares_back():
    a = torch.randn(8, 8, generator=_gen(1), dtype=torch.float64)
    spd = a @ a.T + 0.1 * torch.eye(8, dtype=torch.float64)
    root = psd_sqrt(spd)
    assert torch.allclose(root @ root, spd, atol=1e-9)
    assert torch.allclose(root, root.T)


def test_frechet_distance_matches_the_closed_form_for_diagonal_gaussians():
    mu1, mu2 = torch.tensor([0.0, 1.0, -2.0]), torch.tensor([1.0, 1.0, 0.0])
    v1, v2 = torch.tensor([1.0, 4.0, 0.25]), torch.tensor([9.0, 1.0, 0.25])
    expected = gaussian_fid_closed_form(mu1, v1, mu2, v2)
    assert expected == pytest.approx(1 + 4 + (1 - 3) ** 2 + (2 - 1) ** 2)
    assert frechet_distance(mu1, torch.diag(v1), mu2, torch.diag(v2)) == pytest.approx(expected, rel=1e-9)


def test_frechet_distance_for_full_covariances_matches_the_eigenvalues_of_s1_s2():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(6, 6)), rng.normal(size=(6, 6))
    s1, s2 = a @ a.T + np.eye(6), b @ b.T + np.eye(6)
    mu1, mu2 = rng.normal(size=6), rng.normal(size=6)
    # tr((S1 S2)^1/2) = sum of square roots of the (real, positive) eigenvalues of S1 S2.
    tr_sqrt = np.sqrt(np.linalg.eigvals(s1 @ s2).real).sum()
    expected = ((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * tr_sqrt
    got = frechet_distance(torch.tensor(mu1), torch.tensor(s1), torch.tensor(mu2), torch.tensor(s2))
    assert got == pytest.approx(expected, rel=1e-8)


def test_fid_from_samples_approaches_the_gaussian_closed_form_and_grows_with_the_shift():
    g = _gen(2)
    var1, var2 = torch.tensor([1.0, 2.0, 0.5, 1.0]), torch.tensor([1.5, 1.0, 0.5, 3.0])
    values = []
    for shift in (0.0, 1.0, 2.0):
        mu2 = torch.full((4,), shift)
        x = torch.randn(40_000, 4, generator=g) * var1.sqrt()
        y = torch.randn(40_000, 4, generator=g) * var2.sqrt() + mu2
        est = fid_from_features(x, y)
        exact = gaussian_fid_closed_form(torch.zeros(4), var1, mu2, var2)
        assert est == pytest.approx(exact, rel=0.01, abs=0.05)  # sampling error grows with the shift
        values.append(est)
    assert values[0] < values[1] < values[2]


def test_gaussian_stats_are_mean_and_unbiased_covariance():
    x = torch.tensor([[0.0, 0.0], [2.0, 0.0], [0.0, 2.0], [2.0, 2.0]])
    mu, cov = gaussian_stats(x)
    assert torch.allclose(mu, torch.tensor([1.0, 1.0], dtype=torch.float64))
    assert torch.allclose(cov, torch.tensor([[4 / 3, 0.0], [0.0, 4 / 3]], dtype=torch.float64))


def test_mmd2_unbiased_matches_a_direct_double_sum():
    g = _gen(3)
    x, y = torch.randn(7, 3, generator=g, dtype=torch.float64), torch.randn(5, 3, generator=g, dtype=torch.float64) + 1

    def k(a, b):
        return (float(a @ b) / 3 + 1) ** 3

    xx = sum(k(x[i], x[j]) for i in range(7) for j in range(7) if i != j) / (7 * 6)
    yy = sum(k(y[i], y[j]) for i in range(5) for j in range(5) if i != j) / (5 * 4)
    xy = sum(k(x[i], y[j]) for i in range(7) for j in range(5)) / (7 * 5)
    assert mmd2_unbiased(x, y) == pytest.approx(xx + yy - 2 * xy, rel=1e-10)


def test_kid_is_near_zero_for_the_same_distribution_and_positive_for_a_shifted_one():
    g = _gen(4)
    real, same = torch.randn(2000, 32, generator=g), torch.randn(2000, 32, generator=g)
    mean, std = kid_from_features(real, same, subsets=20, subset_size=500)
    assert abs(mean) < 3 * std + 1e-3  # unbiased: zero within its noise
    shifted = same + 0.5
    far, far_std = kid_from_features(real, shifted, subsets=20, subset_size=500)
    assert far > 10 * max(far_std, abs(mean)) and far > 0.01
    assert kid_from_features(real, shifted, subsets=20, subset_size=500) == (far, far_std)  # seeded


def test_bad_inputs_raise_data_errors():
    with pytest.raises(ganforge.DataError, match=r"feature matrix \(N, D\)"):
        fid_from_features(torch.zeros(10), torch.zeros(10))
    with pytest.raises(ganforge.DataError, match="NaN or infinite"):
        fid_from_features(torch.full((4, 2), float("nan")), torch.zeros(4, 2))
    with pytest.raises(ganforge.DataError, match="do not match"):
        frechet_distance(torch.zeros(2), torch.eye(2), torch.zeros(3), torch.eye(3))
