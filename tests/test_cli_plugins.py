"""``ganforge plugins [NAME] [--kind K] [--json]``: one plugin in full, with its flags and options (issue 13 item 7)."""

from __future__ import annotations

import json

import pytest

import ganforge
from ganforge.cli import main
from ganforge.options import integer, option, options


def test_a_trick_in_full(capsys):
    assert main(["plugins", "soft_labels"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "trick 'soft_labels'  [ganhacks #6]",
        "  Random soft D targets: real ~ U(0.7, 1.2), fake ~ U(0.0, 0.3)",
        "  class:   ganforge.tricks.soft_labels.SoftLabels",
        "  source:  plugin 'ganforge.tricks' (builtin)",
        "  flags:   capturable=yes, ddp_safe=yes, requires_labels=no, uses_targets=yes",
        "  conflicts: none",
        "  options (set with --trick-option soft_labels.KEY=VALUE or TOML [trick_options.soft_labels]):",
        "    real_range: tuple[float, float] = (0.7, 1.2)",
        "        (low, high) of the uniform distribution of the real targets.",
        "    fake_range: tuple[float, float] = (0.0, 0.3)",
        "        (low, high) of the uniform distribution of the fake targets.",
    ]


def test_flags_that_apply_to_the_kind(capsys):
    assert main(["plugins", "loss_balancing"]) == 0
    text = capsys.readouterr().out
    assert "  flags:   capturable=no, ddp_safe=no, requires_labels=no, uses_targets=no\n" in text
    assert "  not DDP-safe: it decides from each rank's own loss whether to run extra D updates" in text
    assert main(["plugins", "one_sided_label_smoothing"]) == 0
    assert "  conflicts: soft_labels\n" in capsys.readouterr().out
    assert main(["plugins", "r1"]) == 0
    text = capsys.readouterr().out
    assert "  flags:   net=disc, capturable=yes, ddp_safe=yes\n" in text
    assert ("  options (set with --regularizer-option r1.KEY=VALUE or TOML [regularizer_options.r1]):\n"
            "    gamma: float = 10.0  (schedulable: --schedule r1.gamma=KIND:START:END)\n") in text
    assert "    every: int = 1\n" in text  # not schedulable: no marker
    assert main(["plugins", "grid25"]) == 0
    assert "  flags:   is_distribution=yes, per_item=no\n" in capsys.readouterr().out


def test_json_of_one_plugin(capsys):
    assert main(["plugins", "instance_noise", "--json"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["kind"] == "trick" and record["ganhacks"] == 13
    assert record["flags"] == {"capturable": True, "ddp_safe": True, "requires_labels": False,
                               "uses_targets": False, "conflicts": {}}
    assert record["options"] == [
        {"name": "sigma0", "type": "float", "default": 0.1,
         "help": "Standard deviation of the noise at step 0, in model units (data in [-1, 1])."},
        {"name": "anneal_steps", "type": "int | None", "default": None,
         "help": "Steps over which sigma falls linearly to 0 (None: the run's steps)."},
    ]


def test_the_listing_json_carries_options_and_flags(capsys):
    assert main(["plugins", "--json", "--kind", "trick"]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert [o["name"] for o in rows["failure_monitor"]["options"]] == [
        "action", "d_loss_floor", "window", "grad_norm_max", "trend_intervals", "d_win_below"]
    assert rows["auxiliary_classifier"]["flags"]["requires_labels"] is True
    assert rows["mixed_batches"]["options"] == [] and rows["mixed_batches"]["flags"]["conflicts"] == {"pack": ""}


def test_a_name_of_several_kinds_needs_kind(capsys):
    assert main(["plugins", "mlp"]) == 2
    assert capsys.readouterr().err.strip() == (
        "ganforge: error: 'mlp' names a plugin of several kinds: generator, discriminator. Choose one with "
        "--kind generator or --kind discriminator."
    )
    assert main(["plugins", "mlp", "--kind", "discriminator", "--json"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["kind"] == "discriminator" and record["class"] == "ganforge.models.mlp.MLPDiscriminator"


def test_an_unknown_name_offers_close_matches(capsys):
    assert main(["plugins", "sof_labels"]) == 2
    assert capsys.readouterr().err.strip() == (
        "ganforge: error: Unknown plugin 'sof_labels'. Did you mean 'soft_labels' (trick) or 'flip_labels' (trick) "
        "or 'noisy_labels' (trick)? Run 'ganforge plugins' to list installed plugins."
    )
    assert main(["plugins", "mpl", "--kind", "generator"]) == 2
    generators = ", ".join(ganforge.get_registry().names("generator"))
    assert capsys.readouterr().err.strip() == (
        f"ganforge: error: Unknown generator 'mpl'. Did you mean 'mlp'? Available: {generators}. "
        "Run 'ganforge plugins' to list installed plugins."
    )


class Scaled(ganforge.Generator):
    """A third-party generator with declared options (test)."""

    name = "scaled_test"

    @options
    class Options:
        width: int = option(8, validator=integer(1), help="Hidden width.")

    def forward(self, z, labels=None):
        return z


class KwargsLoss(ganforge.Loss):
    """A loss taking any keyword (test)."""

    name = "kwargs_test"

    def __init__(self, **anything):
        self.anything = anything

    def criterion(self, logits, targets):
        return logits.mean()

    def g_loss(self, fake_logits, real_targets, fake_targets):
        return fake_logits.mean()


@pytest.fixture
def third_party(register):
    register(generators=[Scaled], losses=[KwargsLoss], name="cli-test-plugin")


def test_a_third_party_plugin_in_full(third_party, capsys):
    assert main(["plugins", "scaled_test"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "generator 'scaled_test'",
        "  A third-party generator with declared options (test).",
        f"  class:   {__name__}.Scaled",
        "  source:  plugin 'cli-test-plugin'",
        "  flags:   output_bounded=yes",
        "  options (set with --gen-option KEY=VALUE or TOML [gen_options]):",
        "    width: int = 8",
        "        Hidden width.",
    ]
    assert main(["plugins", "kwargs_test"]) == 0
    assert "  options: any keyword (the constructor takes **kwargs; see the class's documentation)\n" in (
        capsys.readouterr().out)
