"""Installed plugins survive ganforge upgrades (the promise in docs/plugins.md, "Names and upgrades").

tests/plugin_dist_v01 is a distribution written from ganforge 0.1's documentation and never
changed since: a ``wgan_gp`` and a ``hinge`` loss, a gradient-penalty trick, an EMA trick, a
``clip_weights`` trick, a spectral-norm critic and a data set. ganforge 0.2 gave builtins three of
its names; on 0.2.0 every command then ended with "Two plugins register a loss named 'wgan_gp'".
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import ganforge
from ganforge.registry import ALLOW_LIST_ENV, DISABLE_AUTOLOAD_ENV

LEGACY = Path(__file__).parent / "plugin_dist_v01"
LEGACY_RUN = ["--gen", "mlp", "--disc", "sn_critic", "--loss", "wgan_gp",
              "--tricks", "gradient_penalty,ema,clip_weights,spherical_z", "--data", "moons",
              "--log-every", "10", "--checkpoint-every", "20", "--sample-every", "0", "--seed", "1",
              "--threads", "1", "--no-progress"]


@pytest.fixture(scope="module")
def legacy_site(tmp_path_factory, pip_install_target) -> Path:
    return pip_install_target(LEGACY, tmp_path_factory.mktemp("legacy-site"))


def _ganforge(site: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in (DISABLE_AUTOLOAD_ENV, ALLOW_LIST_ENV)}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(site), env.get("PYTHONPATH")) if p)
    env["OMP_NUM_THREADS"] = "1"
    return subprocess.run([sys.executable, "-m", "ganforge", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=300)


def _values(run: Path) -> list[dict]:
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    return [{k: v for k, v in row.items() if k != "steps_per_s"} for row in rows]


@pytest.mark.slow
def test_a_0_1_plugin_lists_trains_resumes_bit_exactly_and_combines_with_builtins(legacy_site, tmp_path):
    listed = _ganforge(legacy_site, tmp_path, "plugins", "--json")
    assert listed.returncode == 0, listed.stderr
    rows = {r["qualified"]: r for r in json.loads(listed.stdout)}
    for name in ("legacy:wgan_gp", "ganforge:wgan_gp", "legacy:hinge", "ganforge:hinge", "legacy:clip_weights",
                 "ganforge:clip_weights", "legacy:gradient_penalty", "legacy:ema", "legacy:sn_critic",
                 "legacy:moons", "ganforge:mlp"):
        assert name in rows, name
    assert rows["legacy:wgan_gp"]["selected_by_name"] and not rows["ganforge:wgan_gp"]["selected_by_name"]
    human = _ganforge(legacy_site, tmp_path, "plugins", "--kind", "loss")
    assert human.returncode == 0 and "legacy:wgan_gp" in human.stdout and "['wgan_gp' selects this]" in human.stdout

    straight = _ganforge(legacy_site, tmp_path, "train", *LEGACY_RUN, "--steps", "40", "--out", str(tmp_path / "a"))
    assert straight.returncode == 0, straight.stderr
    assert ("ganforge: warning: loss 'wgan_gp' means 'legacy:wgan_gp', from plugin 'legacy' (distribution "
            "ganforge-legacy 0.1.0); ganforge's builtin of that name is 'ganforge:wgan_gp': name it so to use it."
            in straight.stderr.splitlines())
    half = _ganforge(legacy_site, tmp_path, "train", *LEGACY_RUN, "--steps", "20", "--out", str(tmp_path / "b"))
    assert half.returncode == 0, half.stderr
    resumed = _ganforge(legacy_site, tmp_path, "train", "--resume", str(tmp_path / "b"), "--steps", "40",
                        "--no-progress")
    assert resumed.returncode == 0, resumed.stderr
    assert _values(tmp_path / "b") == _values(tmp_path / "a")
    assert [r["step"] for r in _values(tmp_path / "a")] == [10, 20, 30, 40]

    # The builtin stays one qualified name away, beside the plugin's other pieces.
    mixed = _ganforge(legacy_site, tmp_path, "train", "--loss", "ganforge:wgan_gp", "--disc", "sn_critic",
                      "--tricks", "ema,ganforge:clip_weights", "--data", "moons", "--steps", "4", "--log-every", "2",
                      "--sample-every", "0", "--threads", "1", "--no-progress", "--out", str(tmp_path / "c"))
    assert mixed.returncode == 0, mixed.stderr
    config = json.loads((tmp_path / "c" / "config.json").read_text())
    assert config["loss"] == "ganforge:wgan_gp" and config["tricks"] == ["ema", "ganforge:clip_weights"]


def test_a_resumed_run_keeps_the_plugin_it_recorded(register, tmp_path):
    run = tmp_path / "run"
    ganforge.Trainer(loss="hinge", data="grid25", steps=4, batch_size=16, log_every=2, checkpoint_every=2,
                     sample_every=0, progress=False, out_dir=run, gen_options={"hidden": (8,)},
                     disc_options={"hidden": (8,)}).fit()
    builtin = ganforge.get_plugin("loss", "hinge")

    class NewHinge(builtin):
        """A plugin's hinge, installed after the run was made (test)."""

    register(losses=[NewHinge])
    with pytest.warns(ganforge.PluginNameWarning):
        assert ganforge.get_registry().get("loss", "hinge").cls is NewHinge
    with pytest.warns(UserWarning, match="loss 'hinge' now means 'test-plugins-0:hinge'; this resumed run keeps "
                                         "'ganforge:hinge', which it was trained with."):
        trainer = ganforge.Trainer.resume(run, steps=6, progress=False)
    trainer.fit()
    assert type(trainer.loss) is builtin
