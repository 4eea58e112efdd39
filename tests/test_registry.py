"""The plugin registry: listing, look-up, creation and its errors."""

from __future__ import annotations

import pytest
import torch

import ganforge
from ganforge.interfaces import ModelSpec
from ganforge.models.mlp import MLPGenerator


class _Plugin:
    """A plugin object registering whatever it is given (hookimpls on an instance)."""

    def __init__(self, **hooks):
        for name, classes in hooks.items():
            setattr(self, name, ganforge.hookimpl(specname=name)(lambda classes=classes: classes))


@pytest.fixture
def add_plugin():
    names = []

    def add(name, **hooks):
        names.append(ganforge.register_plugin(_Plugin(**hooks), name=name))

    yield add
    for name in names:
        ganforge.unregister_plugin(name)


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
    losses = ["bce", "hinge", "lsgan", "minimax", "ragan", "wgan", "wgan_gp"]
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
    available = r"bce, hinge, lsgan, minimax, ragan, wgan, wgan_gp"
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


def test_duplicate_name_names_both_sources(add_plugin):
    class OtherMLP(MLPGenerator):
        name = "mlp"

    add_plugin("dup_plugin", ganforge_register_generators=[OtherMLP])
    with pytest.raises(ganforge.DuplicatePluginError) as info:
        ganforge.get_registry()
    msg = str(info.value)
    assert "Two plugins register a generator named 'mlp'" in msg
    assert "MLPGenerator from plugin 'ganforge.models'" in msg
    assert "OtherMLP from plugin 'dup_plugin'" in msg


def test_hand_registered_plugin_is_usable_and_removable(add_plugin):
    class Wide(MLPGenerator):
        """A wider MLP (test)."""

        name = "wide"

    add_plugin("wide_plugin", ganforge_register_generators=[Wide])
    info = ganforge.get_registry().get("generator", "wide")
    assert info.plugin == "wide_plugin" and info.description == "A wider MLP (test)."
    ganforge.unregister_plugin("wide_plugin")
    with pytest.raises(ganforge.UnknownPluginError):
        ganforge.get_plugin("generator", "wide")
    ganforge.register_plugin(_Plugin(ganforge_register_generators=[Wide]), name="wide_plugin")  # for the fixture


def test_registering_a_non_plugin_class_is_rejected(add_plugin):
    add_plugin("bad", ganforge_register_losses=[dict])
    with pytest.raises(ganforge.PluginError, match="Plugin 'bad' registered <class 'dict'> as a loss, but a loss must be a subclass of ganforge.Loss"):
        ganforge.get_registry()


def test_registering_a_nameless_class_is_rejected(add_plugin):
    class Nameless(ganforge.Trick):
        pass

    add_plugin("nameless", ganforge_register_tricks=[Nameless])
    with pytest.raises(ganforge.PluginError, match="without a name; set the class attribute name"):
        ganforge.get_registry()


def test_a_hook_that_raises_is_named(add_plugin):
    plugin = _Plugin()

    def broken():
        raise RuntimeError("boom")

    plugin.ganforge_register_tricks = ganforge.hookimpl(specname="ganforge_register_tricks")(broken)
    ganforge.register_plugin(plugin, name="raiser")
    try:
        with pytest.raises(ganforge.PluginLoadError, match=r"Plugin 'raiser' failed in ganforge_register_tricks\(\): RuntimeError: boom"):
            ganforge.get_registry()
    finally:
        ganforge.unregister_plugin("raiser")


def test_a_bad_option_value_is_a_config_error_naming_the_plugin():
    with pytest.raises(ganforge.ConfigError) as info:
        ganforge.create_plugin("generator", "mlp", ModelSpec((2,)), hidden="abc")
    assert str(info.value) == ("Option of generator 'mlp': 'hidden' must be a non-empty list of positive layer "
                               "widths (got 'abc')")


def test_a_subclass_of_a_builtin_with_its_own_keyword_options_keeps_working(tiny):
    """A third-party generator subclassing mlp with a constructor of its own (the pre-Options way)."""
    from ganforge.models.mlp import MLPGenerator

    class Wider(MLPGenerator):
        """mlp with one hidden layer of a chosen width (a test double)."""

        name = "wider"

        def __init__(self, spec, width: int = 24):
            super().__init__(spec, hidden=(width,))
            self.width = width

    class Plugin:
        @ganforge.hookimpl
        def ganforge_register_generators(self):
            return [Wider]

    ganforge.register_plugin(Plugin(), name="wider-gen")
    try:
        trainer = ganforge.Trainer(**tiny, data="grid25", gen="wider", gen_options={"width": 12})
        assert trainer.config.gen_options == {"width": 12}
        trainer.setup()
        assert trainer.gen.width == 12 and trainer.gen.options.hidden == (12,)
        with pytest.raises(ganforge.ConfigError, match="Unknown option 'hidden' for generator 'wider'"):
            ganforge.Trainer(**tiny, data="grid25", gen="wider", gen_options={"hidden": (8,)})
    finally:
        ganforge.unregister_plugin("wider-gen")
