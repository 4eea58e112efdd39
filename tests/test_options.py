"""Plugin options recorded with the run (issue 13 item 7): config.json and checkpoints hold every option,
defaults included; a resumed run keeps the recorded values; a changed default is reported."""

from __future__ import annotations

import json

import pytest

import ganforge
from ganforge.io import checkpoint as ckpt
from ganforge.options import number, option, options
from ganforge.registry import plugin_options


def _drift(default: float, extra: bool = False) -> type:
    """A trick 'drift' whose option 'scale' defaults to ``default`` (a release of a plugin); it logs its value."""

    if extra:
        @options
        class Options:
            scale: float = option(default, validator=number(0.0), help="A factor.")
            shift: float = option(0.0, help="An option added in a later release.")
    else:
        @options
        class Options:
            scale: float = option(default, validator=number(0.0), help="A factor.")

    class Drift(ganforge.Trick):
        """Logs its scale (test)."""

        name = "drift"

        def on_log(self, ctx, step, values):
            return {"drift_scale": self.options.scale}

    Drift.Options = Options
    return Drift


@pytest.fixture
def release(register):
    """``release(cls)`` installs ``cls`` as the plugin 'drift-plugin', replacing the previous release."""
    installed = []

    def install(cls):
        if installed:
            register.remove(installed.pop())
        installed.append(register(tricks=[cls], name="drift-plugin"))

    return install


def test_config_json_and_checkpoints_hold_every_option_with_its_default(tiny):
    trainer = ganforge.Trainer(data="grid25", tricks=["soft_labels", "instance_noise"], regularizers=["r1"],
                               trick_options={"soft_labels": {"real_range": [0.8, 1.0]}},
                               gen_options={"hidden": (16,)}, disc_options={"hidden": (16,)},
                               **dict(tiny, steps=2, log_every=2))
    trainer.fit()
    saved = json.loads((trainer.run_dir / "config.json").read_text())
    assert saved["trick_options"] == {
        "soft_labels": {"real_range": [0.8, 1.0], "fake_range": [0.0, 0.3]},
        "instance_noise": {"sigma0": 0.1, "anneal_steps": None},
    }
    assert saved["regularizer_options"] == {"r1": {"gamma": 10.0, "every": 1}}
    mlp_defaults = plugin_options(ganforge.get_plugin("generator", "mlp"))  # what the installed mlp declares
    assert {"norm", "bn_eps", "activation"} <= set(mlp_defaults)
    assert saved["gen_options"] == json.loads(json.dumps({**mlp_defaults, "hidden": [16]}))
    assert saved["loss_options"] == {}
    grid25_defaults = plugin_options(ganforge.get_plugin("dataset", "grid25"))
    assert "std" in grid25_defaults and saved["data_options"] == json.loads(json.dumps(grid25_defaults))
    state = ckpt.load_checkpoint(ckpt.latest_checkpoint(trainer.run_dir))
    assert state["config"]["trick_options"] == saved["trick_options"]
    assert state["plugin_defaults"]["trick soft_labels"] == {"real_range": [0.7, 1.2], "fake_range": [0.0, 0.3]}


def test_a_resumed_run_keeps_the_recorded_option_when_a_release_changes_the_default(release, tiny):
    release(_drift(1.0))
    first = ganforge.Trainer(data="grid25", tricks=["drift"], **dict(tiny, steps=4, log_every=2))
    assert first.fit()["drift_scale"] == [1.0, 1.0]
    release(_drift(2.0))  # the plugin is upgraded: its default changes
    assert ganforge.Trainer(data="grid25", tricks=["drift"], **tiny).config.trick_options["drift"]["scale"] == 2.0
    with pytest.warns(UserWarning) as caught:
        resumed = ganforge.Trainer.resume(first.run_dir, steps=8)
    assert [str(w.message) for w in caught] == [
        "trick 'drift' changed the default of 'scale' from 1.0 to 2.0 since this run was saved; the resumed run "
        "keeps the recorded value."
    ]
    assert resumed.config.trick_options["drift"] == {"scale": 1.0}
    history = resumed.fit()
    assert resumed.tricks[0].options.scale == 1.0
    assert history["drift_scale"] == [1.0, 1.0, 1.0, 1.0]


def test_a_new_option_since_the_run_was_saved_is_reported(release, tiny):
    release(_drift(1.0))
    first = ganforge.Trainer(data="grid25", tricks=["drift"], **dict(tiny, steps=2, log_every=2))
    first.fit()
    release(_drift(1.0, extra=True))
    with pytest.warns(UserWarning) as caught:
        resumed = ganforge.Trainer.resume(first.run_dir, steps=4)
    assert [str(w.message) for w in caught] == [
        "trick 'drift' has a new option 'shift' (default 0.0) since this run was saved; the resumed run uses "
        "that default."
    ]
    assert resumed.config.trick_options["drift"] == {"scale": 1.0, "shift": 0.0}


def test_an_unchanged_plugin_resumes_without_a_warning(release, tiny, recwarn):
    release(_drift(1.0))
    first = ganforge.Trainer(data="grid25", tricks=["drift"], **dict(tiny, steps=2, log_every=2))
    first.fit()
    ganforge.Trainer.resume(first.run_dir, steps=4).fit()
    assert [str(w.message) for w in recwarn if "since this run was saved" in str(w.message)] == []


def _refusal(validator, value) -> str:
    import attrs

    @attrs.frozen
    class Holder:
        x: object = attrs.field(validator=validator)

    with pytest.raises(ganforge.ConfigError) as info:
        Holder(value)
    return str(info.value)


@pytest.mark.parametrize("make, value, message", [
    (lambda o: o.number(0.0), -1, "'x' must be a number >= 0 (got -1)"),
    (lambda o: o.number(0.0), float("inf"), "'x' must be finite (got inf)"),
    (lambda o: o.number(0.0), float("nan"), "'x' must be a number >= 0 (got nan)"),
    (lambda o: o.number(0.0), True, "'x' must be a number >= 0 (got True)"),
    (lambda o: o.number(0, 1, low_open=True, high_open=True), 1, "'x' must be a number > 0 and < 1 (got 1)"),
    (lambda o: o.integer(1, 5), 6, "'x' must be an integer from 1 to 5 (got 6)"),
    (lambda o: o.integer(1), 2.0, "'x' must be an integer >= 1 (got 2.0)"),
    (lambda o: o.choice("batch", "instance"), "bach", "'x' must be one of 'batch', 'instance' (got 'bach'); did you "
                                                      "mean 'batch'?"),
    (lambda o: o.choice("batch", "instance"), [1], "'x' must be one of 'batch', 'instance' (got [1])"),
    (lambda o: o.boolean(), 1, "'x' must be true or false (got 1)"),
    (lambda o: o.text("a plugin name"), "", "'x' must be a plugin name (got '')"),
    (lambda o: o.mapping(), {1: 2}, "'x' must be a mapping of names to values (got {1: 2})"),
    (lambda o: o.optional(o.integer(4)), 2, "'x' must be None or an integer >= 4 (got 2)"),
    (lambda o: o.optional(o.text(), what="a path or None"), 5, "'x' must be a path or None (got 5)"),
    (lambda o: o.either(o.choice("auto"), o.integer(1), what="'auto' or an integer >= 1"), 0,
     "'x' must be 'auto' or an integer >= 1 (got 0)"),
    (lambda o: o.pair(0, 1, ordered=False, high_open=True), (0.5, 1.0), "'x' must be a pair of numbers in [0, 1) "
                                                                         "(got (0.5, 1.0))"),
    (lambda o: o.pair(0, 1), (0.9, 0.1), "'x' must be a pair with low <= high (got (0.9, 0.1))"),
    (lambda o: o.sequence_of(o.integer(1), "sizes"), (1, 0), "'x' must be a list of 1 or more sizes (got (1, 0))"),
])
def test_the_shared_validators_word_each_mistake_once(make, value, message):
    # One set for plugin options and TrainConfig: attrs' validators, refusals raised as ConfigError.
    from ganforge import options as o

    assert _refusal(make(o), value) == message


def test_config_and_plugin_options_word_a_bad_choice_alike():
    with pytest.raises(ganforge.ConfigError) as config:
        ganforge.TrainConfig(nan_policy="skp")
    with pytest.raises(ganforge.ConfigError) as plugin:
        from ganforge.options import build_options

        build_options(ganforge.registry.get_registry().get("generator", "mlp").cls, {"norm": "bach"})
    assert str(config.value) == "'nan_policy' must be one of 'stop', 'skip' (got 'skp'); did you mean 'skip'?"
    assert str(plugin.value).endswith("'norm' must be one of 'batch', 'instance', 'none' (got 'bach'); did you "
                                      "mean 'batch'?")
