"""Reference statistics: pytorch-fid's .npz format, ganforge's metadata, --reference/--save-reference, the cache."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch import nn

import ganforge
from ganforge import Trainer
from ganforge.cli import main
from ganforge.metrics import evaluate
from ganforge.metrics import features as feature_module
from ganforge.metrics.reference import (
    ReferenceStats,
    check_reference,
    load_reference,
    save_reference,
    stats_from_features,
)

TINY = dict(steps=1, batch_size=16, sample_every=0, checkpoint_every=0, progress=False, device="cpu",
            gen_options={"hidden": [8]}, disc_options={"hidden": [8]})


class _Counting(nn.Module):
    """Flattens images and counts how many it has seen."""

    def __init__(self):
        super().__init__()
        self.seen = 0

    def forward(self, x):
        self.seen += x.shape[0]
        return x.flatten(1)


@pytest.fixture
def counting():
    net = _Counting()
    feature_module.register_extractor("counting", lambda dataset, device="cpu": feature_module.FeatureExtractor(
        net, "counting", device=device))
    yield net
    feature_module._EXTRACTORS.pop("counting")


@pytest.fixture
def image_run(toys, tmp_path):
    run = tmp_path / "run"
    Trainer(data="unit-images", out_dir=str(run), **TINY).fit()
    return run


def _stats(dim=3, **meta):
    return stats_from_features(torch.randn(50, dim, generator=torch.Generator().manual_seed(0)), **meta)


def test_saved_statistics_are_pytorch_fid_files_with_ganforge_metadata(tmp_path):
    stats = _stats(extractor="fid-inception-2015-12-05", image_size=32, dataset="cifar10", split="train")
    path = save_reference(stats, tmp_path / "s.npz")
    with np.load(path) as raw:  # what pytorch-fid reads: f['mu'], f['sigma']
        assert raw["mu"].shape == (3,) and raw["sigma"].shape == (3, 3)
        assert str(raw["ganforge_extractor"]) == "fid-inception-2015-12-05" and int(raw["ganforge_samples"]) == 50
        assert "ganforge_features" not in raw.files
    back = load_reference(path)
    assert np.allclose(back.mu, stats.mu) and np.allclose(back.sigma, stats.sigma)
    assert (back.extractor, back.image_size, back.samples, back.dataset, back.split) == (
        "fid-inception-2015-12-05", 32, 50, "cifar10", "train")
    assert check_reference(back, "fid-inception-2015-12-05", 32, 3) is None


def test_a_foreign_file_is_read_and_what_cannot_be_checked_is_said(tmp_path):
    np.savez(tmp_path / "paper.npz", mu=np.zeros(4, dtype=np.float32), sigma=np.eye(4, dtype=np.float32))
    stats = load_reference(tmp_path / "paper.npz")
    assert not stats.has_metadata and stats.mu.dtype == np.float64
    note = check_reference(stats, "fid-inception-2015-12-05", 32, 4)
    assert note == (f"{tmp_path / 'paper.npz'} has no ganforge metadata, so its extractor and image size could not "
                    "be checked: it must come from the same network (fid-inception-2015-12-05) on 32x32 images of "
                    "the same data.")


def test_malformed_files_are_named_with_what_is_expected(tmp_path):
    expected = r"an \.npz file with 'mu' \(D,\) and 'sigma' \(D, D\)"
    (tmp_path / "text.npz").write_text("mu sigma")
    unreadable = rf"Cannot read reference statistics .*text\.npz .*expected {expected}"
    with pytest.raises(ganforge.DataError, match=unreadable):
        load_reference(tmp_path / "text.npz")
    np.savez(tmp_path / "nosigma.npz", mu=np.zeros(3))
    with pytest.raises(ganforge.DataError, match=rf"nosigma\.npz hold mu; expected {expected}"):
        load_reference(tmp_path / "nosigma.npz")
    np.savez(tmp_path / "shapes.npz", mu=np.zeros(3), sigma=np.eye(4))
    with pytest.raises(ganforge.DataError, match=r"'mu' of shape \(3,\) and 'sigma' of shape \(4, 4\)"):
        load_reference(tmp_path / "shapes.npz")
    np.savez(tmp_path / "nan.npz", mu=np.array([0.0, np.nan]), sigma=np.eye(2))
    with pytest.raises(ganforge.DataError, match="non-finite"):
        load_reference(tmp_path / "nan.npz")
    np.savez(tmp_path / "objects.npz", mu=np.array([{"a": 1}], dtype=object), sigma=np.eye(1))
    with pytest.raises(ganforge.DataError, match="Cannot read reference statistics"):
        load_reference(tmp_path / "objects.npz")  # never unpickled
    with pytest.raises(ganforge.DataError, match=rf"missing\.npz do not exist; pass {expected}"):
        load_reference(tmp_path / "missing.npz")


def test_statistics_of_another_extractor_or_image_size_are_refused_naming_both():
    stats = _stats(extractor="classifier-mnist-test-abc-v1", image_size=28)
    with pytest.raises(ganforge.DataError, match="computed with extractor 'classifier-mnist-test-abc-v1', this "
                                                 "evaluation uses 'fid-inception-2015-12-05'"):
        check_reference(stats, "fid-inception-2015-12-05", 28, 3)
    with pytest.raises(ganforge.DataError, match="computed on 28x28 images, this evaluation feeds 32x32 images"):
        check_reference(stats, "classifier-mnist-test-abc-v1", 32, 3)
    with pytest.raises(ganforge.DataError, match="are 3-dimensional but extractor 'x' gives 2048-d features"):
        check_reference(stats, "x", 28, 2048)


def test_reference_statistics_are_cached_per_data_set_and_reused(image_run, counting, cache_env):
    trainer = Trainer.resume(image_run, progress=False)
    first = evaluate(trainer, n=64, feature="counting")
    assert counting.seen == 128  # 64 real and 64 generated images
    cached = sorted((cache_env / "reference").glob("unit-images-train-counting-4px-n64-seed0-*.npz"))
    assert len(cached) == 1
    second = evaluate(trainer, n=64, feature="counting")
    assert counting.seen == 128 + 64  # the real features came from the cache
    assert second == first
    evaluate(trainer, n=64, feature="counting", seed=1)  # another real subset: another entry
    assert len(list((cache_env / "reference").glob("unit-images-train-counting-*.npz"))) == 2


def test_save_reference_then_compare_against_it(image_run, flat_extractor, tmp_path, capsys):
    stats_file = tmp_path / "unit-images.npz"
    assert main(["eval", str(image_run), "--n", "64", "--feature", "flat", "--save-reference", str(stats_file)]) == 0
    full = json.loads((image_run / "eval.json").read_text())
    assert full["saved_reference"] == str(stats_file)
    saved = load_reference(stats_file)
    assert (saved.extractor, saved.image_size, saved.samples, saved.dataset) == ("flat", 4, 64, "unit-images")
    assert main(["eval", str(image_run), "--n", "64", "--feature", "flat", "--reference", str(stats_file)]) == 0
    against = json.loads((image_run / "eval.json").read_text())
    assert against["fid"] == pytest.approx(full["fid"], rel=1e-9)
    assert "kid" not in against and "reference_note" not in against and against["real_samples"] == 64
    capsys.readouterr()


def test_eval_refuses_a_reference_of_another_image_size_or_extractor(image_run, flat_extractor, tmp_path, capsys):
    mu, sigma = np.zeros(16), np.eye(16)
    for name, meta in (("size", {"extractor": "flat", "image_size": 8}),
                       ("extractor", {"extractor": "fid-inception-2015-12-05", "image_size": 4})):
        save_reference(ReferenceStats(mu=mu, sigma=sigma, **meta), tmp_path / f"{name}.npz")
    code = main(["eval", str(image_run), "--n", "8", "--feature", "flat", "--reference", str(tmp_path / "size.npz")])
    err = capsys.readouterr().err
    assert code != 0 and "ganforge: error: Reference statistics" in err
    assert "computed on 8x8 images, this evaluation feeds 4x4 images" in err
    main(["eval", str(image_run), "--n", "8", "--feature", "flat", "--reference", str(tmp_path / "extractor.npz")])
    assert "extractor 'fid-inception-2015-12-05', this evaluation uses 'flat'" in capsys.readouterr().err


def test_reference_options_that_do_not_apply_are_refused(toys, image_run, tmp_path):
    trainer = Trainer.resume(image_run, progress=False)
    with pytest.raises(ganforge.ConfigError, match="either reference statistics .* not both"):
        evaluate(trainer, n=8, reference=tmp_path / "a.npz", save_reference=tmp_path / "b.npz")
    grid = Trainer(data="grid25", out_dir=str(tmp_path / "g"), **TINY)
    with pytest.raises(ganforge.ConfigError, match="Reference statistics apply to image data; data set 'grid25'"):
        evaluate(grid, n=8, reference=tmp_path / "a.npz")


def test_real_images_of_another_split(toys, flat_extractor, cache_env, tmp_path):
    trainer = Trainer(data="unit-images", gen="replay", tricks=["normalize"], out_dir=str(tmp_path / "r"),
                      **{**TINY, "gen_options": {}})
    same = evaluate(trainer, n=256, feature="flat")
    other = evaluate(trainer, n=256, feature="flat", real_split="test")
    assert same["fid"] == pytest.approx(0.0, abs=1e-6) and other["fid"] > 0.05  # the replay generator knows train
    assert list((cache_env / "reference").glob("unit-images-test-flat-4px-n256-seed0-*.npz"))
    with pytest.raises(ganforge.ConfigError, match=r"real_split \(--split\) applies to image data"):
        evaluate(Trainer(data="grid25", out_dir=str(tmp_path / "g"), **TINY), n=8, real_split="test")
