"""evaluate(): the metrics chosen per data set, on real (short) runs."""

from __future__ import annotations

import math

import pytest
import torch

import ganforge
from ganforge import Trainer
from ganforge.metrics import HIGHER_IS_BETTER, LOWER_IS_BETTER, data_kind, evaluate, generate, primary_metric

SMALL = dict(gen_options={"hidden": (64, 64, 64)}, disc_options={"hidden": (64, 64)})


def test_short_grid25_training_improves_its_mode_metrics(tiny):
    tiny.update(steps=400, batch_size=128, log_every=100)
    trainer = Trainer(data="grid25", **SMALL, **tiny)
    before = evaluate(trainer)
    trainer.fit()
    after = evaluate(trainer)
    assert before["samples"] == after["samples"] == 2500
    assert (before["step"], after["step"]) == (0, 400)
    assert after["modes"] >= before["modes"] + 10, (before, after)
    assert after["reverse_kl"] < before["reverse_kl"] - 1.0, (before, after)
    assert primary_metric(trainer) == "reverse_kl" and "reverse_kl" in LOWER_IS_BETTER


def test_evaluation_is_seeded_and_leaves_the_training_rng_alone(tiny):
    trainer = Trainer(data="ring8", **SMALL, **tiny).setup()
    state = torch.get_rng_state()
    a, b = evaluate(trainer, n=300), evaluate(trainer, n=300)
    assert a == b and a["kind"] == "mixture" and a["modes_total"] == 8
    assert torch.equal(torch.get_rng_state(), state)
    assert evaluate(trainer, n=300, seed=1)["mode_counts"] != a["mode_counts"] or a["modes"] == 0
    # Chunks draw fresh latents: no two chunks repeat.
    samples = generate(trainer, 250, chunk=100)
    assert not torch.equal(samples[:50], samples[100:150])


def test_scatter_is_saved_when_asked(tiny, tmp_path):
    trainer = Trainer(data="grid25", **SMALL, **tiny)
    evaluate(trainer, n=200, scatter=tmp_path / "s.png")
    assert (tmp_path / "s.png").stat().st_size > 0


def test_mnist_gets_domain_classifier_metrics(tiny, mnist_root, cache_env):
    trainer = Trainer(data="mnist", data_root=str(mnist_root), split="test", **SMALL, **tiny)
    trainer.fit()
    result = evaluate(trainer, n=600)
    assert result["kind"] == "image" and result["feature"] == "classifier"
    assert {"fid", "kid", "kid_std", "precision", "recall", "classes", "class_kl"} <= result.keys()
    assert result["fid"] > 1.0  # 20 steps of training are far from the data
    assert 0 <= result["precision"] <= 1 and 0 <= result["recall"] <= 1
    assert 1 <= result["classes"] <= 10 and 0 <= result["class_kl"] <= math.log(10) + 1e-9
    assert result["classifier_accuracy"] > 0.97 and primary_metric(trainer) == "fid"
    assert not (set(result) & LOWER_IS_BETTER & HIGHER_IS_BETTER)


def test_data_kind_and_errors():
    class Stacked:
        is_distribution, name, sample_shape = False, "stacked_mnist", (3, 28, 28)

    class Table:
        is_distribution, name, sample_shape = False, "table", (5,)

    class Volume:
        is_distribution, name, sample_shape = False, "volume", (1, 8, 8, 8)

    assert data_kind(Stacked()) == "stacked"
    assert data_kind(Table()) == "points"  # vectors are measured on their coordinates unless declared otherwise
    with pytest.raises(ganforge.DataError, match=r"No metrics fit data set 'volume' .*metric_support\(\)"):
        data_kind(Volume())
    with pytest.raises(ganforge.ConfigError, match="n >= 2"):
        evaluate(Trainer(data="grid25", device="cpu", progress=False), n=1)
