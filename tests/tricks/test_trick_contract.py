"""The contract every registered trick keeps, and every pair of tricks either works together or is refused.

Parametrized over the registry (builtins only, as the isolation fixture of
conftest.py sees it), so a trick added as a module of ganforge/tricks/ is
covered without editing this file. Runs train on grid25, or on a tiny image
data set when a trick refuses point data (``diffaugment``).
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
from ganforge.interfaces import Trick
from ganforge.registry import Registry, make_plugin_manager, plugin_options
from ganforge.tricks.experience_replay import ExperienceReplay


def _builtin_tricks() -> dict[str, type]:
    registry = Registry(*make_plugin_manager(load_entry_points=False))
    # Image-to-image schemes need data with a condition; their own tests (test_pix2pix, test_cyclegan) cover them.
    return {info.name: info.cls for info in registry.list("trick") if not info.cls.requires_condition}


TRICKS = _builtin_tricks()
NAMES = sorted(TRICKS)
PAIRS = list(itertools.combinations(NAMES, 2))


def run_settings(tmp_path, names, steps: int, data: str = "grid25") -> dict[str, Any]:
    """A tiny run on ``data``: 16-wide models, batch 16, no samples or intermediate checkpoints."""
    conditional = any(ganforge.get_plugin("trick", n).requires_labels for n in names)
    return dict(data=data, tricks=list(names), conditional=conditional, steps=steps, batch_size=16,
                log_every=steps, sample_every=0, checkpoint_every=0, progress=False, device="cpu",
                out_dir=str(tmp_path / "-".join(names)), gen_options={"hidden": (16,)},
                disc_options={"hidden": (16,)}, latent_dim=8)


def same(a: Any, b: Any) -> bool:
    if torch.is_tensor(a):
        return torch.is_tensor(b) and a.shape == b.shape and torch.equal(a.cpu(), b.cpu())
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return isinstance(b, (list, tuple)) and len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    return a == b


def test_parametrization_covers_every_registered_trick():
    assert NAMES == [info.name for info in ganforge.list_plugins("trick") if not info.cls.requires_condition]


def test_every_ganhacks_item_has_a_trick():
    numbers = {cls.ganhacks for cls in TRICKS.values()} - {None}
    assert numbers <= set(range(1, 18))
    assert sorted(set(range(1, 18)) - numbers) == []  # #7's hybrid is vaegan


@pytest.mark.parametrize("name", NAMES)
def test_metadata_and_options(name):
    cls = TRICKS[name]
    assert issubclass(cls, Trick) and cls.name == name
    assert cls.summary() and "\n" not in cls.summary() and len(cls.summary()) <= 120
    assert cls.ganhacks is None or (isinstance(cls.ganhacks, int) and 1 <= cls.ganhacks <= 17)
    assert isinstance(cls.conflicts, tuple) and all(c in TRICKS and c != name for c in cls.conflicts)
    assert isinstance(cls.capturable, bool) and isinstance(cls.requires_labels, bool)
    options = plugin_options(cls)
    assert options is not None, f"{name} accepts **kwargs; options must be named keyword arguments"
    named = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    params = [p for p in list(inspect.signature(cls.__init__).parameters.values())[1:] if p.kind in named]
    assert all(p.default is not inspect.Parameter.empty for p in params), f"{name}: every option needs a default"
    doc = inspect.getdoc(cls) or ""
    for option in options:  # the docstring lists every option
        assert option in doc, f"{name}'s docstring does not mention option {option!r}"
    with pytest.raises(ganforge.ConfigError, match=f"Unknown option 'no_such_option' for trick '{name}'"):
        ganforge.create_plugin("trick", name, no_such_option=1)


#: Options under which a three-step run leaves a trick in a state its fresh instance does not have.
STATE_OPTIONS: dict[str, dict[str, Any]] = {
    "checkpoint_swap": {"every": 2, "k": 1},  # swapped before step 2: swapped_at and the snapshot move
    "failure_monitor": {"action": "record", "grad_norm_max": 1e-6},  # the grad_norm check fires: findings
    "diffaugment": {"adaptive": True, "adjust_every": 2},  # adjusted after D's second update: sums, r_t move
}


def has_tensors(state: Any) -> bool:
    if torch.is_tensor(state):
        return True
    if isinstance(state, dict):
        return any(has_tensors(v) for v in state.values())
    return isinstance(state, (list, tuple)) and any(has_tensors(v) for v in state)


def trained_and_fresh(name: str, tmp_path, data: str = "grid25") -> tuple[Trick, dict[str, Any], Trick]:
    """Trick ``name`` after a three-step run, a deep copy of its state then, and a fresh, set-up instance.

    The fresh instance belongs to a run with another seed, so state that
    depends on the initial weights (checkpoint_swap's snapshot) differs too.
    """
    settings = run_settings(tmp_path, [name], steps=3, data=data)
    if name in STATE_OPTIONS:
        settings["trick_options"] = {name: STATE_OPTIONS[name]}
    trainer = ganforge.Trainer(**settings)
    history = trainer.fit()
    assert len(history.g_loss) == 3 and all(map(torch.isfinite, torch.tensor(history.d_loss)))
    saved = copy.deepcopy(trainer.tricks[0].state_dict())  # not the live tensors the trick keeps changing
    fresh = ganforge.Trainer(**{**settings, "seed": 1, "out_dir": str(tmp_path / "fresh")}).setup().tricks[0]
    return trainer.tricks[0], saved, fresh


def check_round_trip(saved: dict[str, Any], fresh: Trick) -> None:
    """``saved`` survives torch.save/torch.load(weights_only=True), and a fresh instance that loads it returns it."""
    buf = io.BytesIO()
    torch.save(saved, buf)
    buf.seek(0)
    loaded = torch.load(buf, weights_only=True)
    assert same(loaded, saved), "the state does not survive torch.save/torch.load(weights_only=True)"
    fresh.load_state_dict(loaded)
    assert same(fresh.state_dict(), saved), "a fresh instance that loaded the state returns a different state"


@pytest.mark.parametrize("name", NAMES)
def test_runs_three_steps_and_state_round_trips(name, tmp_path, data_for):
    _, saved, fresh = trained_and_fresh(name, tmp_path, data_for([name]))
    if has_tensors(saved):  # the comparison has teeth: loading must change the fresh instance
        assert not same(fresh.state_dict(), saved)
    check_round_trip(saved, fresh)


class ForgetfulReplay(ExperienceReplay):
    """experience_replay whose load_state_dict drops the buffer: the bug the round-trip check must catch."""

    name = "forgetful_replay"

    def load_state_dict(self, state: dict[str, Any]) -> None:
        kept = self.buffer.clone()
        super().load_state_dict(state)
        self.buffer.copy_(kept)


def test_the_round_trip_check_catches_a_load_that_drops_a_tensor(tmp_path, register):
    register(tricks=[ForgetfulReplay])
    trained, saved, fresh = trained_and_fresh("forgetful_replay", tmp_path)
    trained.load_state_dict(trained.state_dict())  # what the old check did: it cannot see the drop
    assert same(trained.state_dict(), saved)
    with pytest.raises(AssertionError, match="a fresh instance that loaded the state returns a different state"):
        check_round_trip(saved, fresh)


_REFUSES_CONDITIONAL: dict[tuple[str, str], bool] = {}


def refuses_conditional(name: str, tmp_path, data: str = "grid25") -> bool:
    """True when trick ``name`` on its own refuses conditional training (IncompatibleError before building models)."""
    if (name, data) not in _REFUSES_CONDITIONAL:
        trainer = ganforge.Trainer(**{**run_settings(tmp_path / "alone", [name], steps=1, data=data),
                                      "conditional": True})
        try:
            trainer.setup()
            _REFUSES_CONDITIONAL[name, data] = False
        except ganforge.IncompatibleError:
            _REFUSES_CONDITIONAL[name, data] = trainer.gen is None
    return _REFUSES_CONDITIONAL[name, data]


# failure_monitor rightly warns about two-step runs of untrained models; the pair test is about composing.
@pytest.mark.filterwarnings("ignore::ganforge.tricks.failure_monitor.TrainingFailureWarning")
@pytest.mark.parametrize("pair", PAIRS, ids=["+".join(p) for p in PAIRS])
def test_pair_runs_together_or_is_refused_up_front(pair, tmp_path, data_for):
    """Two tricks train together, or setup refuses them before building models, saying why.

    Refusal is expected when one trick lists the other in ``conflicts``, and
    when one needs class labels (so the pair runs conditionally) while the
    other refuses conditional training on its own (``pack``).
    """
    a, b = (TRICKS[n] for n in pair)
    data = data_for(pair)
    trainer = ganforge.Trainer(**run_settings(tmp_path, pair, steps=2, data=data))
    if a.name in b.conflicts or b.name in a.conflicts:
        with pytest.raises(ganforge.IncompatibleError, match="cannot be combined with"):
            trainer.setup()
        assert trainer.gen is None  # refused before any model was built
    elif any(x.requires_labels and refuses_conditional(y.name, tmp_path, data) for x, y in ((a, b), (b, a))):
        with pytest.raises(ganforge.IncompatibleError, match="conditional"):
            trainer.setup()
        assert trainer.gen is None
    else:
        history = trainer.fit()
        assert len(history.g_loss) == 2
