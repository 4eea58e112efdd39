"""The ganforge command line."""

from __future__ import annotations

import json

import pytest
import torch

import ganforge
from ganforge.cli import main, parse_value

SMALL = ["--gen-option", "hidden=[16,16]", "--disc-option", "hidden=[16]", "--no-progress", "--sample-every", "0"]


def test_train_writes_a_run(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "--data", "grid25", "--steps", "12", "--batch-size", "16", "--seed", "3",
                 "--tricks", "soft_labels", "--log-every", "6", "--out", str(out), *SMALL]) == 0
    cfg = json.loads((out / "config.json").read_text())
    assert (cfg["steps"], cfg["batch_size"], cfg["seed"], cfg["tricks"]) == (12, 16, 3, ["soft_labels"])
    assert cfg["gen_options"]["hidden"] == [16, 16]
    assert cfg["gen_options"]["norm"] == "batch"  # every option is recorded, defaults included
    assert len((out / "metrics.jsonl").read_text().splitlines()) == 2
    assert (out / "checkpoints" / "step_0000012.pt").is_file()


def test_flags_override_the_toml_file(tmp_path):
    toml = tmp_path / "run.toml"
    toml.write_text('data = "ring8"\nsteps = 500\nbatch_size = 8\n[gen_options]\nhidden = [8]\nnorm = "none"\n'
                    '[trick_options.soft_labels]\nreal_range = [0.8, 1.0]\n'
                    'tricks = ["soft_labels"]\n'.replace('tricks = ["soft_labels"]\n', ''))
    toml.write_text('data = "ring8"\nsteps = 500\nbatch_size = 8\ntricks = ["soft_labels"]\n[gen_options]\n'
                    'hidden = [8]\nnorm = "none"\n[trick_options.soft_labels]\nreal_range = [0.8, 1.0]\n')
    out = tmp_path / "run"
    assert main(["train", "--config", str(toml), "--steps", "6", "--gen-option", "hidden=[12]",
                 "--trick-option", "soft_labels.fake_range=[0,0.1]", "--out", str(out), "--no-progress",
                 "--sample-every", "0"]) == 0
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["data"] == "ring8" and cfg["steps"] == 6 and cfg["batch_size"] == 8
    assert (cfg["gen_options"]["hidden"], cfg["gen_options"]["norm"]) == ([12], "none")
    assert cfg["trick_options"] == {"soft_labels": {"real_range": [0.8, 1.0], "fake_range": [0, 0.1]}}


@pytest.mark.parametrize(
    "argv, message",
    [
        (["train", "--gen", "mpl", "--data", "grid25"],
         "ganforge: error: Unknown generator 'mpl'. Did you mean 'mlp'? Available: {generators}. Run 'ganforge plugins' to list installed plugins."),
        (["train", "--data", "grid25", "--batch-size", "0"], "ganforge: error: 'batch_size' must be an integer >= 1 (got 0)"),
        (["train", "--data", "grid25", "--gen-option", "hidden"],
         "ganforge: error: --gen-option takes KEY=VALUE (got 'hidden'), e.g. --gen-option norm=instance"),
        (["train", "--data", "grid25", "--tricks", "soft_labels", "--trick-option", "real_range=[0,1]"],
         "ganforge: error: --trick-option takes TRICK.KEY=VALUE (got 'real_range=[0,1]'), e.g. soft_labels.real_range=[0.8,1]"),
        (["train", "--config", "/nonexistent/run.toml"], "ganforge: error: Config file /nonexistent/run.toml does not exist."),
    ],
)
def test_bad_input_is_one_clear_line(argv, message, capsys, tmp_path):
    assert main([*argv, "--out", str(tmp_path / "r")]) == 2
    generators = ", ".join(ganforge.get_registry().names("generator"))
    assert capsys.readouterr().err.strip() == message.format(generators=generators)
    assert not (tmp_path / "r").exists()


def test_plugins_human_and_json(capsys):
    assert main(["plugins"]) == 0
    text = capsys.readouterr().out
    assert "generators:\n  " in text and "\n  mlp " in text and "losses:" in text
    assert "[ganhacks #6] Random soft D targets" in text
    assert main(["plugins", "--json", "--kind", "loss"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["name"] for r in rows] == ["bce", "hinge", "lsgan", "minimax", "ragan", "rpgan", "wgan", "wgan_gp"]
    assert all(r["kind"] == "loss" for r in rows)


def test_help_shows_examples(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    assert "examples:\n  ganforge train --data grid25" in capsys.readouterr().out


def test_python_dash_m_is_the_same_command(tmp_path, cli):
    result = cli.run("plugins", "--json", "--kind", "dataset", timeout=120)
    assert result.returncode == 0, result.stderr
    assert {"grid25", "mnist", "ring8"} <= {r["name"] for r in json.loads(result.stdout)}


@pytest.mark.parametrize("text, value", [("3", 3), ("0.5", 0.5), ("true", True), ("[1, 2]", [1, 2]),
                                         ("(0.7,1.2)", (0.7, 1.2)), ("batch", "batch"), ("null", None)])
def test_values_are_parsed_as_literals(text, value):
    assert parse_value(text) == value


def test_modern_flags_reach_the_run(tmp_path):
    """--ema/--ema-start/--ema-warmup, --g-lr/--d-lr (TTUR), --lr-schedule and --disc-option spectral_norm=true."""
    out = tmp_path / "run"
    assert main(["train", "--data", "grid25", "--steps", "8", "--checkpoint-every", "4", "--batch-size", "16",
                 "--ema", "0.99", "--ema-start", "2", "--ema-warmup", "4", "--g-lr", "1e-4", "--d-lr", "4e-4",
                 "--lr-schedule", "linear", "--disc-option", "spectral_norm=true", "--out", str(out), *SMALL]) == 0
    cfg = json.loads((out / "config.json").read_text())
    assert (cfg["ema_decay"], cfg["ema_start"], cfg["ema_warmup"]) == (0.99, 2, 4)
    assert (cfg["g_optim"]["lr"], cfg["d_optim"]["lr"]) == (1e-4, 4e-4)
    assert cfg["g_optim"]["schedule"] == cfg["d_optim"]["schedule"] == "linear"
    assert cfg["disc_options"]["spectral_norm"] is True

    middle = torch.load(out / "checkpoints" / "step_0000004.pt", weights_only=False)
    end = torch.load(out / "checkpoints" / "step_0000008.pt", weights_only=False)
    g_lr, d_lr = (float(middle[k]["param_groups"][0]["lr"]) for k in ("opt_g", "opt_d"))
    assert 0 < g_lr < 1e-4 and d_lr == pytest.approx(4 * g_lr)  # decaying, at the two time scales' ratio
    assert float(end["opt_g"]["param_groups"][0]["lr"]) == float(end["opt_d"]["param_groups"][0]["lr"]) == 0.0
    assert any(".parametrizations.weight.original" in key for key in end["disc"])  # spectral norm on D's layers
    assert not any("parametrizations" in key for key in end["gen"])
    averaged, raw = end["ema"]["model"], end["gen"]
    assert any(not torch.equal(averaged[k], raw[k]) for k in raw if raw[k].is_floating_point())


def test_sample_and_eval_spell_the_sample_count_alike():
    from ganforge.cli import build_parser

    parser = build_parser()
    for command in ("sample", "eval"):
        for flag in ("-n", "--n"):
            assert parser.parse_args([command, "RUN", flag, "5"]).n == 5, (command, flag)


def _train_parser():
    import argparse

    from ganforge.cli import build_parser

    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return sub.choices["train"]


def test_every_train_flag_is_a_config_field_with_its_metadata():
    """ganforge train's flags come from TrainConfig's metadata: each field once, under its own flag and name."""
    import attrs

    from ganforge.cli.train import HELP_ORDER
    from ganforge.config import TrainConfig

    fields = attrs.fields_dict(TrainConfig)
    assert sorted(n for n in HELP_ORDER if n in fields) == sorted(fields)  # a new field must be placed in --help
    assert len(set(HELP_ORDER)) == len(HELP_ORDER)
    by_flag = {o: a for a in _train_parser()._actions for o in a.option_strings}
    for name, field in fields.items():
        assert by_flag[field.metadata["flag"]].dest == name, name
    assert by_flag["--no-progress"].dest == "progress" and by_flag["--no-progress"].const is False
    assert by_flag["--out"].dest == "out_dir" and by_flag["--ema"].dest == "ema_decay"


def test_train_help_states_the_defaults_the_config_holds():
    # The defaults are filled in from TrainConfig, never typed again: change one and the help follows.
    by_flag = {o: a for a in _train_parser()._actions for o in a.option_strings}
    assert by_flag["--steps"].help == "generator updates in the whole run (default 10000)"
    assert by_flag["--dist-timeout"].help == "seconds a collective waits for a dead or hung rank (default 300)"
    assert by_flag["--precision"].help == "fp32 (default), bf16 or fp16"
    assert by_flag["--split"].help == "train (default) or test"
    assert by_flag["--lr-schedule"].choices == ["constant", "linear", "cosine"]
    parsed = _train_parser().parse_args(["--steps", "7", "--ema", "0.9", "--threads", "2", "--dist-timeout", "5"])
    assert (parsed.steps, parsed.ema_decay, parsed.threads, parsed.dist_timeout) == (7, 0.9, "2", 5.0)


@pytest.mark.parametrize("argv, message", [
    (["--trick-option", "bad"], "--trick-option takes TRICK.KEY=VALUE (got 'bad'), e.g. soft_labels.real_range=[0.8,1]"),
    (["--trick-option", ".real_range=1"],
     "--trick-option takes TRICK.KEY=VALUE (got '.real_range=1'), e.g. soft_labels.real_range=[0.8,1]"),
    (["--g-optim", "lr"], "--g-optim takes KEY=VALUE (got 'lr'), e.g. --g-optim betas=[0,0.9]"),
])
def test_a_malformed_option_flag_names_an_example_of_its_own(argv, message):
    # The example is the field's own (its metadata), never another flag's.
    from ganforge.cli.train import settings_from_args

    with pytest.raises(ganforge.ConfigError) as info:
        settings_from_args(_train_parser().parse_args(argv))
    assert str(info.value) == message
