"""The contract every registered loss and regularizer keeps, and which tricks each refuses, before training.

Parametrized over the registry (builtins only), like tests/tricks/test_trick_contract.py for tricks: a loss
added to ganforge/losses.py or a regularizer added to ganforge/regularizers.py is covered without editing
this file. Regularizers train on a tiny image data set (``bcr`` augments images; the others accept any data).
"""

from __future__ import annotations

import copy
import inspect
import io
import itertools
from typing import Any

import pytest
import torch

import ganforge
from ganforge.config import TrainConfig
from ganforge.data.mixtures import Grid25
from ganforge.interfaces import Loss, Regularizer
from ganforge.options import describe_options
from ganforge.registry import Registry, make_plugin_manager, plugin_options
from ganforge.training.combinations import check_plugins, uses_targets


def _builtin(kind: str) -> dict[str, type]:
    registry = Registry(*make_plugin_manager(load_entry_points=False))
    return {info.name: info.cls for info in registry.list(kind)}


LOSSES, REGULARIZERS, TRICKS = _builtin("loss"), _builtin("regularizer"), _builtin("trick")
TRICKS = {n: c for n, c in TRICKS.items() if not c.requires_condition}  # image-to-image schemes: their own tests


def run_settings(tmp_path, data: str, steps: int, **more) -> dict[str, Any]:
    return dict(data=data, steps=steps, batch_size=16, latent_dim=8, gen_options={"hidden": (16,)},
                disc_options={"hidden": (16,)}, log_every=steps, sample_every=0, checkpoint_every=0, progress=False,
                device="cpu", out_dir=str(tmp_path / "run"), **more)


def same(a: Any, b: Any) -> bool:
    if torch.is_tensor(a):
        return torch.is_tensor(b) and a.shape == b.shape and torch.equal(a.cpu(), b.cpu())
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return isinstance(b, (list, tuple)) and len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    return a == b


def round_trip(plugin: Any) -> None:
    """``state_dict`` survives torch.save/load and ``load_state_dict``, compared against a copy taken before."""
    state = copy.deepcopy(plugin.state_dict())
    buf = io.BytesIO()
    torch.save(plugin.state_dict(), buf)
    buf.seek(0)
    loaded = torch.load(buf, weights_only=True)
    assert same(loaded, state)
    plugin.load_state_dict(loaded)
    assert same(plugin.state_dict(), state)


def test_parametrization_covers_every_registered_loss_and_regularizer():
    assert sorted(LOSSES) == [i.name for i in ganforge.list_plugins("loss")]
    assert sorted(REGULARIZERS) == [i.name for i in ganforge.list_plugins("regularizer")]
    assert {"hinge", "wgan", "wgan_gp", "lsgan", "ragan"} <= set(LOSSES)
    assert {"r1", "r2", "bcr"} <= set(REGULARIZERS)


def check_metadata(kind: str, cls: type, name: str) -> None:
    assert cls.name == name
    assert cls.summary() and "\n" not in cls.summary() and len(cls.summary()) <= 120
    assert isinstance(cls.capturable, bool)
    others = {**LOSSES, **REGULARIZERS, **TRICKS}
    assert all(other in others and other != name and isinstance(why, str) and why
               for other, why in dict(cls.conflicts).items()), "conflicts: {name: reason} with existing names"
    assert plugin_options(cls) is not None, f"{name} must declare its options (Options or named keywords)"
    doc = inspect.getdoc(cls) or ""
    for info in describe_options(cls):
        assert info.help, f"{name}: option {info.name!r} has no help text"
        assert info.name in doc, f"{name}'s docstring does not mention option {info.name!r}"
    with pytest.raises(ganforge.ConfigError, match=f"Unknown option 'no_such_option' for {kind} '{name}'"):
        ganforge.create_plugin(kind, name, no_such_option=1)


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_loss_metadata_and_options(name):
    cls = LOSSES[name]
    assert issubclass(cls, Loss)
    check_metadata("loss", cls, name)
    assert isinstance(cls.uses_targets, bool) and isinstance(cls.needs_real_logits_in_g, bool)
    loss = ganforge.create_plugin("loss", name)
    # Either form of each objective is implemented (a Loss that implements neither fails at step 1).
    assert type(loss).d_loss is not Loss.d_loss or type(loss).criterion is not Loss.criterion \
        or type(loss).discriminator_loss is not Loss.discriminator_loss
    assert type(loss).g_loss is not Loss.g_loss or type(loss).generator_loss is not Loss.generator_loss


@pytest.mark.parametrize("name", sorted(REGULARIZERS))
def test_regularizer_metadata_and_options(name):
    cls = REGULARIZERS[name]
    assert issubclass(cls, Regularizer)
    check_metadata("regularizer", cls, name)
    assert cls.net in ("disc", "gen") and isinstance(cls.ddp_safe, bool)
    assert cls.penalty is not Regularizer.penalty
    reg = ganforge.create_plugin("regularizer", name)
    assert isinstance(reg.every, int) and reg.every >= 1


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_loss_runs_three_steps_and_state_round_trips(name, tmp_path):
    trainer = ganforge.Trainer(**run_settings(tmp_path, "grid25", 3, loss=name))
    history = trainer.fit()
    assert len(history.g_loss) == 3 and all(map(torch.isfinite, torch.tensor(history.d_loss + history.g_loss)))
    round_trip(trainer.loss)


@pytest.mark.parametrize("name", sorted(REGULARIZERS))
def test_regularizer_runs_three_steps_also_lazily_and_state_round_trips(name, tmp_path, image_data):
    for every in (1, 2):
        options = {name: {"every": every}} if "every" in (plugin_options(REGULARIZERS[name]) or {}) else {}
        trainer = ganforge.Trainer(**run_settings(tmp_path / str(every), image_data, 3, regularizers=[name],
                                                  regularizer_options=options))
        history = trainer.fit()
        assert len(history.g_loss) == 3 and all(map(torch.isfinite, torch.tensor(history.d_loss + history.g_loss)))
        round_trip(trainer.regularizers[0])


# -- compatibility -------------------------------------------------------------------------------------


def expected_refusal(loss: Loss, trick: ganforge.Trick) -> str | None:
    """The start of the message a run with ``loss`` and ``trick`` must be refused with, or None."""
    if trick.name in dict(loss.conflicts):
        return f"Loss '{loss.name}' cannot be combined with '{trick.name}': "
    if loss.name in trick.conflicts:
        return f"Trick '{trick.name}' cannot be combined with loss '{loss.name}'"
    if not loss.uses_targets and uses_targets(trick):
        return (f"Trick '{trick.name}' changes the discriminator's targets, but loss '{loss.name}' ignores targets, "
                "so the trick would do nothing.")
    return None


@pytest.mark.parametrize("loss_name", sorted(LOSSES))
def test_each_loss_accepts_or_refuses_each_trick_before_anything_is_built(loss_name):
    loss = ganforge.create_plugin("loss", loss_name)
    refused = []
    for trick_name in sorted(TRICKS):
        trick = ganforge.create_plugin("trick", trick_name)
        config = TrainConfig(loss=loss_name, tricks=[trick_name], conditional=trick.requires_labels)
        expected = expected_refusal(loss, trick)
        if expected is None:
            check_plugins([trick], Grid25(), config, False, loss, [])
        else:
            with pytest.raises(ganforge.IncompatibleError) as info:
                check_plugins([trick], Grid25(), config, False, loss, [])
            assert str(info.value).startswith(expected), str(info.value)
            refused.append(trick_name)
    label_tricks = ["noisy_labels", "one_sided_label_smoothing", "soft_labels"]
    if not loss.uses_targets:  # the label tricks (and flip_labels, which uses the criterion) are refused
        assert set(label_tricks + ["flip_labels"]) <= set(refused)
    else:
        assert not set(label_tricks) & set(refused)


@pytest.mark.parametrize("loss_name, reg_name", list(itertools.product(sorted(LOSSES), sorted(REGULARIZERS))))
def test_every_loss_composes_with_every_regularizer(loss_name, reg_name, tmp_path, image_data):
    history = ganforge.Trainer(**run_settings(tmp_path, image_data, 2, loss=loss_name, regularizers=[reg_name])).fit()
    assert len(history.d_loss) == 2 and all(map(torch.isfinite, torch.tensor(history.d_loss + history.g_loss)))
