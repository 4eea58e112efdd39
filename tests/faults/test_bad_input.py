"""Item 6: bad input gets a clear ganforge error, and nothing already on disk is written over.

Also fuzzes the two parsers that read user files -- the config loader and the
IDX reader -- with hypothesis: they may only raise ganforge's documented errors.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import math
import struct

import attrs
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import ganforge
from ganforge.cli import main
from ganforge.data.idx import read_idx, write_idx
from ganforge.io import checkpoint as ckpt

FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def snapshot(folder):
    """Every file under ``folder`` with the hash of its bytes."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


# -- configuration ---------------------------------------------------------------

BAD_SETTINGS = [
    ({"steps": 0}, "'steps' must be an integer >= 1 (got 0)"),
    ({"steps": "10"}, "'steps' must be an integer >= 1 (got '10')"),
    ({"batch_size": 2.5}, "'batch_size' must be an integer >= 1 (got 2.5)"),
    ({"log_every": True}, "'log_every' must be an integer >= 1 (got True)"),
    ({"seed": 2**70}, "'seed' must be an integer from 0 to"),
    ({"precision": "fp8"}, "'precision' must be one of 'fp32', 'bf16', 'fp16' (got 'fp8')"),
    ({"nan_policy": "ignore"}, "'nan_policy' must be one of 'stop', 'skip' (got 'ignore')"),
    ({"grad_clip": -1.0}, "'grad_clip' must be None or a number > 0 (got -1.0)"),
    ({"g_optim": {"lr": float("inf")}}, "'lr' must be finite (got inf)"),
    ({"d_optim": {"betas": (0.5, 1.5)}}, "'betas' must be a pair of numbers in [0, 1)"),
    ({"d_optim": {"lr": 1e-3, "beta": 0.5}}, "Unknown optimizer setting 'beta'. Did you mean 'betas'?"),
    ({"tricks": 5}, "'tricks' must be a list of trick names (got 5)"),
    ({"tricks": ["soft_labels", "soft_labels"]}, "'tricks' lists soft_labels more than once"),
    ({"trick_options": {"soft_labels": {}}}, "which is not among the enabled tricks"),
    ({"gen_options": ["hidden", 3]}, "'gen_options' must be a mapping"),
    ({"out_dir": 5}, "'out_dir' must be a path or None (got 5)"),
    ({"stesp": 10}, "Unknown setting 'stesp'. Did you mean 'steps'?"),
]


@pytest.mark.parametrize("change, message", BAD_SETTINGS, ids=[next(iter(c)) for c, _ in BAD_SETTINGS])
def test_invalid_config_values_and_types(change, message, small, tmp_path):
    with pytest.raises(ganforge.ConfigError) as info:
        ganforge.Trainer(**{**small, **change})
    assert message in str(info.value)
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize(
    "change, error, message",
    [({"gen": "mpl"}, ganforge.UnknownPluginError, "Unknown generator 'mpl'. Did you mean 'mlp'?"),
     ({"loss": "hinge_loss"}, ganforge.UnknownPluginError, "Unknown loss 'hinge_loss'."),
     ({"tricks": ["soft_label"]}, ganforge.UnknownPluginError, "Unknown trick 'soft_label'. Did you mean 'soft_labels'"),
     ({"data": "mnsit"}, ganforge.UnknownPluginError, "Unknown dataset 'mnsit'. Did you mean 'mnist'?"),
     ({"gen_options": {"widths": [8]}}, ganforge.ConfigError, "Unknown option 'widths' for generator 'mlp'"),
     ({"gen_options": {"norm": "group"}}, ganforge.ConfigError, "'norm' must be one of"),
     ({"gen_options": {"hidden": [-1]}}, ganforge.ConfigError, "'hidden' must be a non-empty list of positive"),
     ({"data": "ring8", "data_options": {"std": -1.0}}, ganforge.ConfigError, "'std' must be None or a number > 0")],
)
def test_unknown_plugins_and_bad_plugin_options(change, error, message, small, tmp_path):
    with pytest.raises(error) as info:
        ganforge.Trainer(**{**small, **change}).fit()
    assert message in str(info.value)
    assert not (tmp_path / "run").exists()


def test_cli_reports_bad_settings_in_one_line(tmp_path, capsys):
    status = main(["train", "--data", "grid25", "--gen", "mpl", "--out", str(tmp_path / "run"), "--no-progress"])
    err = capsys.readouterr().err
    assert status == 2 and err.startswith("ganforge: error: Unknown generator 'mpl'") and err.count("\n") == 1
    status = main(["train", "--data", "grid25", "--steps", "0", "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err
    assert status == 2 and "'steps' must be an integer >= 1 (got 0)" in err and err.count("\n") == 1
    assert not (tmp_path / "run").exists()


# -- data --------------------------------------------------------------------------


def _model_pairs():
    gens = {i.name for i in ganforge.list_plugins("generator")}
    discs = {i.name for i in ganforge.list_plugins("discriminator")}
    return sorted(gens & discs)


@pytest.mark.slow
@pytest.mark.parametrize("data", ["grid25", "tiny-mnist"])
def test_every_model_takes_the_data_or_says_why(data, small, tiny_idx, tmp_path):
    """Each registered model pair either trains two steps on the data or raises a ganforge error."""
    pairs = _model_pairs()
    assert "mlp" in pairs
    outcomes = {}
    for name in pairs:
        settings_ = {**small, "gen": name, "disc": name, "steps": 2, "checkpoint_every": 0, "gen_options": {},
                     "disc_options": {}, "out_dir": str(tmp_path / f"{name}-{data}")}
        if data == "tiny-mnist":
            settings_.update(data="mnist", data_root=str(tiny_idx), split="test")
        try:
            ganforge.Trainer(**settings_).fit()
            outcomes[name] = "trained"
        except ganforge.GanforgeError as exc:  # anything else fails the test with its traceback
            outcomes[name] = f"{type(exc).__name__}: {exc}"
    assert outcomes["mlp"] == "trained"  # the MLP takes any shape
    if "dcgan" in outcomes and data == "grid25":
        assert outcomes["dcgan"].startswith("DataError: The dcgan generator needs image data shaped")


def test_batch_larger_than_the_data_set(small, tiny_idx, tmp_path):
    with pytest.raises(ganforge.DataError, match=r"batch_size 100 is larger than the data set \(64 samples\); "
                                                 r"choose batch_size <= 64"):
        ganforge.Trainer(**{**small, "data": "mnist", "data_root": str(tiny_idx), "split": "test",
                            "batch_size": 100}).fit()
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize(
    "corrupt, message",
    [(lambda p: p.write_bytes(b"\x08\x03\x00\x00" + p.read_bytes()[4:]), "is not an IDX file"),
     (lambda p: p.write_bytes(p.read_bytes()[:-100]), "the file is truncated or corrupt"),
     (lambda p: p.write_bytes(b""), "is not an IDX file"),
     (lambda p: p.write_bytes(b"\x00\x00\x07\x03" + p.read_bytes()[4:]), "unknown IDX element type 0x07")],
    ids=["wrong-magic", "truncated", "empty", "bad-type"],
)
def test_broken_idx_files_give_data_errors(corrupt, message, small, tiny_idx, tmp_path, capsys):
    images = tiny_idx / "t10k-images-idx3-ubyte"
    corrupt(images)
    with pytest.raises(ganforge.DataError, match=message) as info:
        read_idx(images)
    assert str(images) in str(info.value)
    status = main(["train", "--data", "mnist", "--data-root", str(tiny_idx), "--split", "test", "--device", "cpu",
                   "--steps", "2", "--out", str(tmp_path / "run"), "--no-progress"])
    err = capsys.readouterr().err
    assert status == 1 and err.startswith("ganforge: error: ") and message in err and err.count("\n") == 1
    assert not (tmp_path / "run").exists()


def test_unreadable_gzip_idx_files(tmp_path):
    good = tmp_path / "good-idx1-ubyte.gz"
    write_idx(good, np.arange(10, dtype=np.uint8))
    assert read_idx(good).tolist() == list(range(10))
    cases = {"not-gzip.gz": b"plain bytes, no gzip header", "cut.gz": good.read_bytes()[:15],
             "bad-crc.gz": good.read_bytes()[:-8] + b"\x00" * 8}
    for name, data in cases.items():
        (tmp_path / name).write_bytes(data)
        with pytest.raises(ganforge.DataError, match=rf"Cannot read IDX file .*{name}"):
            read_idx(tmp_path / name)
    with pytest.raises(ganforge.DataError, match="Cannot read IDX file"):
        read_idx(tmp_path)  # a folder
    with pytest.raises(ganforge.DataError, match="Cannot read IDX file"):
        read_idx(tmp_path / "missing-idx3-ubyte")


def _image_folder_registered() -> bool:
    return "image-folder" in {i.name for i in ganforge.list_plugins("dataset")}


@pytest.mark.parametrize("contents, message", [
    ({}, "holds no images"),
    ({"notes.txt": b"hello", "sub/data.csv": b"1,2"}, "holds no images"),
    ({"a.png": b"this is not a png"}, "Cannot read image"),
])
def test_empty_or_non_image_folder(contents, message, small, tmp_path):
    if not _image_folder_registered():
        pytest.skip("the image-folder data set is not registered yet")
    root = tmp_path / "images"
    root.mkdir()
    for name, data in contents.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    with pytest.raises(ganforge.DataError, match=message) as info:
        ganforge.Trainer(**{**small, "data": "image-folder", "data_root": str(root)}).fit()
    assert str(root) in str(info.value)
    assert not (tmp_path / "run").exists()


# -- the output folder --------------------------------------------------------------


def test_a_folder_holding_another_run_is_refused_and_left_untouched(small, tmp_path, capsys):
    ganforge.Trainer(**small).fit()
    run = tmp_path / "run"
    before = snapshot(run)
    assert any(k.startswith("checkpoints/") for k in before) and "config.json" in before
    with pytest.raises(ganforge.RunDirectoryError, match=rf"Output folder {run} already holds a run. Pass --resume"):
        ganforge.Trainer(**{**small, "seed": 1}).fit()
    capsys.readouterr()  # the first run's start and end messages (printed whatever 'progress' is)
    status = main(["train", "--data", "grid25", "--steps", "3", "--device", "cpu", "--out", str(run), "--no-progress"])
    err = capsys.readouterr().err
    assert status == 1 and "already holds a run" in err and "--overwrite" in err and err.count("\n") == 1
    assert snapshot(run) == before  # nothing written over, nothing added
    # Resuming continues it; --overwrite replaces it.
    ganforge.Trainer.resume(run, steps=25).fit()
    assert ckpt.list_checkpoints(run)[-1][0] == 25
    ganforge.Trainer(**{**small, "steps": 3, "overwrite": True}).fit()
    assert [s for s, _ in ckpt.list_checkpoints(run)] == [3]


def test_an_output_path_that_is_a_file_is_refused(small, tmp_path):
    (tmp_path / "run").write_text("keep me")
    with pytest.raises(ganforge.RunDirectoryError, match="exists and is not a folder"):
        ganforge.Trainer(**small).fit()
    assert (tmp_path / "run").read_text() == "keep me"


# -- fuzzing ------------------------------------------------------------------------

FIELDS = [f.name for f in attrs.fields(ganforge.TrainConfig)]
OPTIM_FIELDS = [f.name for f in attrs.fields(ganforge.OptimConfig)]
scalars = (st.none() | st.booleans() | st.integers(-(2**80), 2**80) | st.floats(allow_nan=True)
           | st.text(max_size=12) | st.sampled_from(["mlp", "grid25", "soft_labels", "fp16", "skip", "auto"]))
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4)
                      | st.dictionaries(st.text(max_size=8) | st.sampled_from(OPTIM_FIELDS), inner, max_size=4),
                      max_leaves=12)
config_dicts = st.dictionaries(st.sampled_from(FIELDS) | st.text(max_size=10), values, max_size=6)


@FUZZ
@given(data=config_dicts)
def test_fuzz_config_from_dict(data):
    try:
        config = ganforge.TrainConfig.from_dict(data)
    except ganforge.GanforgeError:
        return
    # A config that was accepted survives the JSON round trip checkpoints and config.json rely on.
    saved = config.to_dict()
    again = ganforge.TrainConfig.from_dict(json.loads(json.dumps(saved))).to_dict()
    assert json.dumps(again, sort_keys=True) == json.dumps(saved, sort_keys=True)


def _toml_value(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if v is None:
        return '"none"'  # TOML has no null
    if isinstance(v, float):
        return "nan" if math.isnan(v) else ("inf" if v > 0 else "-inf") if math.isinf(v) else repr(v)
    if isinstance(v, int):
        return str(v)
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, list):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    return "{" + ", ".join(f"{json.dumps(k)} = {_toml_value(x)}" for k, x in v.items()) + "}"


@FUZZ
@given(data=config_dicts, junk=st.text(max_size=40), mode=st.sampled_from(["toml", "junk", "mixed"]))
def test_fuzz_config_from_toml(data, junk, mode, tmp_path):
    text = "\n".join(f"{json.dumps(k)} = {_toml_value(v)}" for k, v in data.items())
    text = {"toml": text, "junk": junk, "mixed": text + "\n" + junk}[mode]
    path = tmp_path / "run.toml"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    try:
        ganforge.TrainConfig.from_toml(path)
    except ganforge.GanforgeError as exc:
        assert isinstance(exc, ganforge.ConfigError)


def _valid_idx(arr: np.ndarray) -> bytes:
    codes = {np.uint8: 0x08, np.int8: 0x09, np.int16: 0x0B, np.int32: 0x0C, np.float32: 0x0D, np.float64: 0x0E}
    big = arr.astype(arr.dtype.newbyteorder(">"))
    return bytes([0, 0, codes[arr.dtype.type], arr.ndim]) + struct.pack(f">{arr.ndim}I", *arr.shape) + big.tobytes()


@FUZZ
@given(raw=st.binary(max_size=300),
       header=st.sampled_from([b"", b"\x00\x00\x08\x01", b"\x00\x00\x08\x03", b"\x00\x00\x0e\x02", b"\x00\x00\x08\xff"]),
       gz=st.booleans())
def test_fuzz_read_idx_random_bytes(raw, header, gz, tmp_path):
    path = tmp_path / ("f.idx.gz" if gz else "f.idx")
    data = header + raw
    path.write_bytes(gzip.compress(data) if gz and raw[:1] != b"\x01" else data)
    try:
        arr = read_idx(path)
    except ganforge.DataError as exc:
        assert str(path) in str(exc)
    else:
        assert isinstance(arr, np.ndarray)


@FUZZ
@given(shape=st.lists(st.integers(0, 4), min_size=1, max_size=3),
       dtype=st.sampled_from([np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64]),
       edits=st.lists(st.tuples(st.integers(0, 40), st.integers(0, 255)), max_size=4),
       cut=st.integers(0, 8), gz=st.booleans())
def test_fuzz_read_idx_mutated_files(shape, dtype, edits, cut, gz, tmp_path):
    arr = np.arange(int(np.prod(shape)), dtype=dtype).reshape(shape)
    data = bytearray(_valid_idx(arr))
    path = tmp_path / ("m.idx.gz" if gz else "m.idx")
    path.write_bytes(gzip.compress(bytes(data)) if gz else bytes(data))
    assert np.array_equal(read_idx(path), arr)  # the unmutated file reads back
    for where, value in edits:
        data[where % len(data)] = value
    data = data[: len(data) - cut]
    path.write_bytes(gzip.compress(bytes(data)) if gz else bytes(data))
    try:
        read_idx(path)
    except ganforge.DataError as exc:
        assert str(path) in str(exc)
