"""Metrics declared by data sets (MetricSupport): plugins registered by hand, and the builtins through the same door."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

import ganforge
from ganforge import Trainer
from ganforge.cli import main
from ganforge.interfaces import Dataset
from ganforge.io.viz import scatter_image
from ganforge.metrics import (
    MetricSupport,
    evaluate,
    measured_metrics,
    primary_metric,
    support_for,
)
from ganforge.registry import get_plugin, get_registry

SMALL = dict(steps=20, batch_size=32, log_every=10, sample_every=0, checkpoint_every=0, progress=False, device="cpu",
             gen_options={"hidden": [32, 32]}, disc_options={"hidden": [32, 32]})
REFERENCE_BLUE = (140, 191, 242)  # ganforge.io.viz's reference colour (0.55, 0.75, 0.95) as saved


def test_eval_measures_a_swiss_roll_plugin_and_draws_its_reference_points(toys, tmp_path, capsys):
    run = tmp_path / "roll"
    Trainer(data="swiss-roll", out_dir=str(run), **SMALL).fit()
    assert main(["eval", str(run), "--n", "300"]) == 0
    saved = json.loads((run / "eval.json").read_text())
    assert saved["kind"] == "points" and saved["feature"] == "data" and saved["samples"] == 300
    assert set(measured_metrics(get_registry().create("dataset", "swiss-roll"))) <= saved.keys()
    assert saved["fid"] > 0 and 0 <= saved["precision"] <= 1 and 0 <= saved["coverage"] <= 1
    assert "fid" in capsys.readouterr().out
    # The scatter shows the declared reference sampler's points, in data units (the roll reaches ~14).
    img = np.asarray(Image.open(run / "eval_scatter.png").convert("RGB")).astype(int)
    blue = (np.abs(img - np.array(REFERENCE_BLUE)).sum(axis=2) <= 6)
    assert blue.sum() > 2000
    # The plot is scatter_image(fakes, reference points): each reference point's pixel is blue or covered by a fake.
    roll = get_plugin("dataset", "swiss-roll").roll  # the declared sampler, seeded as eval seeds it
    expected = scatter_image(torch.zeros(0, 2), roll(2048, torch.Generator().manual_seed(0)))
    expected_blue = (expected.permute(1, 2, 0) * 255).round().numpy().astype(int)
    expected_blue = (np.abs(expected_blue - np.array(REFERENCE_BLUE)).sum(axis=2) <= 6)
    assert blue[expected_blue].mean() > 0.6 and not blue[~expected_blue].any()


def test_points_metrics_see_a_perfect_generator_as_the_data(toys):
    """Reals from the declared sampler against reals: fid near 0, precision/recall/coverage near their best."""
    data = get_registry().create("dataset", "swiss-roll")
    support = support_for(data)
    from ganforge.metrics.measure import _distances
    from ganforge.metrics.scatter import reference_points

    real = reference_points(data, support, 2000, seed=0)
    same = reference_points(data, support, 2000, seed=1)
    shifted = same + torch.tensor([3.0, 0.0])
    good, bad = _distances(real, same, 0), _distances(real, shifted, 0)
    assert good["fid"] < 0.5 < 9 * 0.9 < bad["fid"]  # a shift by 3 adds 9
    assert good["precision"] > 0.9 and good["recall"] > 0.9 and good["coverage"] > 0.9
    assert bad["coverage"] < good["coverage"] and bad["precision"] < good["precision"]


def test_a_plugin_declaring_modes_gets_the_mixture_metrics(toys, tmp_path):
    trainer = Trainer(data="three-blobs", out_dir=str(tmp_path / "blobs"), **SMALL)
    assert measured_metrics(get_registry().create("dataset", "three-blobs")) == [
        "modes", "hq_percent", "reverse_kl", "fid", "kid", "precision", "recall", "density", "coverage"]
    result = evaluate(trainer, n=200, scatter=tmp_path / "s.png")
    assert result["kind"] == "mixture" and result["modes_total"] == 3 and len(result["mode_counts"]) == 3
    assert primary_metric(trainer) == "reverse_kl" and "fid" in result
    assert (tmp_path / "s.png").stat().st_size > 0


def test_measured_metrics_of_the_builtins_without_generating_anything():
    registry = get_registry()
    assert measured_metrics(registry.create("dataset", "grid25")) == ["modes", "hq_percent", "reverse_kl"]
    mnist = registry.create("dataset", "mnist", download=False)  # nothing is read to list the metrics
    image = ["fid", "kid", "precision", "recall", "density", "coverage"]
    assert measured_metrics(mnist) == [*image, "classes", "class_kl"]
    assert measured_metrics(mnist, feature="inception") == [*image, "inception_score", "classes", "class_kl"]
    assert measured_metrics(mnist, feature="inception", reference=True) == [
        "fid", "inception_score", "classes", "class_kl"]
    assert measured_metrics(registry.create("dataset", "stacked-mnist", download=False)) == [
        "stacked_modes", "stacked_kl"]


@pytest.mark.parametrize("name", ["grid25", "ring8", "mnist", "fashion-mnist", "cifar10", "stacked-mnist",
                                  "image-folder"])
def test_every_builtin_declares_its_metrics_through_the_dataset_interface(name, tmp_path):
    cls = get_plugin("dataset", name)
    assert any("metric_support" in vars(c) for c in cls.__mro__ if c is not Dataset)  # its own declaration
    if name == "image-folder":
        Image.new("RGB", (8, 8)).save(tmp_path / "a.png")  # no class subfolders: unlabelled
        data = cls(root=str(tmp_path))
    else:
        data = cls()
    support = data.metric_support()
    assert isinstance(support, MetricSupport) and support_for(data).metrics == support.metrics
    expected = {"grid25": ("mixture",), "ring8": ("mixture",), "stacked-mnist": ("stacked",),
                "image-folder": ("image",)}.get(name, ("image", "classes"))
    assert support.metrics == expected


def test_malformed_declarations_name_the_data_set_and_the_fix(toys):
    base = get_registry().create("dataset", "swiss-roll")

    def declaring(support):
        data = get_registry().create("dataset", "swiss-roll")
        data.metric_support = lambda: support
        return data

    cases = [
        (["points"], "returned list, not a ganforge.metrics.MetricSupport"),
        (MetricSupport(metrics=()), "declares no metric families"),
        (MetricSupport(metrics=("pointz",)), "unknown metric family 'pointz'; known: mixture, points, image"),
        (MetricSupport(metrics=("image",)), r"'image' metrics for samples of shape \(2,\); they need \(C, H, W\)"),
        (MetricSupport(metrics=("mixture",)), "without mode centres: pass modes="),
        (MetricSupport(metrics=("mixture",), modes=torch.zeros(3, 2), mode_std=0), "mode_std=0"),
        (MetricSupport(metrics=("points",), reference=[1, 2]), "reference= must be a function"),
        (MetricSupport(metrics=("points",), primary="precision"), "primary='precision' must be a lower-is-better"),
        (MetricSupport(metrics=("points", "classes")), r"declares 'classes' metrics but has no labels"),
    ]
    for support, message in cases:
        with pytest.raises(ganforge.PluginError, match=r"Data set 'swiss-roll' \(SwissRoll.metric_support\)"):
            support_for(declaring(support))
        with pytest.raises(ganforge.PluginError, match=message):
            support_for(declaring(support))
    assert support_for(base).kind == "points"


def test_a_reference_sampler_of_the_wrong_shape_is_named(toys, tmp_path):
    trainer = Trainer(data="swiss-roll", out_dir=str(tmp_path / "r"), **SMALL).setup()
    wrong = MetricSupport(metrics=("points",), reference=lambda n, generator: torch.zeros(n, 3))
    trainer.dataset.metric_support = lambda: wrong
    with pytest.raises(ganforge.PluginError, match=r"reference sampler returned \(50, 3\) for n=50; .*\(50, 2\)"):
        evaluate(trainer, n=50)


def test_a_plugin_classifier_measures_class_coverage(toys, register, tmp_path):
    """A data set's own classifier (MetricSupport.classifier) is the one 'classes' uses, built only when measuring."""
    built = []

    class Halves(ganforge.Dataset):
        """2-D points uniform in [-1, 1]^2, class 1 right of the y axis, class 0 left of it."""

        name = "halves"
        is_distribution = True
        num_classes = 2

        @property
        def sample_shape(self):
            return (2,)

        def sample(self, n, device="cpu"):
            x = torch.rand(n, 2, device=device) * 2 - 1
            return x, (x[:, 0] > 0).long()

        def metric_support(self):
            def build():
                built.append(True)

                def classify(x):
                    return (x[:, 0] > 0).long()

                classify.accuracy = 1.0
                return classify

            return MetricSupport(metrics=("points", "classes"), classifier=build)

    register(datasets=[Halves])
    # The toys' 'constant' generator puts every sample at the origin: the classifier calls them all class 0.
    trainer = Trainer(data="halves", gen="constant", out_dir=str(tmp_path / "halves"), **{**SMALL, "gen_options": {}})
    trainer.fit()
    assert not built  # training never builds it
    result = evaluate(trainer, n=200)
    assert built == [True]
    assert result["classes"] == 1 and result["class_kl"] == pytest.approx(np.log(2))  # all mass on one of two
    assert result["classifier_accuracy"] == 1.0
    assert "fid" in result  # the points family beside it
