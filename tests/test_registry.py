"""The plugin registry: listing, look-up, creation and its errors."""

from __future__ import annotations

import types
import warnings

import pytest
import torch
from torch import nn

import ganforge
from ganforge.interfaces import Dataset, Discriminator, Generator, Loss, ModelSpec, Regularizer, Trick
from ganforge.models.mlp import MLPGenerator


def test_builtins_are_listed_with_descriptions():
    infos = ganforge.list_plugins()
    by_kind = {(i.kind, i.name) for i in infos}
    for entry in [("generator", "mlp"), ("discriminator", "mlp"), ("loss", "bce"), ("loss", "minimax"),
                  ("trick", "soft_labels"), ("dataset", "mnist"), ("dataset", "grid25"), ("dataset", "ring8")]:
        assert entry in by_kind
    assert all(i.description and "\n" not in i.description for i in infos)
    soft = ganforge.get_registry().get("trick", "soft_labels")
    assert soft.ganhacks == 6 and soft.plugin == "ganforge.tricks" and soft.distribution is None
    assert soft.to_json()["class"] == "ganforge.tricks.soft_labels.SoftLabels"


def test_list_filters_by_kind_and_patterns():
    losses = ["bce", "hinge", "lsgan", "minimax", "ragan", "rpgan", "wgan", "wgan_gp"]
    assert [i.name for i in ganforge.list_plugins("loss")] == losses
    assert [i.name for i in ganforge.list_plugins("dataset", include="*25")] == ["grid25"]
    names = [i.name for i in ganforge.list_plugins("dataset", exclude=["grid*", "ring*"])]
    assert "grid25" not in names and "ring8" not in names and "mnist" in names


def test_get_and_create():
    assert ganforge.get_plugin("generator", "mlp") is MLPGenerator
    gen = ganforge.create_plugin("generator", "mlp", ModelSpec((2,), latent_dim=4), hidden=(8,))
    assert isinstance(gen, MLPGenerator)
    assert gen(torch.randn(3, 4)).shape == (3, 2)


def test_unknown_name_suggests_and_lists():
    with pytest.raises(ganforge.UnknownPluginError) as info:
        ganforge.get_plugin("generator", "mpl")
    available = ", ".join(ganforge.get_registry().names("generator"))
    assert str(info.value) == (
        f"Unknown generator 'mpl'. Did you mean 'mlp'? Available: {available}. "
        "Run 'ganforge plugins' to list installed plugins."
    )
    assert isinstance(info.value, LookupError) and not isinstance(info.value, KeyError)


def test_unknown_name_without_close_match_lists_all():
    available = r"bce, hinge, lsgan, minimax, ragan, rpgan, wgan, wgan_gp"
    with pytest.raises(ganforge.UnknownPluginError, match=rf"^Unknown loss 'wasserstein'\. Available: {available}\."):
        ganforge.get_plugin("loss", "wasserstein")


def test_unknown_kind():
    with pytest.raises(ganforge.ConfigError, match="Unknown plugin kind 'model'; kinds are: generator, discriminator"):
        ganforge.list_plugins("model")


def test_unknown_option_names_plugin_and_accepted_options():
    with pytest.raises(ganforge.ConfigError) as info:
        ganforge.create_plugin("generator", "mlp", ModelSpec((2,)), hiden=(8,))
    msg = str(info.value)
    assert msg.startswith("Unknown option 'hiden' for generator 'mlp'. Did you mean 'hidden'? Accepted options:")
    assert "norm" in msg and "bn_eps" in msg


def test_a_plugin_registering_a_builtins_name_keeps_it_and_the_builtin_stays_reachable(register):
    class OtherMLP(MLPGenerator):
        """Another MLP (test)."""

        name = "mlp"

    register(name="dup_plugin", generators=[OtherMLP])
    registry = ganforge.get_registry()  # builds: a later builtin of the same name breaks no installation
    with pytest.warns(ganforge.PluginNameWarning) as caught:
        assert registry.get("generator", "mlp").cls is OtherMLP
    assert str(caught[0].message) == (
        "generator 'mlp' means 'dup_plugin:mlp', from plugin 'dup_plugin'; ganforge's builtin of that name is "
        "'ganforge:mlp': name it so to use it.")
    assert registry.get("generator", "ganforge:mlp").cls is MLPGenerator
    assert registry.get("generator", "dup_plugin:mlp").cls is OtherMLP
    listed = [(i.qualified, i.cls) for i in registry.list("generator") if i.name == "mlp"]
    assert listed == [("ganforge:mlp", MLPGenerator), ("dup_plugin:mlp", OtherMLP)]
    assert registry.shadowed_by(registry.get("generator", "ganforge:mlp")).cls is OtherMLP
    assert registry.qualify("generator", "mlp") == "dup_plugin:mlp"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert registry.get("generator", "mlp").cls is OtherMLP  # the notice is given once


def test_two_plugins_with_one_name_fail_only_when_that_name_is_used(register):
    class WideA(MLPGenerator):
        name = "wide"

    class WideB(MLPGenerator):
        name = "wide"

    register(name="plug_a", generators=[WideA])
    register(name="plug_b", generators=[WideB])
    registry = ganforge.get_registry()
    assert registry.get("generator", "mlp").cls is MLPGenerator  # other names are untouched
    with pytest.raises(ganforge.DuplicatePluginError) as info:
        registry.get("generator", "wide")
    msg = str(info.value)
    assert msg.startswith("Two plugins register a generator named 'wide': 'plug_a:wide' (")
    assert "'plug_b:wide' (" in msg and "Choose one by its qualified name ('plug_a:wide' or 'plug_b:wide')" in msg
    assert registry.get("generator", "plug_b:wide").cls is WideB
    trainer = ganforge.Trainer(gen="plug_a:wide", gen_options={"hidden": (8,)}, data="grid25", steps=2,
                               batch_size=8, sample_every=0, progress=False, out_dir=None)
    trainer.setup()
    assert type(trainer.gen) is WideA


def test_two_implementations_of_one_trick_name_in_one_run_are_refused(register):
    builtin = ganforge.get_plugin("trick", "soft_labels")

    class MySoftLabels(builtin):
        """Another soft_labels (test)."""

    register(name="mine", tricks=[MySoftLabels])
    with pytest.raises(ganforge.ConfigError) as info:
        ganforge.Trainer(tricks=["soft_labels", "ganforge:soft_labels"], data="grid25", progress=False)
    assert str(info.value) == (
        "'tricks' lists 'soft_labels' and 'ganforge:soft_labels', two implementations named 'soft_labels'; a run keeps "
        "each trick's state under its name, so enable only one of them.")


def test_one_plugin_registering_a_name_twice_is_its_own_error(register):
    class First(MLPGenerator):
        name = "twice"

    class Second(MLPGenerator):
        name = "twice"

    register(name="twice_plugin", generators=[First, Second])
    with pytest.raises(ganforge.DuplicatePluginError, match="Rename one of them: one plugin registers each name once"):
        ganforge.get_registry()


def test_qualified_and_pinned_names(register):
    class OtherMLP(MLPGenerator):
        name = "mlp"

    register(name="dup_plugin", generators=[OtherMLP])
    registry = ganforge.get_registry()
    with ganforge.registry.pinned({("generator", "mlp"): "ganforge:mlp"}):
        assert registry.get("generator", "mlp").cls is MLPGenerator
    with ganforge.registry.pinned({("generator", "mlp"): "gone_plugin:mlp"}):
        with pytest.raises(ganforge.UnknownPluginError) as info:
            registry.get("generator", "mlp")
    assert str(info.value) == (
        "This run was trained with generator 'gone_plugin:mlp', which is not installed now (its name now means "
        "'dup_plugin:mlp'). Install the plugin that provides it (owner 'gone_plugin') to resume the run exactly, or "
        "start a new run.")
    with pytest.raises(ganforge.UnknownPluginError, match="no plugin 'nobody' registers a generator named 'mlp'. "
                                                          "Did you mean 'ganforge:mlp' or 'dup_plugin:mlp'?"):
        registry.get("generator", "nobody:mlp")
    with pytest.raises(ganforge.UnknownPluginError, match="no plugin registers a generator named 'mpl'. Did you mean"):
        registry.get("generator", "ganforge:mpl")


def test_a_name_holding_a_colon_is_refused(register):
    class Colon(MLPGenerator):
        name = "a:b"

    register(name="colon_plugin", generators=[Colon])
    with pytest.raises(ganforge.PluginError, match="a plugin name cannot hold ':'"):
        ganforge.get_registry()


def test_hand_registered_plugin_is_usable_and_removable():
    class Wide(MLPGenerator):
        """A wider MLP (test)."""

        name = "wide"

    class Plugin:
        @ganforge.hookimpl
        def ganforge_register_generators(self):
            return [Wide]

    assert ganforge.register_plugin(Plugin(), name="wide_plugin") == "wide_plugin"
    try:
        info = ganforge.get_registry().get("generator", "wide")
        assert info.plugin == "wide_plugin" and info.description == "A wider MLP (test)."
    finally:
        ganforge.unregister_plugin("wide_plugin")
    with pytest.raises(ganforge.UnknownPluginError):
        ganforge.get_plugin("generator", "wide")


def test_registering_a_non_plugin_class_is_rejected(register):
    register(name="bad", losses=[dict])
    with pytest.raises(ganforge.PluginError, match="Plugin 'bad' registered <class 'dict'> as a loss, but a loss must be a subclass of ganforge.Loss"):
        ganforge.get_registry()


def test_registering_a_nameless_class_is_rejected(register):
    class Nameless(ganforge.Trick):
        pass

    register(name="nameless", tricks=[Nameless])
    with pytest.raises(ganforge.PluginError, match="without a name; set the class attribute name"):
        ganforge.get_registry()


def test_a_hook_that_raises_is_named(register):
    class Raiser:
        @ganforge.hookimpl(specname="ganforge_register_tricks")
        def broken(self):
            raise RuntimeError("boom")

    register(Raiser(), name="raiser")
    with pytest.raises(ganforge.PluginLoadError, match=r"Plugin 'raiser' failed in ganforge_register_tricks\(\): RuntimeError: boom"):
        ganforge.get_registry()


def test_a_bad_option_value_is_a_config_error_naming_the_plugin():
    with pytest.raises(ganforge.ConfigError) as info:
        ganforge.create_plugin("generator", "mlp", ModelSpec((2,)), hidden="abc")
    assert str(info.value) == ("Option of generator 'mlp': 'hidden' must be a non-empty list of positive layer "
                               "widths (got 'abc')")


# -- contracts checked when plugins load (issue 13 item 6) ------------------------------------------


HERE = __name__  # the module the test classes below are defined in, as messages show it


class NoForward(Generator):
    name = "no_forward"


class NoFeatures(Discriminator):
    name = "no_features"


class NoPenalty(Regularizer):
    name = "no_penalty"


class CriterionOnly(Loss):
    name = "criterion_only"

    def criterion(self, logits, targets):
        return (logits - targets).square().mean()


class GLossOnly(Loss):
    name = "g_loss_only"

    def g_loss(self, fake_logits, real_targets, fake_targets):
        return -fake_logits.mean()


class EmptyLoss(Loss):
    name = "empty_loss"


class NoShape(Dataset):
    name = "no_shape"

    def load(self):
        return torch.zeros(4, 2), None


class DistributionWithoutSample(Dataset):
    name = "no_sample"
    is_distribution = True
    sample_shape = (2,)

    def load(self):
        return torch.zeros(4, 2), None


class PerItemWithoutLoadItem(Dataset):
    name = "no_load_item"
    per_item = True
    sample_shape = (2,)

    def num_items(self):
        return 4


class FiniteWithoutLoad(Dataset):
    name = "no_load"
    sample_shape = (2,)


LOSS_D_FIX = ("it lacks a discriminator loss: define criterion(logits, targets) (the logit form; d_loss() sums "
              "it over the real and the fake batch) or discriminator_loss(ctx) (the context form)")
LOSS_G_FIX = ("it lacks a generator loss: define g_loss(fake_logits, real_targets, fake_targets) (the logit "
              "form) or generator_loss(ctx) (the context form)")

INCOMPLETE = [
    ("ganforge_register_generators", "generator", NoForward,
     "it lacks forward(z, labels=None): define it to return samples of shape (B, *spec.data_shape)"),
    ("ganforge_register_discriminators", "discriminator", NoFeatures,
     "it lacks features(x, labels=None) or forward(x, labels=None): define features() returning (B, F) "
     "features and set self.head = nn.Linear(F, 1) in __init__, or define forward() returning one logit per sample"),
    ("ganforge_register_regularizers", "regularizer", NoPenalty,
     "it lacks penalty(ctx): define it to return the weighted penalty, a scalar tensor"),
    ("ganforge_register_losses", "loss", CriterionOnly, LOSS_G_FIX),
    ("ganforge_register_losses", "loss", GLossOnly, LOSS_D_FIX),
    ("ganforge_register_losses", "loss", EmptyLoss, f"{LOSS_D_FIX}; {LOSS_G_FIX}"),
    ("ganforge_register_datasets", "dataset", NoShape,
     "it lacks the sample_shape property: define it to return the shape of one sample, e.g. (1, 28, 28)"),
    ("ganforge_register_datasets", "dataset", DistributionWithoutSample,
     "it lacks sample(n, device): a data set with is_distribution = True draws its samples with it; define "
     "it to return (samples, labels) on the device"),
    ("ganforge_register_datasets", "dataset", PerItemWithoutLoadItem,
     "it lacks load_item(): a data set with per_item = True is read one sample at a time: define "
     "num_items() (the number of samples) and load_item(index) (one sample and its label)"),
    ("ganforge_register_datasets", "dataset", FiniteWithoutLoad,
     "it lacks load(): define load() returning (samples, labels), or set is_distribution = True and define "
     "sample(n, device), or set per_item = True and define num_items() and load_item(index)"),
]


@pytest.mark.parametrize("hook, kind, cls, problem", INCOMPLETE, ids=[c[2].__name__ for c in INCOMPLETE])
def test_an_incomplete_class_is_refused_when_the_registry_is_built(register, hook, kind, cls, problem):
    register(name="incomplete", **{hook.removeprefix("ganforge_register_"): [cls]})
    with pytest.raises(ganforge.PluginContractError) as info:
        ganforge.get_registry()
    assert str(info.value) == (
        f"Plugin 'incomplete' registers {kind} '{cls.name}' (class {HERE}.{cls.__qualname__}), which is "
        f"incomplete: {problem}."
    )
    assert isinstance(info.value, ganforge.PluginError)


class ContextLoss(Loss):
    """Both losses in the context form (test)."""

    name = "context_loss"

    def discriminator_loss(self, ctx):
        return ctx.fake_logits.mean() - ctx.real_logits.mean()

    def generator_loss(self, ctx):
        return -ctx.fake_logits.mean()


class SumLoss(Loss):
    """d_loss and g_loss, no criterion (test)."""

    name = "sum_loss"

    def d_loss(self, real_logits, fake_logits, real_targets, fake_targets):
        return fake_logits.mean() - real_logits.mean()

    def g_loss(self, fake_logits, real_targets, fake_targets):
        return -fake_logits.mean()


class Points(Dataset):
    """Per-item 2-D points without load() (test)."""

    name = "per_item_points"
    per_item = True
    sample_shape = (2,)

    def num_items(self):
        return 4

    def load_item(self, index):
        return torch.full((2,), float(index)), None


class Bare(Trick):
    """A trick overriding nothing (test)."""

    name = "bare"


class Forwarding(Discriminator):
    """Overrides forward only, no head (test)."""

    name = "forwarding"

    def __init__(self, spec):
        super().__init__(spec)
        self.net = nn.Linear(2, 1)

    def forward(self, x, labels=None):
        return self.net(x).squeeze(-1)


def test_every_complete_form_is_accepted(register):
    register(name="complete", losses=[ContextLoss, SumLoss], datasets=[Points], tricks=[Bare],
             discriminators=[Forwarding])
    registry = ganforge.get_registry()
    assert {i.name for i in registry.list(include=["context_loss", "sum_loss", "per_item_points", "bare",
                                                   "forwarding"])} == {
        "context_loss", "sum_loss", "per_item_points", "bare", "forwarding"}
    disc = registry.create("discriminator", "forwarding", ModelSpec((2,)))
    assert disc(torch.zeros(3, 2)).shape == (3,)


class Headless(Discriminator):
    """features() but no head (test)."""

    name = "headless"

    def __init__(self, spec):
        super().__init__(spec)
        self.body = nn.Linear(2, 4)

    def features(self, x, labels=None):
        return self.body(x)


def test_a_discriminator_without_head_is_refused_when_built(register):
    register(name="headless-plugin", discriminators=[Headless])
    with pytest.raises(ganforge.PluginContractError) as info:
        ganforge.create_plugin("discriminator", "headless", ModelSpec((2,)))
    assert str(info.value) == (
        f"Discriminator 'headless' (class {HERE}.Headless, plugin 'headless-plugin') defines features() but its "
        "__init__ set no self.head, the module mapping the features to one logit: set self.head = nn.Linear(F, 1) "
        "(F: the width of the features), or define forward()."
    )


def test_a_hook_returning_a_class_instead_of_a_list_is_named(register):
    register(name="single", regularizers=NoPenalty)
    with pytest.raises(ganforge.PluginContractError) as info:
        ganforge.get_registry()
    assert str(info.value) == (
        f"Plugin 'single' returned the class {HERE}.NoPenalty from ganforge_register_regularizers(), not a list: "
        "a registration hook returns a list of classes; write 'return [NoPenalty]'."
    )


def test_a_hook_returning_something_else_is_named(register):
    register(name="stringy", tricks="soft_labels")
    with pytest.raises(ganforge.PluginContractError) as info:
        ganforge.get_registry()
    assert str(info.value) == (
        "Plugin 'stringy' returned str 'soft_labels' from ganforge_register_tricks(): a registration hook returns "
        "a list of classes (or None to register nothing)."
    )


def test_a_hook_returning_none_registers_nothing(register):
    register(name="nothing", tricks=None)
    assert "bare" not in ganforge.get_registry().names("trick")


HOOKS = ("ganforge_register_datasets, ganforge_register_discriminators, ganforge_register_generators, "
         "ganforge_register_losses, ganforge_register_regularizers, ganforge_register_tricks")


def _register_module(register, name, **functions):
    module = types.ModuleType(name)
    for attr, function in functions.items():
        setattr(module, attr, function)
    register(module, name=name)


@pytest.mark.parametrize("marked", [True, False], ids=["marked", "unmarked"])
def test_a_misspelt_hook_is_refused_with_the_close_name(marked, register):
    def ganforge_register_trick():
        return [Bare]

    function = ganforge.hookimpl(ganforge_register_trick) if marked else ganforge_register_trick
    _register_module(register, "misspelt", ganforge_register_trick=function)
    with pytest.raises(ganforge.PluginContractError) as info:
        ganforge.get_registry()
    assert str(info.value) == (
        "Plugin 'misspelt' defines ganforge_register_trick(), which is named like a ganforge hook but matches "
        f"none, so it is never called. Did you mean 'ganforge_register_tricks'? The hooks are: {HOOKS}. Rename it "
        "to the hook it implements (a helper's name must not start with 'ganforge_')."
    )


def test_a_hook_with_an_unknown_specname_is_refused(register):
    def my_models():
        return [Bare]

    _register_module(register, "specname", my_models=ganforge.hookimpl(specname="ganforge_register_generator")(my_models))
    with pytest.raises(ganforge.PluginContractError) as info:
        ganforge.get_registry()
    assert str(info.value) == (
        "Plugin 'specname' defines my_models() marked @ganforge.hookimpl(specname='ganforge_register_generator'), "
        "but ganforge has no hook 'ganforge_register_generator', so it is never called. Did you mean "
        f"'ganforge_register_generators'? The hooks are: {HOOKS}."
    )


def test_a_hook_without_the_marker_is_refused(register):
    def ganforge_register_tricks():
        return [Bare]

    _register_module(register, "unmarked", ganforge_register_tricks=ganforge_register_tricks)
    with pytest.raises(ganforge.PluginContractError) as info:
        ganforge.get_registry()
    assert str(info.value) == (
        "Plugin 'unmarked' defines ganforge_register_tricks() without the @ganforge.hookimpl decorator, so "
        "ganforge never calls it: decorate it with @ganforge.hookimpl."
    )


def test_other_functions_and_hooks_by_specname_are_fine(register):
    def helper():
        return 1

    def tricks():
        return [Bare]

    _register_module(register, "fine", helper=helper, tricks=ganforge.hookimpl(specname="ganforge_register_tricks")(tricks),
                     ganforge_version="1.0")
    assert ganforge.get_registry().get("trick", "bare").plugin == "fine"


# -- a plugin's constructor raising -------------------------------------------------------------


class Exploding(Trick):
    """Raises in its constructor (test)."""

    name = "exploding"

    @ganforge.options.options
    class Options:
        rate: float = ganforge.options.option(0.5, validator=ganforge.options.number(0.0), help="A rate.")

    def __init__(self, **options):
        super().__init__(**options)
        raise RuntimeError("no GPU here")


class OldStyle(Trick):
    """Options from the constructor's signature, checked by hand (test)."""

    name = "old_style"

    def __init__(self, width: int = 3):
        self.width = int(width)
        if self.width > 10:
            raise KeyError("width")


def test_an_exception_in_a_constructor_is_the_plugins_failure(register):
    register(name="exploder", tricks=[Exploding, OldStyle])
    with pytest.raises(ganforge.PluginBuildError) as info:
        ganforge.create_plugin("trick", "exploding", rate=0.25)
    assert str(info.value) == (
        "Trick 'exploding' failed while being built with rate=0.25: RuntimeError: no GPU here. This is an error "
        f"inside the plugin (the class is {HERE}.Exploding, from plugin 'exploder'), not in the options: run with "
        "--debug (or GANFORGE_DEBUG=1) for the traceback, and report it to the plugin's authors."
    )
    assert isinstance(info.value.__cause__, RuntimeError)  # chained: --debug shows the plugin's traceback
    with pytest.raises(ganforge.PluginBuildError, match="^Trick 'exploding' failed while being built with its "
                                                        "default options: RuntimeError: no GPU here"):
        ganforge.create_plugin("trick", "exploding")
    with pytest.raises(ganforge.ConfigError, match="^Option of trick 'exploding': 'rate' must be a number >= 0"):
        ganforge.create_plugin("trick", "exploding", rate=-1)  # an option problem stays one
    with pytest.raises(ganforge.PluginBuildError, match="^Trick 'old_style' failed while being built with "
                                                        "width=11: KeyError: 'width'"):
        ganforge.create_plugin("trick", "old_style", width=11)
    with pytest.raises(ganforge.ConfigError) as bad_value:
        ganforge.create_plugin("trick", "old_style", width="wide")
    assert str(bad_value.value) == (
        "Trick 'old_style' could not be built with width='wide': ValueError: invalid literal for int() with base "
        f"10: 'wide'. Check the option values (the class is {HERE}.OldStyle, from plugin 'exploder'); if they are "
        "right, the plugin itself failed: run with --debug (or GANFORGE_DEBUG=1) for the traceback."
    )


def test_a_constructor_failure_stops_training_with_the_plugins_name(register, tiny):
    register(name="exploder", tricks=[Exploding])
    with pytest.raises(ganforge.PluginBuildError, match="^Trick 'exploding' failed while being built"):
        ganforge.Trainer(data="grid25", tricks=["exploding"], **tiny).fit()


def test_the_cli_shows_contract_errors_for_plugins_and_train(register, capsys, tmp_path):
    from ganforge.cli import main

    register(name="incomplete", generators=[NoForward])
    expected = (f"ganforge: error: Plugin 'incomplete' registers generator 'no_forward' (class {HERE}.NoForward), "
                "which is incomplete: it lacks forward(z, labels=None): define it to return samples of shape "
                "(B, *spec.data_shape).")
    assert main(["plugins"]) == 1
    assert capsys.readouterr().err.strip() == expected
    assert main(["train", "--data", "grid25", "--steps", "1", "--out", str(tmp_path / "run"), "--no-progress"]) == 1
    assert capsys.readouterr().err.strip() == expected


def test_a_subclass_of_a_builtin_with_its_own_keyword_options_keeps_working(tiny, register):
    """A third-party generator subclassing mlp with a constructor of its own (the pre-Options way)."""
    from ganforge.models.mlp import MLPGenerator

    class Wider(MLPGenerator):
        """mlp with one hidden layer of a chosen width (a test double)."""

        name = "wider"

        def __init__(self, spec, width: int = 24):
            super().__init__(spec, hidden=(width,))
            self.width = width

    register(generators=[Wider])
    trainer = ganforge.Trainer(**tiny, data="grid25", gen="wider", gen_options={"width": 12})
    assert trainer.config.gen_options == {"width": 12}
    trainer.setup()
    assert trainer.gen.width == 12 and trainer.gen.options.hidden == (12,)
    with pytest.raises(ganforge.ConfigError, match="Unknown option 'hidden' for generator 'wider'"):
        ganforge.Trainer(**tiny, data="grid25", gen="wider", gen_options={"hidden": (8,)})
