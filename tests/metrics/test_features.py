"""Feature extractors: the domain classifier's features, Inception's offline error, plugging in others."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import ganforge
from ganforge.data.loader import to_model_space
from ganforge.data.mnist import MNIST
from ganforge.metrics import features


def test_imagenet_inception_without_local_weights_is_a_clear_error_and_never_downloads(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    expected = tmp_path / "torch" / "hub" / "checkpoints" / features.INCEPTION_FILE
    assert features.inception_weights_path() == expected
    with pytest.raises(ganforge.DataNotFoundError) as info:
        features.get_extractor("inception-imagenet", None)
    message = str(info.value)
    assert str(expected) in message and "does not download" in message
    assert "weights='IMAGENET1K_V1'" in message and "feature='inception'" in message
    assert not (tmp_path / "torch").exists()  # nothing was fetched


def test_unknown_extractor_names_the_choices():
    choices = "classifier, inception, inception-imagenet"
    with pytest.raises(ganforge.ConfigError, match=f"Unknown feature extractor 'incepton'; choose one of {choices}"):
        features.get_extractor("incepton", None)


def test_classifier_features_and_predictions(mnist_root, cache_env):
    data = MNIST(root=str(mnist_root), split="test", download=False)
    images, labels = data.load()
    x = to_model_space(images[:600])
    ex = features.get_extractor("classifier", data)
    f = ex(x)
    assert f.shape == (600, 128) and f.dtype == torch.float32
    assert (ex.predict(x) == labels[:600]).float().mean() > 0.95
    # Other sizes are resized to the classifier's 28x28 first.
    big = torch.nn.functional.interpolate(x[:50], size=(32, 32), mode="bilinear")
    assert ex(big).shape == (50, 128)
    assert ex.info["holdout_accuracy"] > 0.97


def test_extractors_are_pluggable():
    class Mean(nn.Module):
        def forward(self, x):
            return x.mean(dim=(2, 3))

    features.register_extractor("mean", lambda dataset, device="cpu": features.FeatureExtractor(Mean(), "mean", batch=3))
    try:
        assert "mean" in features.extractor_names()
        out = features.get_extractor("mean", None)(torch.ones(7, 2, 5, 5))
        assert torch.equal(out, torch.ones(7, 2))
        with pytest.raises(ganforge.ConfigError, match="has no classifier head"):
            features.get_extractor("mean", None).predict(torch.ones(1, 2, 5, 5))
    finally:
        features._EXTRACTORS.pop("mean")
