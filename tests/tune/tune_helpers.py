"""Helpers of the ganforge tune tests: small search spaces on grid25 (a 60-step trial takes about a second)."""

from __future__ import annotations

import copy
import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

#: Settings every test trial shares: tiny MLPs, 60 steps, evaluated every 20 on 300 samples.
FIXED = {
    "data": "grid25",
    "steps": 60,
    "batch_size": 32,
    "eval_every": 20,
    "eval_samples": 300,
    "log_every": 20,
    "sample_every": 0,
    "checkpoint_every": 0,
    "device": "cpu",
    "gen_options": {"hidden": [32]},
    "disc_options": {"hidden": [32]},
    "d_optim": {"lr": 2e-3},
}
#: A generator learning rate that trains (reverse_kl about 1.5 at step 20 here) ...
GOOD_LR = 2e-3
#: ... and one that saturates the generator: no sample near a mode, reverse_kl = log 25 = 3.219 at every evaluation.
HOPELESS_LR = 0.5


def make_space(**tables) -> dict:
    """A space dict: FIXED, a search over g_optim.lr and two conflicting tricks, and ``tables`` replacing tables."""
    space = {
        "fixed": copy.deepcopy(FIXED),
        "search": {
            "g_optim.lr": {"type": "float", "low": 1e-3, "high": 0.5, "log": True},
            "tricks": {"type": "subset", "choices": ["soft_labels", "one_sided_label_smoothing"]},
        },
        "tune": {"trials": 2, "heartbeat": 60},
    }
    space.update(copy.deepcopy(tables))
    return space


def write_space(path: Path, space: dict) -> Path:
    """Write ``space`` as a TOML file (via the exporter's writer)."""
    from ganforge.tune.export import dumps_toml

    enqueue = space.get("enqueue", [])
    text = dumps_toml({k: v for k, v in space.items() if k != "enqueue"})
    for entry in enqueue:
        text += "\n[[enqueue]]\n" + "".join(f"{_quoted(k)} = {_toml(v)}\n" for k, v in entry.items())
    path.write_text(text, encoding="utf-8")
    return path


def _quoted(key: str) -> str:
    return f'"{key}"'


def _toml(value) -> str:
    from ganforge.tune.export import _value

    return _value(value)


def cli_env() -> dict:
    """The environment of a ``ganforge`` subprocess: this checkout first on the path, one thread."""
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1", GANFORGE_DISABLE_PLUGIN_AUTOLOAD="1")
    return env


def cli(*args: str) -> list[str]:
    """The argv of ``python -m ganforge ARGS`` with this interpreter."""
    return [sys.executable, "-m", "ganforge", *args]
