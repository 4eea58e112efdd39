"""ganforge's metric code against torchmetrics' and torch-fidelity's on the same feature sets (offline, small).

Tolerances: Fréchet distance and KID to a relative 1e-6 (both sides in
float64; they differ only in how the matrix square root is taken);
precision/recall and the Inception Score exactly (to 1e-9), being the same
arithmetic. Density and coverage have no library implementation installed:
they are checked against a direct transcription of Naeem et al.'s
definitions and against the paper's expected values for identical
distributions.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from ganforge.metrics.frechet import fid_from_features, gaussian_stats, kid_from_features, mmd2_unbiased
from ganforge.metrics.inception_score import inception_score
from ganforge.metrics.manifold import density_coverage, precision_recall

pytestmark = pytest.mark.filterwarnings("ignore:Metric `.*` will save all extracted features:UserWarning")

torchmetrics = pytest.importorskip("torchmetrics", reason="the agreement tests need the metrics extra")
torch_fidelity = pytest.importorskip("torch_fidelity", reason="the agreement tests need the metrics extra")

from torch_fidelity.metric_fid import fid_statistics_to_metric  # noqa: E402
from torch_fidelity.metric_isc import isc_features_to_metric  # noqa: E402
from torch_fidelity.metric_prc import calculate_precision_recall_full  # noqa: E402
from torchmetrics.image.fid import FrechetInceptionDistance  # noqa: E402
from torchmetrics.image.inception import InceptionScore  # noqa: E402
from torchmetrics.image.kid import KernelInceptionDistance  # noqa: E402


class Given(nn.Module):
    """A 'feature extractor' that returns its input: the libraries then see our feature sets as they are."""

    def __init__(self, dim: int):
        super().__init__()
        self.num_features = dim

    def forward(self, x):
        return x


def _sets(n=400, d=12, seed=0, shift=0.3):
    g = torch.Generator().manual_seed(seed)
    a = torch.randn(n, d, generator=g, dtype=torch.float64)
    mix = torch.randn(d, d, generator=g, dtype=torch.float64) / math.sqrt(d)
    b = (torch.randn(n, d, generator=g, dtype=torch.float64) @ (torch.eye(d, dtype=torch.float64) + mix)) + shift
    return a, b


def test_frechet_distance_equals_torchmetrics_and_torch_fidelity():
    real, fake = _sets()
    ours = fid_from_features(real, fake)
    metric = FrechetInceptionDistance(feature=Given(real.shape[1]))
    metric.update(real, real=True)
    metric.update(fake, real=False)
    assert ours == pytest.approx(float(metric.compute()), rel=1e-6)
    stats = [{"mu": m.numpy(), "sigma": s.numpy()} for m, s in (gaussian_stats(real), gaussian_stats(fake))]
    assert ours == pytest.approx(fid_statistics_to_metric(*stats, verbose=False)["frechet_inception_distance"],
                                 rel=1e-6)
    assert ours > 0.5  # the sets differ: the comparison is not between two zeros


def test_kid_equals_torchmetrics_on_the_same_subsets():
    real, fake = _sets(n=300, seed=1)
    # One subset of every sample: the subset choice cannot differ between the two implementations.
    metric = KernelInceptionDistance(feature=Given(real.shape[1]), subsets=3, subset_size=300)
    metric.update(real, real=True)
    metric.update(fake, real=False)
    lib_mean, lib_std = (float(v) for v in metric.compute())
    ours_mean, ours_std = kid_from_features(real, fake, subsets=3, subset_size=300)
    assert ours_mean == pytest.approx(lib_mean, rel=1e-6) and ours_mean > 0.01
    assert ours_std == pytest.approx(0.0, abs=1e-12) and lib_std == pytest.approx(0.0, abs=1e-9)
    assert mmd2_unbiased(real, fake) == pytest.approx(lib_mean, rel=1e-6)


def test_kid_standard_deviation_is_the_population_one_as_the_libraries():
    real, fake = _sets(n=200, seed=2)
    mean, std = kid_from_features(real, fake, subsets=5, subset_size=50, seed=3)
    g = torch.Generator().manual_seed(3)
    values = []
    for _ in range(5):  # the subsets kid_from_features draws, recomputed with torchmetrics' kernel MMD
        ri, fi = torch.randperm(200, generator=g)[:50], torch.randperm(200, generator=g)[:50]
        values.append(float(torchmetrics.image.kid.poly_mmd(real[ri], fake[fi])))
    assert mean == pytest.approx(np.mean(values), rel=1e-6)
    assert std == pytest.approx(np.std(values), rel=1e-6)


def test_precision_recall_equal_torch_fidelity():
    real, fake = _sets(n=500, d=8, seed=4, shift=0.5)
    ours = precision_recall(real.float(), fake.float())
    lib_precision, lib_recall = calculate_precision_recall_full(fake.float(), real.float(), neighborhood=3)
    assert ours["precision"] == pytest.approx(lib_precision, abs=1e-9)
    assert ours["recall"] == pytest.approx(lib_recall, abs=1e-9)
    assert 0.05 < ours["precision"] < 0.95 and 0.05 < ours["recall"] < 0.95  # neither trivially 0 nor 1


def test_inception_score_equals_torch_fidelity_and_torchmetrics():
    g = torch.Generator().manual_seed(5)
    logits = torch.randn(1000, 20, generator=g, dtype=torch.float64) * 3
    mean, std = inception_score(logits)
    lib = isc_features_to_metric(logits, splits=10, shuffle=False)
    assert mean == pytest.approx(lib["inception_score_mean"], rel=1e-9)
    assert std == pytest.approx(lib["inception_score_std"], rel=1e-9)
    assert 2 < mean < 20
    # torchmetrics shuffles with the global RNG first and reports the sample (n - 1) standard deviation.
    torch.manual_seed(7)
    order = torch.randperm(1000)
    metric = InceptionScore(feature=Given(20), splits=10)
    metric.update(logits)
    torch.manual_seed(7)
    tm_mean, tm_std = (float(v) for v in metric.compute())
    shuffled_mean, shuffled_std = inception_score(logits[order])
    assert shuffled_mean == pytest.approx(tm_mean, rel=1e-9)
    assert shuffled_std * math.sqrt(10 / 9) == pytest.approx(tm_std, rel=1e-9)


def _density_coverage_by_definition(real: np.ndarray, fake: np.ndarray, k: int) -> tuple[float, float]:
    """Naeem et al. (2020), equations for density and coverage, written out with plain loops over numpy."""
    radii = np.array([np.sort(np.linalg.norm(real - x, axis=1))[k] for x in real])  # index 0 is the point itself
    inside = np.array([[np.linalg.norm(y - x) < r for x, r in zip(real, radii)] for y in fake])  # (M, N)
    density = inside.sum() / (k * len(fake))
    coverage = inside.any(axis=0).mean()
    return float(density), float(coverage)


def test_density_and_coverage_follow_their_definition():
    real, fake = (t.float() for t in _sets(n=120, d=4, seed=6, shift=0.4))
    ours = density_coverage(real, fake, k=5, chunk=50)
    density, coverage = _density_coverage_by_definition(real.numpy(), fake.numpy(), 5)
    assert ours["density"] == pytest.approx(density, rel=1e-6)
    assert ours["coverage"] == pytest.approx(coverage, rel=1e-6)
    assert 0 < coverage < 1


def test_density_and_coverage_of_identical_distributions_match_the_paper():
    g = torch.Generator().manual_seed(8)
    real, fake = torch.randn(2000, 8, generator=g), torch.randn(2000, 8, generator=g)
    result = density_coverage(real, fake)
    # Naeem et al., Lemmas 1 and 2: E[density] = 1 and E[coverage] -> 1 - 2^-k (0.969 for k = 5) for equal sizes.
    assert result["density"] == pytest.approx(1.0, abs=0.08)
    assert result["coverage"] == pytest.approx(1 - 2**-5, abs=0.02)
    collapsed = density_coverage(real, fake[:, :] * 0.05)  # fakes crowded at the centre
    assert collapsed["coverage"] < 0.2 and collapsed["density"] > result["density"]


def test_frechet_distance_with_a_singular_covariance_equals_torch_fidelity():
    """Fewer samples than dimensions: the real covariance is singular and the eigen-decomposition path is taken."""
    real, fake = _sets(n=6, d=12, seed=9)
    ours = fid_from_features(real, fake)
    stats = [{"mu": m.numpy(), "sigma": s.numpy()} for m, s in (gaussian_stats(real), gaussian_stats(fake))]
    assert ours == pytest.approx(fid_statistics_to_metric(*stats, verbose=False)["frechet_inception_distance"],
                                 rel=1e-6)
