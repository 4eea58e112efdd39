"""TrainConfig: defaults, validation messages, JSON and TOML round trips."""

from __future__ import annotations

import json
import re

import pytest

from ganforge import ConfigError, OptimConfig, TrainConfig


def test_defaults_follow_the_classic_gan():
    cfg = TrainConfig()
    assert (cfg.gen, cfg.disc, cfg.loss, cfg.data) == ("mlp", "mlp", "bce", "mnist")
    assert (cfg.batch_size, cfg.latent_dim) == (64, 100)
    assert cfg.g_optim == OptimConfig(name="adam", lr=2e-4, betas=(0.5, 0.999))
    assert cfg.d_optim == cfg.g_optim


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("precision", "fp8", "'precision' must be one of 'fp32', 'bf16', 'fp16' (got 'fp8')"),
        ("nan_policy", "skipp", "'nan_policy' must be one of 'stop', 'skip' (got 'skipp'); did you mean 'skip'?"),
        ("batch_size", 0, "'batch_size' must be an integer >= 1 (got 0)"),
        ("batch_size", 6.5, "'batch_size' must be an integer >= 1 (got 6.5)"),
        ("steps", "100", "'steps' must be an integer >= 1 (got '100')"),
        ("split", "val", "'split' must be one of 'train', 'test' (got 'val')"),
        ("gen", "", "'gen' must be a plugin name such as 'mlp' (got '')"),
        ("conditional", "yes", "'conditional' must be true or false (got 'yes')"),
        ("gen_options", [1], "'gen_options' must be a mapping of option names to values (got [1])"),
        ("grad_clip", -1.0, "'grad_clip' must be None or a number > 0 (got -1.0)"),
        ("data_workers", -1, "'data_workers' must be None or an integer >= 0 (got -1)"),
        ("dist_timeout", float("inf"), "'dist_timeout' must be finite (got inf)"),
        ("threads", 0, "'threads' must be 'auto', 'measure' or an integer >= 1 (got 0)"),
        ("image_size", 2, "'image_size' must be None or an integer >= 4 (got 2)"),
    ],
)
def test_bad_values_name_field_value_and_allowed(field, value, message):
    with pytest.raises(ConfigError) as info:
        TrainConfig(**{field: value})
    assert str(info.value) == message


def test_optimizer_settings_are_validated():
    with pytest.raises(ConfigError, match=r"'lr' must be a number > 0 \(got 0\)"):
        TrainConfig(g_optim={"lr": 0})
    with pytest.raises(ConfigError, match=r"'betas' must be a pair of numbers in \[0, 1\)"):
        OptimConfig(betas=(0.5, 1.5))
    with pytest.raises(ConfigError, match="Unknown optimizer setting 'learning_rate'"):
        TrainConfig(d_optim={"learning_rate": 0.1})


def test_tricks_accept_a_comma_string_and_reject_duplicates():
    assert TrainConfig(tricks="soft_labels, instance_noise").tricks == ("soft_labels", "instance_noise")
    with pytest.raises(ConfigError, match="'tricks' lists soft_labels more than once"):
        TrainConfig(tricks=["soft_labels", "soft_labels"])


def test_trick_options_must_belong_to_enabled_tricks():
    with pytest.raises(ConfigError, match="'trick_options' sets options for 'soft_labels', which is not among the enabled tricks"):
        TrainConfig(trick_options={"soft_labels": {"real_range": (0.8, 1.0)}})


def test_unknown_setting_suggests_the_close_one():
    with pytest.raises(ConfigError, match="Unknown setting 'batchsize'. Did you mean 'batch_size'?"):
        TrainConfig.from_dict({"batchsize": 32})
    with pytest.raises(ConfigError, match="Unknown setting 'stpes'"):
        TrainConfig().evolve(stpes=3)


def test_json_round_trip(tmp_path):
    cfg = TrainConfig(tricks=["soft_labels"], trick_options={"soft_labels": {"real_range": (0.8, 1.0)}},
                      gen_options={"hidden": (8, 8)}, g_optim={"lr": 1e-4, "betas": (0.8, 0.999)}, steps=7)
    cfg.save_json(tmp_path / "config.json")
    data = json.loads((tmp_path / "config.json").read_text())
    assert data["steps"] == 7 and data["g_optim"]["betas"] == [0.8, 0.999]
    again = TrainConfig.from_dict(data)
    assert again.to_dict() == cfg.to_dict()
    assert again.g_optim.betas == (0.8, 0.999)


def test_toml_file(tmp_path):
    path = tmp_path / "run.toml"
    path.write_text(
        'gen = "mlp"\ndata = "grid25"\ntricks = ["soft_labels"]\nsteps = 300\n'
        "[gen_options]\nhidden = [16, 16]\n[trick_options.soft_labels]\nreal_range = [0.8, 1.0]\n"
        "[d_optim]\nname = \"sgd\"\nlr = 0.01\n"
    )
    cfg = TrainConfig.from_toml(path)
    assert cfg.data == "grid25" and cfg.steps == 300 and cfg.gen_options == {"hidden": (16, 16)}
    assert cfg.trick_options["soft_labels"]["real_range"] == (0.8, 1.0)  # frozen: lists become tuples
    assert cfg.d_optim.name == "sgd" and cfg.d_optim.lr == 0.01


def test_toml_errors_name_the_file(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("steps = = 3\n")
    with pytest.raises(ConfigError, match=f"Config file {bad} is not valid TOML"):
        TrainConfig.from_toml(bad)
    with pytest.raises(ConfigError, match="does not exist"):
        TrainConfig.from_toml(tmp_path / "missing.toml")
    wrong = tmp_path / "wrong.toml"
    wrong.write_text('batch_size = "big"\n')
    with pytest.raises(ConfigError, match="'batch_size' must be an integer >= 1 \\(got 'big'\\)"):
        TrainConfig.from_toml(wrong)


def test_config_is_frozen():
    cfg = TrainConfig()
    with pytest.raises(AttributeError):
        cfg.steps = 5  # type: ignore[misc]


def test_a_frozen_config_stays_frozen_all_the_way_down_and_hashes():
    cfg = TrainConfig(gen_options={"hidden": [16, 16]}, tricks=["soft_labels"],
                      trick_options={"soft_labels": {"real_range": [0.8, 1.0]}})
    with pytest.raises(TypeError, match="a TrainConfig is frozen: use config.evolve"):
        cfg.gen_options["hidden"] = (8,)
    with pytest.raises(TypeError, match="frozen"):
        cfg.trick_options["soft_labels"]["real_range"] = (0, 1)
    with pytest.raises(TypeError, match="frozen"):
        cfg.gen_options.update(norm="none")
    assert cfg.gen_options["hidden"] == (16, 16)  # lists are frozen into tuples
    same = TrainConfig(gen_options={"hidden": (16, 16)}, tricks=("soft_labels",),
                       trick_options={"soft_labels": {"real_range": (0.8, 1.0)}})
    assert hash(cfg) == hash(same) and {cfg: 1}[same] == 1
    assert TrainConfig.from_dict(cfg.to_dict()) == cfg  # JSON round trip


@pytest.mark.parametrize(("field", "value", "message"), [
    ("device", 3, "'device' must be a device such as 'auto', 'cpu', 'cuda' or 'cuda:1' (got 3)"),
    ("eval_metric", 7, "'eval_metric' must be a metric name such as 'fid' or 'reverse_kl', or None (got 7)"),
    ("ema_decay", 1.0, "'ema_decay' must be None or a number between 0 and 1, exclusive (got 1.0)"),
    ("regularizer_options", {"r1": {}}, "'regularizer_options' sets options for 'r1', which is not among the "
                                        "enabled regularizers"),
])
def test_messages_name_the_right_kind_of_value(field, value, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        TrainConfig(**{field: value})


def test_every_field_says_its_flag_help_and_resume_rule():
    import attrs

    from ganforge.config import RESUME_REASONS, RUN_PLUGINS, setting_help

    for field in attrs.fields(TrainConfig):
        meta = field.metadata
        assert meta["flag"].startswith("--") and setting_help(field), field.name
        assert meta["resume"] is True or meta["resume"] in RESUME_REASONS, field.name
    names = {f.name for f in attrs.fields(TrainConfig)}
    assert {p.field for p in RUN_PLUGINS} | {p.options for p in RUN_PLUGINS} <= names
    assert [p.field for p in RUN_PLUGINS if p.listed] == ["tricks", "regularizers"]


def test_the_resume_rule_comes_from_the_field_metadata():
    # What a resumed run may change is part of the checkpoint contract (docs/reliability.md): this list
    # is the one the rule held before it moved onto the fields.
    from ganforge.io.checkpoint import _FIXED_REASONS, NOT_INHERITED, RESUME_CHANGEABLE, may_change_on_resume

    assert RESUME_CHANGEABLE == {
        "steps", "progress", "progress_seconds", "log_every", "sample_every", "checkpoint_every",
        "checkpoint_minutes", "keep_checkpoints", "overwrite", "data_root", "device", "cuda_graphs", "compile",
        "tensorboard", "eval_every", "eval_samples", "grad_clip", "nan_policy", "precision", "strategy",
        "dist_timeout", "data_placement", "data_workers", "threads"}
    assert NOT_INHERITED == ("progress", "progress_seconds")
    assert [sorted(group) for group, _ in _FIXED_REASONS] == [
        ["conditional", "disc", "disc_options", "gen", "gen_options", "image_size", "latent_dim"],
        ["trick_options", "tricks"], ["d_optim", "g_optim", "loss", "loss_options"],
        ["batch_size", "data", "data_options", "seed", "split"]]
    assert may_change_on_resume("steps") and not may_change_on_resume("seed") and not may_change_on_resume("x")


def test_a_setting_must_say_whether_a_resume_may_change_it():
    from ganforge.config import setting

    with pytest.raises(TypeError, match="resume must be True or one of"):
        setting(1, help="x", flag="--x", resume="sometimes")
