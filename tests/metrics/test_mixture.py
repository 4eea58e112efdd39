"""Mixture metrics (PacGAN/VEEGAN protocol) on constructed sample sets."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from PIL import Image

import ganforge
from ganforge.data.mixtures import Grid25, Ring8
from ganforge.metrics.mixture import (
    dataset_mixture_metrics,
    kl_to_uniform,
    mixture_metrics,
    save_mixture_scatter,
)


def test_samples_on_every_centre_cover_all_modes_with_zero_kl():
    grid = Grid25()
    points = grid.modes.repeat(100, 1)  # 2,500 samples, 100 on each centre
    m = mixture_metrics(points, grid.modes, grid.std)
    assert m["modes"] == 25 and m["modes_total"] == 25
    assert m["hq_percent"] == pytest.approx(100.0)
    assert m["reverse_kl"] == pytest.approx(0.0, abs=1e-12)
    assert m["mode_counts"] == [100] * 25 and m["samples"] == 2500


def test_true_data_scores_like_the_mixture_itself():
    torch.manual_seed(0)
    grid = Grid25()
    samples, _ = grid.sample(20_000)
    m = dataset_mixture_metrics(samples, grid)  # model space in, data units inside
    # A 2-D Gaussian lies within 3 sigma of its mean with probability 1 - exp(-4.5) = 98.89 %.
    assert m["hq_percent"] == pytest.approx(100 * (1 - math.exp(-4.5)), abs=0.3)
    assert m["modes"] == 25
    assert m["reverse_kl"] < 0.01


def test_collapse_onto_one_mode():
    ring = Ring8()
    points = ring.modes[3] + ring.std * torch.randn(2500, 2, generator=torch.Generator().manual_seed(0)).clamp(-1, 1)
    m = mixture_metrics(points, ring.modes, ring.std)
    assert m["modes"] == 1
    assert m["mode_counts"][3] == 2500
    assert m["reverse_kl"] == pytest.approx(math.log(8))


def test_empty_modes_need_no_epsilon_and_no_hq_sample_gives_log_k():
    grid = Grid25()
    five = grid.modes[:5].repeat(10, 1)  # uniform over 5 of 25 modes
    assert mixture_metrics(five, grid.modes, grid.std)["reverse_kl"] == pytest.approx(math.log(5))
    between = torch.full((100, 2), 1.0)  # halfway between four modes: never within 3 sigma
    m = mixture_metrics(between, grid.modes, grid.std)
    assert (m["modes"], m["hq_percent"]) == (0, 0.0)
    assert m["reverse_kl"] == pytest.approx(math.log(25))
    assert kl_to_uniform(torch.tensor([2, 0, 0, 2])) == pytest.approx(math.log(2))


def test_threshold_is_three_sigma_in_data_units_and_nonfinite_samples_are_low_quality():
    ring = Ring8()
    centre = ring.modes[0]
    inside = centre + torch.tensor([2.9 * ring.std, 0.0])
    outside = centre + torch.tensor([3.1 * ring.std, 0.0])
    nan = torch.tensor([float("nan"), 0.0])
    m = mixture_metrics(torch.stack([inside, outside, nan, inside]), ring.modes, ring.std)
    assert m["hq_percent"] == pytest.approx(50.0) and m["modes"] == 1
    # The same points given in model space go through denormalize (scale 1.25).
    m2 = dataset_mixture_metrics(torch.stack([inside, outside]) / ring.scale, ring)
    assert m2["hq_percent"] == pytest.approx(50.0)


def test_bad_shapes_are_named():
    grid = Grid25()
    with pytest.raises(ganforge.DataError, match=r"points of shape \(N, 2\)"):
        mixture_metrics(torch.zeros(10, 3), grid.modes, grid.std)
    with pytest.raises(ganforge.DataError, match="not a Gaussian mixture"):
        dataset_mixture_metrics(torch.zeros(4, 2), object())


def test_scatter_plot_is_written(tmp_path):
    grid = Grid25()
    samples, _ = grid.sample(500)
    path = tmp_path / "scatter.png"
    save_mixture_scatter(samples, grid, path)
    img = Image.open(path).convert("RGB")
    assert img.size == (512, 512)
    colours = {tuple(c) for c in np.asarray(img).reshape(-1, 3).tolist()}
    assert (255, 255, 255) in colours and len(colours) >= 3  # background, samples, mode centres


def test_the_scatter_shows_density_piled_points_solid_a_lone_one_pale():
    from ganforge.io.viz import scatter_image

    pile = torch.zeros(20, 2)  # twenty samples on one spot
    lone = torch.tensor([[0.5, 0.5]])
    img = scatter_image(torch.cat([pile, lone]), extent=1.0, size=101)
    solid, pale = img[:, 50, 50], img[:, 25, 75]  # (row, col) of (0, 0) and (0.5, 0.5)
    assert torch.allclose(solid, torch.tensor([0.85, 0.15, 0.1]), atol=0.01)
    assert torch.allclose(pale, 0.7 * torch.ones(3) + 0.3 * torch.tensor([0.85, 0.15, 0.1]), atol=0.01)
