"""Pluggable feature extractors for FID, KID and precision/recall.

An extractor maps images in [-1, 1], ``(N, C, H, W)``, to feature vectors
``(N, D)``. Two are built in:

* ``"classifier"`` -- the penultimate layer (128-d) of the domain classifier
  trained on the run's labelled data set (:mod:`ganforge.metrics.classifier`).
  Numbers are comparable between ganforge runs on the same data, not with
  published FIDs.
* ``"inception"`` -- torchvision's Inception-v3 (ImageNet weights), 2048-d
  pool features; grey images are repeated to three channels and resized to
  299x299. The weights must already be in the torch hub cache; ganforge never
  downloads them. torchvision's weights differ from the TensorFlow graph of
  the original FID, so these values are close to, not equal to, published FIDs.

Add another with :func:`register_extractor`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ganforge.errors import ConfigError, DataNotFoundError


class FeatureExtractor:
    """Wraps a module mapping images to features; batches the work and runs without gradients.

    Args:
        net: Maps ``(B, C, H, W)`` images in [-1, 1] to ``(B, D)``.
        name: The extractor's name, for messages and result keys.
        size: Resize inputs to ``size x size`` first (None: as given).
        channels: Repeat one-channel inputs to this many channels (None: as given).
        device: Where to run.
        batch: Images per forward pass.
        classify: Optional module mapping the same inputs to class logits.
    """

    def __init__(self, net: nn.Module, name: str, size: int | None = None, channels: int | None = None,
                 device: torch.device | str = "cpu", batch: int = 500, classify: nn.Module | None = None):
        self.net, self.name, self.size, self.channels = net.eval().to(device), name, size, channels
        self.device, self.batch = torch.device(device), batch
        self.classify_net = classify.eval().to(device) if classify is not None else None
        self.info: dict[str, Any] = {}

    def _prep(self, x: Tensor) -> Tensor:
        x = x.to(self.device).float()
        if self.channels is not None and x.shape[1] == 1 and self.channels != 1:
            x = x.expand(-1, self.channels, -1, -1)
        if self.size is not None and tuple(x.shape[-2:]) != (self.size, self.size):
            x = F.interpolate(x, size=(self.size, self.size), mode="bilinear", align_corners=False)
        return x

    @torch.no_grad()
    def __call__(self, images: Tensor) -> Tensor:
        """Features ``(N, D)`` (CPU, float32) of ``images`` ``(N, C, H, W)`` in [-1, 1]."""
        return torch.cat([self.net(self._prep(images[s : s + self.batch])).float().cpu()
                          for s in range(0, images.shape[0], self.batch)])

    @torch.no_grad()
    def predict(self, images: Tensor) -> Tensor:
        """Predicted classes ``(N,)`` (needs a ``classify`` module)."""
        if self.classify_net is None:
            raise ConfigError(f"Feature extractor '{self.name}' has no classifier head; use feature='classifier'.")
        return torch.cat([self.classify_net(self._prep(images[s : s + self.batch])).argmax(1).cpu()
                          for s in range(0, images.shape[0], self.batch)])


class _Features(nn.Module):
    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x: Tensor) -> Tensor:
        return self.model.features(x)


def classifier_extractor(dataset: Any, device: torch.device | str = "cpu") -> FeatureExtractor:
    """The domain-classifier extractor for a labelled image data set (trains and caches it on first use)."""
    from ganforge.metrics.classifier import load_or_train

    model, meta = load_or_train(dataset, verbose=True)
    inner = getattr(dataset, "inner", dataset)
    extractor = FeatureExtractor(_Features(model), "classifier", size=inner.sample_shape[-1], device=device,
                                 classify=model)
    extractor.info = meta
    return extractor


INCEPTION_FILE = "inception_v3_google-0cc3c7bd.pth"


def inception_weights_path() -> Path:
    """Where torchvision keeps the Inception-v3 weights (``$TORCH_HOME/hub/checkpoints``)."""
    return Path(torch.hub.get_dir()) / "checkpoints" / INCEPTION_FILE


def inception_extractor(dataset: Any = None, device: torch.device | str = "cpu") -> FeatureExtractor:
    """torchvision Inception-v3 pool features (2048-d); raises :class:`DataNotFoundError` when the weights are absent."""
    import torchvision

    path = inception_weights_path()
    if not path.is_file():
        raise DataNotFoundError(
            f"Inception-v3 weights not found at {path}; ganforge does not download them during evaluation. "
            "On a machine with internet access run: python -c \"import torchvision; "
            "torchvision.models.inception_v3(weights='IMAGENET1K_V1')\" (it stores them in the torch hub cache; "
            f"set TORCH_HOME to choose where), or copy {INCEPTION_FILE} into {path.parent}. "
            "Or evaluate with the domain classifier: feature='classifier' (--feature classifier)."
        )
    net = torchvision.models.inception_v3(weights=None, aux_logits=True, init_weights=False, transform_input=False)
    net.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    net.fc = nn.Identity()  # the 2048-d pool features; inputs in [-1, 1] as the Google weights expect
    return FeatureExtractor(net, "inception", size=299, channels=3, device=device, batch=100)


_EXTRACTORS: dict[str, Callable[..., FeatureExtractor]] = {
    "classifier": classifier_extractor,
    "inception": inception_extractor,
}


def register_extractor(name: str, factory: Callable[..., FeatureExtractor]) -> None:
    """Add an extractor: ``factory(dataset, device=...)`` returns a :class:`FeatureExtractor`."""
    _EXTRACTORS[name] = factory


def extractor_names() -> list[str]:
    """Names accepted by :func:`get_extractor`."""
    return sorted(_EXTRACTORS)


def get_extractor(name: str, dataset: Any, device: torch.device | str = "cpu") -> FeatureExtractor:
    """Build the extractor ``name`` for ``dataset``; unknown names raise :class:`ConfigError`."""
    if name not in _EXTRACTORS:
        raise ConfigError(f"Unknown feature extractor {name!r}; choose one of {', '.join(extractor_names())}.")
    return _EXTRACTORS[name](dataset, device=device)
