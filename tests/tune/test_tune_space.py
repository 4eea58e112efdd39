"""The search space file: parsing, the one-line errors before any trial, the settings each trial gets."""

from __future__ import annotations

import sys

import attrs
import pytest

from ganforge.config import OptimConfig
from ganforge.errors import ConfigError
from ganforge.tune.space import Param
from ganforge.tune.spacefile import load_space
from tune_helpers import FIXED, make_space, write_space

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


class Picker:
    """Stands in for an Optuna trial: suggest_* return given values (else low / the first choice)."""

    def __init__(self, **values):
        self.values = values
        self.asked: list[str] = []

    def suggest_float(self, name, low, high, log=False, step=None):
        self.asked.append(name)
        return self.values.get(name, low)

    suggest_int = suggest_float

    def suggest_categorical(self, name, choices):
        self.asked.append(name)
        return self.values.get(name, choices[0])


def test_a_space_file_loads_with_its_metric_direction_and_entries(tmp_path):
    path = write_space(tmp_path / "space.toml", make_space(
        search={"g_optim": {"lr": {"type": "float", "low": 1e-4, "high": 1e-2, "log": True}},
                "loss": {"type": "categorical", "choices": ["bce", "minimax"]},
                "gen_options.hidden": {"type": "categorical", "choices": [[16], [32, 32]]},
                "tricks": {"type": "subset", "choices": ["soft_labels", "instance_noise"]},
                "trick_options.soft_labels.real_range": {"type": "categorical", "choices": [[0.7, 1.0], [0.9, 1.0]]},
                "latent_dim": {"type": "int", "low": 16, "high": 64, "step": 16}},
        tune={"trials": 7, "pruner": "percentile", "pruner_options": {"percentile": 25.0}},
        fixed={k: v for k, v in FIXED.items() if k != "gen_options"},
    ))
    space = load_space(path)
    assert space.source == str(path)
    assert (space.metric, space.direction) == ("reverse_kl", "minimize")
    # plugin choices first (they decide which options apply), options last
    assert [p.key for p in space.params] == ["loss", "tricks", "g_optim.lr", "latent_dim", "gen_options.hidden",
                                             "trick_options.soft_labels.real_range"]
    assert space.params[4].labels == ("[16]", "[32, 32]")  # lists reach Optuna as JSON text
    assert space.params[1].param_names() == ["tricks.soft_labels", "tricks.instance_noise"]
    assert (space.options.trials, space.options.pruner, space.options.pruner_options) == (7, "percentile",
                                                                                          {"percentile": 25.0})


def test_a_higher_is_better_metric_maximizes():
    space = load_space(make_space(fixed={**FIXED, "eval_metric": "modes"}))
    assert (space.metric, space.direction) == ("modes", "maximize")


def test_trial_config_draws_options_only_where_they_apply():
    space = load_space(make_space(search={
        "tricks": {"type": "subset", "choices": ["soft_labels", "instance_noise"]},
        "trick_options.soft_labels.real_range": {"type": "categorical", "choices": [[0.7, 1.0], [0.9, 1.0]]},
        "gen_options.hidden": {"type": "categorical", "choices": [[16], [32]]},
        "g_optim.lr": {"type": "float", "low": 1e-4, "high": 1e-2, "log": True},
    }, fixed={**{k: v for k, v in FIXED.items() if k != "gen_options"}, "tricks": ["normalize"]}))
    on = Picker(**{"tricks.soft_labels": True, "tricks.instance_noise": False,
                   "trick_options.soft_labels.real_range": "[0.9, 1.0]", "g_optim.lr": 3e-3,
                   "gen_options.hidden": "[16]"})
    config = space.trial_config(lambda p: p.suggest(on))
    assert config["tricks"] == ["normalize", "soft_labels"]  # [fixed] tricks stay on, the chosen ones follow
    assert config["trick_options"] == {"soft_labels": {"real_range": [0.9, 1.0]}}
    assert config["g_optim"] == {"lr": 3e-3}
    assert config["d_optim"] == {"lr": 2e-3}  # fixed optimizer settings are kept beside the searched ones
    assert config["gen_options"] == {"hidden": [16]}
    off = Picker(**{"tricks.soft_labels": False})
    config = space.trial_config(lambda p: p.suggest(off))
    assert config["tricks"] == ["normalize"] and config["trick_options"] == {}
    assert "trick_options.soft_labels.real_range" not in off.asked  # not drawn when soft_labels is off


def test_regularizers_are_searched_like_tricks():
    space = load_space(make_space(search={
        "regularizers": {"type": "subset", "choices": ["r1", "r2"]},
        "regularizer_options.r1.gamma": {"type": "float", "low": 0.1, "high": 10.0, "log": True},
    }))
    assert space.params[0].param_names() == ["regularizers.r1", "regularizers.r2"]
    on = Picker(**{"regularizers.r1": True, "regularizers.r2": True, "regularizer_options.r1.gamma": 2.0})
    config = space.trial_config(lambda p: p.suggest(on))
    assert config["regularizers"] == ["r1", "r2"] and config["regularizer_options"] == {"r1": {"gamma": 2.0}}
    off = Picker(**{"regularizers.r1": False})
    config = space.trial_config(lambda p: p.suggest(off))
    assert config["regularizers"] == [] and "regularizer_options.r1.gamma" not in off.asked
    with pytest.raises(ConfigError, match=r"^<mapping>: \[search\] 'regularizer_options.r9.gamma': Unknown "
                                          r"regularizer 'r9'\."):
        load_space(make_space(search={"regularizer_options.r9.gamma": {"type": "float", "low": 1.0, "high": 2.0}}))


def test_an_option_applies_only_to_the_plugins_that_accept_it():
    # 'minimax' and 'bce' take no options, so a loss option must fit some other loss: none here.
    with pytest.raises(ConfigError) as info:
        load_space(make_space(search={"loss": {"type": "categorical", "choices": ["bce", "minimax"]},
                                      "loss_options.gp_weight": {"type": "float", "low": 1.0, "high": 10.0}}))
    assert str(info.value) == ("<mapping>: [search] 'loss_options.gp_weight': unknown option 'gp_weight' for "
                               "loss 'bce', loss 'minimax'. Accepted options: (none).")


@pytest.mark.parametrize("search, message", [
    ({"g_optm.lr": {"type": "float", "low": 1e-4, "high": 1e-2}},
     "[search] 'g_optm.lr': unknown setting 'g_optm'. Did you mean 'g_optim'? Entries name a TrainConfig field, "
     "e.g. 'loss', 'g_optim.lr', 'gen_options.hidden'."),
    ({"g_optim.lrr": {"type": "float", "low": 1e-4, "high": 1e-2}},
     f"[search] 'g_optim.lrr': g_optim settings are {', '.join(f.name for f in attrs.fields(OptimConfig))}: write "
     "'g_optim.NAME'. Did you mean 'g_optim.lr'?"),
    ({"g_optim.lr": {"type": "float", "low": 1e-2, "high": 1e-4}},
     "[search] 'g_optim.lr': low (0.01) > high (0.0001); swap them."),
    ({"g_optim.lr": {"type": "float", "low": 0.0, "high": 1e-2, "log": True}},
     "[search] 'g_optim.lr': a log range needs low > 0 (got 0.0)"),
    ({"g_optim.lr": {"type": "float", "low": -1.0, "high": 1e-2}},
     "[search] 'g_optim.lr': value -1.0: 'lr' must be a number > 0 (got -1.0)"),
    ({"latent_dim": {"type": "int", "low": 16.5, "high": 64}},
     "[search] 'latent_dim': 'low' must be an integer (got 16.5)"),
    ({"loss": {"type": "categorical", "choices": ["bce", "hinj"]}},
     "[search] 'loss': Unknown loss 'hinj'. "),
    ({"tricks": {"type": "subset", "choices": ["soft_label"]}},
     "[search] 'tricks': Unknown trick 'soft_label'. Did you mean 'soft_labels' or"),
    ({"trick_options.soft_labels.real_range": {"type": "categorical", "choices": [[0.7, 1.0]]}},
     "[search] 'trick_options.soft_labels.real_range': trick 'soft_labels' is never on in this space; add it to "
     "'tricks' ([fixed] or [search])."),
    ({"trick_options.soft_labels.real_rang": {"type": "categorical", "choices": [[0.7, 1.0]]},
      "tricks": {"type": "subset", "choices": ["soft_labels"]}},
     "[search] 'trick_options.soft_labels.real_rang': unknown option 'real_rang' for trick 'soft_labels'. Did you "
     "mean 'real_range'?"),
    ({"gen_options.hiden": {"type": "categorical", "choices": [[16]]}},
     "[search] 'gen_options.hiden': unknown option 'hiden' for generator 'mlp'. Did you mean 'hidden'?"),
    ({"precision": {"type": "categorical", "choices": ["fp32", "fp8"]}},
     "[search] 'precision': value 'fp8': 'precision' must be one of 'fp32', 'bf16', 'fp16' (got 'fp8')"),
    ({"steps": {"type": "range", "low": 1, "high": 2}},
     "[search] 'steps': 'type' must be one of float, int, categorical, subset (got 'range')"),
    ({"steps": {"type": "int", "low": 1, "hi": 2}},
     "[search] 'steps': a int entry takes type, low, high, log, step (got 'hi')"),
    ({"data": {"type": "categorical", "choices": ["grid25"]}},
     "[search] 'data': is also set in [fixed]; keep it in one table."),
    ({"loss": {"type": "subset", "choices": ["bce"]}},
     "[search] 'loss': a subset entry chooses which plugins are on: only 'tricks' and 'regularizers' take it; use a "
     "categorical entry here."),
    ({"out_dir": {"type": "categorical", "choices": ["a"]}},
     "[search] 'out_dir': ganforge tune sets out_dir itself; it cannot be searched."),
])
def test_bad_search_entries_are_one_line_errors_naming_file_and_entry(tmp_path, search, message):
    path = write_space(tmp_path / "space.toml", make_space(search=search))
    with pytest.raises(ConfigError) as info:
        load_space(path)
    text = str(info.value)
    assert "\n" not in text
    assert text.startswith(f"{path}: {message}"), text


@pytest.mark.parametrize("fixed, message", [
    ({**FIXED, "eval_metric": "fid"},
     "[fixed] 'eval_metric': 'fid' is not measured on 'grid25'; choose one of modes, hq_percent, reverse_kl."),
    ({**FIXED, "eval_metric": "revers_kl"},
     "[fixed] 'eval_metric': unknown metric 'revers_kl'. Did you mean 'reverse_kl'?"),
    ({**FIXED, "eval_every": 0},
     "[fixed] 'eval_every': ganforge tune measures each trial as it trains: set eval_every to the steps between "
     "evaluations, e.g. a tenth of steps."),
    ({**FIXED, "eval_every": 100},
     "[fixed] 'eval_every': 100 is more than steps (60): the trials would never be measured; lower it."),
    ({**FIXED, "stpes": 10}, "[fixed]: Unknown setting 'stpes'. Did you mean 'steps'?"),
    ({**FIXED, "out_dir": "x"}, "[fixed] 'out_dir': ganforge tune sets out_dir itself"),
    ({**FIXED, "gen": "mpl"}, "[fixed] 'gen': Unknown generator 'mpl'. Did you mean 'mlp'?"),
    ({**FIXED, "trick_options": {"soft_labels": {"real_range": [0.9, 1.0]}}},
     "[fixed] 'trick_options.soft_labels.real_range': trick 'soft_labels' is never on in this space"),
])
def test_bad_fixed_settings_are_one_line_errors(fixed, message):
    with pytest.raises(ConfigError) as info:
        load_space(make_space(fixed=fixed, search={}))
    assert str(info.value).startswith(f"<mapping>: {message}"), str(info.value)


@pytest.mark.parametrize("tables, message", [
    ({"tune": {"pruner": "medain"}}, "[tune] 'pruner': unknown pruner 'medain'. Did you mean 'median'?"),
    ({"tune": {"pruner": "median", "pruner_options": {"warmup": 3}}},
     "[tune] 'pruner': pruner_options: MedianPruner takes n_startup_trials, n_warmup_steps, interval_steps, "
     "n_min_trials (got 'warmup')"),
    ({"tune": {"trials": 0}}, "[tune] 'trials': must be an integer >= 1 (got 0)"),
    ({"tune": {"sampler": "grid"}}, "[tune] 'sampler': must be one of 'tpe', 'random' (got 'grid')"),
    ({"tune": {"sampler": "radnom"}}, "[tune] 'sampler': must be one of 'tpe', 'random' (got 'radnom'); did you mean "
                                      "'random'?"),
    ({"tune": {"heartbeat": -1}}, "[tune] 'heartbeat': must be an integer >= 0 (got -1)"),
    ({"tune": {"trails": 3}}, "[tune] 'trails': unknown setting. Did you mean 'trials'?"),
    ({"enqueue": [{"g_optim.lr": 5.0}]}, "[enqueue] 'g_optim.lr': entry 1: 5.0 is outside the range 0.001 to 0.5"),
    ({"enqueue": [{"d_optim.lr": 1e-3}]},
     "[enqueue] 'd_optim.lr': entry 1 sets a setting that is not searched. Did you mean 'g_optim.lr'?"),
    ({"serach": {}}, "unknown table [serach]. Did you mean [search]?"),
])
def test_bad_tune_enqueue_and_table_names(tables, message):
    pytest.importorskip("optuna", reason="pruner options are checked against Optuna's classes")
    with pytest.raises(ConfigError) as info:
        load_space(make_space(**tables))
    assert str(info.value).startswith(f"<mapping>: {message}"), str(info.value)


def test_enqueued_settings_become_optuna_parameters():
    space = load_space(make_space(enqueue=[{"g_optim": {"lr": 2e-3}, "tricks": ["soft_labels"]}, {}]))
    assert space.enqueue == ({"g_optim.lr": 2e-3, "tricks.soft_labels": True, "tricks.one_sided_label_smoothing":
                              False}, {})
    assert space.decode(space.enqueue[0]) == {"tricks": ["soft_labels"], "g_optim.lr": 2e-3}


def test_categorical_values_round_trip_through_their_labels():
    p = Param("gen_options.hidden", "categorical", choices=([16], [32, 32]), labels=("[16]", "[32, 32]"))
    assert p.to_params([32, 32]) == {"gen_options.hidden": "[32, 32]"}
    assert p.decode({"gen_options.hidden": "[32, 32]"}) == [32, 32]
    flag = Param("conditional", "categorical", choices=(False, True), labels=(False, True))
    with pytest.raises(ValueError, match="1 is not among the choices"):
        flag.to_params(1)  # True == 1 in Python, but not as a setting


def test_a_bad_toml_file_names_the_file(tmp_path):
    path = tmp_path / "space.toml"
    path.write_text("[fixed\n")
    with pytest.raises(ConfigError, match=f"Config file {path} is not valid TOML"):
        load_space(path)


def test_the_exported_toml_reads_back_as_the_same_config(tmp_path):
    from ganforge.config import TrainConfig
    from ganforge.tune.export import dumps_toml, write_config_toml

    config = TrainConfig.from_dict({**FIXED, "tricks": ["soft_labels"], "out_dir": "x/y", "grad_clip": 1.5,
                                    "trick_options": {"soft_labels": {"real_range": [0.8, 1.0]}},
                                    "data_options": {"std": 0.05}, "progress": False}).to_dict()
    path = write_config_toml(config, tmp_path / "best.toml", header="line one\nline two", device="auto")
    text = path.read_text()
    assert text.startswith("# line one\n# line two\n\n")
    loaded = tomllib.loads(text)
    assert "out_dir" not in loaded and "progress" not in loaded and "eval_metric" not in loaded  # None: left out
    assert loaded["device"] == "auto" and loaded["trick_options"] == {"soft_labels": {"real_range": [0.8, 1.0]}}
    expected = {k: v for k, v in config.items() if k not in ("out_dir", "overwrite", "progress")}
    assert TrainConfig.from_dict(loaded) == TrainConfig.from_dict({**expected, "device": "auto"})
    odd = {"a b": "quote \" and \\ and \n", "x": [1.0, 1e-05, float("inf")], "t": {"u": {"v": 1}}, "e": {}}
    assert tomllib.loads(dumps_toml(odd)) == odd


@pytest.mark.parametrize("kwargs, message", [
    ({"key": "g_optim.lr", "kind": "float", "low": 1e-2, "high": 1e-4}, "low (0.01) > high (0.0001); swap them."),
    ({"key": "g_optim.lr", "kind": "float", "low": 1e-4}, "a float range needs 'low' and 'high'"),
    ({"key": "steps", "kind": "int", "low": 1, "high": 9, "step": 0}, "'step' must be > 0 (got 0)"),
    ({"key": "steps", "kind": "int", "low": 1, "high": 9, "step": 1, "log": True},
     "'step' and 'log = true' cannot be combined; drop one."),
    ({"key": "loss", "kind": "subset", "choices": ("bce",)}, "a subset entry chooses which plugins are on"),
    ({"key": "tricks", "kind": "subset", "choices": ("a", "a")}, "a subset's choices must be distinct trick names"),
    ({"key": "loss", "kind": "categorical", "choices": ()}, "'choices' must be a non-empty list (got [])"),
    ({"key": "loss", "kind": "categoricl", "choices": ("bce",)}, "did you mean 'categorical'?"),
])
def test_a_searched_entry_checks_itself(kwargs, message):
    # The checks live on the attrs class, so a Param built in code is refused as a space file's entry is.
    with pytest.raises(ConfigError) as info:
        Param(**kwargs)
    assert message in str(info.value)


def test_categorical_labels_default_to_the_choices_or_their_json():
    assert Param("gen_options.hidden", "categorical", choices=([16], 2, "x")).labels == ("[16]", 2, "x")
    assert Param("tricks", "subset", choices=("soft_labels",)).labels == ()  # what a study's identity records
    with pytest.raises(ConfigError, match=r"the choices must be distinct \(got \[\[1\], '\[1\]'\]\)"):
        Param("gen_options.hidden", "categorical", choices=([1], "[1]"))


def test_the_tune_options_check_themselves():
    from ganforge.tune.space import TuneOptions

    with pytest.raises(ConfigError, match=r"^'trials' must be an integer >= 1 \(got 0\)$"):
        TuneOptions(trials=0)
    with pytest.raises(ConfigError, match=r"^'pruner': unknown pruner 'medain'\. Did you mean 'median'\?"):
        TuneOptions(pruner="medain")


def test_the_space_tables_come_from_the_one_plugin_table():
    from ganforge.config import RUN_PLUGINS
    from ganforge.tune import space

    assert space.PLUGIN_FIELDS == {"gen": "generator", "disc": "discriminator", "loss": "loss", "data": "dataset"}
    assert space.LIST_FIELDS == {"tricks": ("trick", "trick_options"),
                                 "regularizers": ("regularizer", "regularizer_options")}
    assert {*space.OPTION_FIELDS, *space.NAMED_OPTIONS} == {p.options for p in RUN_PLUGINS}
