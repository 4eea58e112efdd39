"""Evaluation during training (eval_every) and presets."""

from __future__ import annotations

import json
import re

import pytest

import ganforge
from ganforge.cli import main
from ganforge.presets import PRESETS


def test_eval_every_logs_metrics_and_keeps_the_best_checkpoint(tiny, tmp_path):
    tiny.update(steps=40, checkpoint_every=20)
    trainer = ganforge.Trainer(data="ring8", eval_every=20, eval_samples=500, gen_options={"hidden": (16,)}, **tiny)
    history = trainer.fit()
    evals = [r for r in history.records if "eval_reverse_kl" in r]
    assert [r["step"] for r in evals] == [20, 40]
    assert all(0 <= r["eval_modes"] <= 8 for r in evals)
    best = min(evals, key=lambda r: r["eval_reverse_kl"])
    assert trainer.best == {"metric": "reverse_kl", "value": best["eval_reverse_kl"], "step": best["step"]}
    assert evals[-1]["best_reverse_kl"] == best["eval_reverse_kl"]
    saved = ganforge.io.checkpoint.load_checkpoint(tmp_path / "run" / "checkpoints" / "best.pt")
    assert saved["step"] == best["step"]
    lines = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert sum("eval_reverse_kl" in line for line in lines) == 2


def test_evaluation_does_not_change_the_training(tiny, tmp_path):
    plain = ganforge.Trainer(data="ring8", **tiny).fit()
    tiny["out_dir"] = str(tmp_path / "with-eval")
    evaluated = ganforge.Trainer(data="ring8", eval_every=5, eval_samples=100, **tiny).fit()
    assert plain.g_loss == evaluated.g_loss and plain.d_loss == evaluated.d_loss


def test_unknown_eval_metric_is_refused(tiny):
    with pytest.raises(ganforge.ConfigError, match="'eval_metric' must be one of .*reverse_kl.* \\(got 'accuracy'\\)"):
        ganforge.Trainer(data="ring8", eval_every=5, eval_metric="accuracy", **tiny).fit()


def test_preset_sets_the_protocol_and_settings_override_it(tiny):
    trainer = ganforge.Trainer.from_preset("pacgan", **tiny)
    cfg = trainer.config
    assert (cfg.gen, cfg.disc, cfg.data, cfg.latent_dim) == ("pacgan", "pacgan", "grid25", 2)
    assert cfg.g_optim.lr == 1e-4 and cfg.g_optim.betas == (0.8, 0.999) and cfg.steps == 20
    with pytest.raises(ganforge.ConfigError, match=re.escape("Unknown preset 'pacman'; presets are: " + ", ".join(sorted(PRESETS)) + ".")):
        ganforge.Trainer.from_preset("pacman")


def test_cli_preset_then_flags(tmp_path):
    out = tmp_path / "run"
    assert main(["train", "--preset", "pacgan", "--steps", "4", "--batch-size", "10", "--out", str(out),
                 "--no-progress", "--sample-every", "0"]) == 0
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["gen"] == "pacgan" and cfg["steps"] == 4 and cfg["batch_size"] == 10 and cfg["d_optim"]["lr"] == 1e-4
