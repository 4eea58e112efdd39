"""Generator EMA: the average's arithmetic, its use for sampling, checkpoints and exact resume."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

import ganforge
from ganforge.training.ema import GeneratorEMA

SMALL = dict(data="grid25", gen_options={"hidden": (16,)}, disc_options={"hidden": (16,)}, latent_dim=4)


def test_update_is_the_exponential_average_and_buffers_are_copied():
    net = nn.Sequential(nn.Linear(2, 3), nn.BatchNorm1d(3))
    ema = GeneratorEMA(net, decay=0.9)
    start = [p.detach().clone() for p in net.parameters()]
    with torch.no_grad():
        for p in net.parameters():
            p.add_(1.0)
        net[1].running_mean.fill_(5.0)
    ema.update()
    for avg, old, new in zip(ema.model.parameters(), start, net.parameters()):
        assert torch.allclose(avg, 0.9 * old + 0.1 * new)
    assert torch.equal(ema.model[1].running_mean, torch.full((3,), 5.0))
    assert float(ema.updates) == 1
    assert not any(p.requires_grad for p in ema.model.parameters()) and not ema.model.training


def test_start_copies_and_warmup_ramps_the_decay():
    net = nn.Linear(1, 1)
    ema = GeneratorEMA(net, decay=0.8, start=2, warmup=4)
    betas = []
    for _ in range(8):
        betas.append(round(float(ema.beta()), 6))
        ema.update()
    # updates 1-2 copy (beta 0), then the decay rises over 4 updates to 0.8 and stays there.
    assert betas == [0.0, 0.0, 0.2, 0.4, 0.6, 0.8, 0.8, 0.8]


def test_samples_come_from_the_average_unless_asked_otherwise(tiny):
    trainer = ganforge.Trainer(**SMALL, **tiny, ema_decay=0.9)
    trainer.fit()
    z = torch.randn(5, 4)
    with torch.no_grad():
        trainer.ema.model.eval(), trainer.gen.eval()
        expected_avg = trainer.ema.model(z)
        expected_raw = trainer.gen(z)
    trainer.gen.train()
    assert torch.allclose(trainer.sample(z=z), expected_avg)
    assert torch.allclose(trainer.sample(z=z, ema=False), expected_raw)
    assert not torch.allclose(expected_avg, expected_raw)
    with pytest.raises(ganforge.ConfigError, match="trained without ema_decay"):
        ganforge.Trainer(**SMALL, **{**tiny, "out_dir": tiny["out_dir"] + "-plain"}).sample(4, ema=True)


def test_resume_continues_the_average_exactly(tiny, tmp_path):
    settings = dict(**SMALL, **{**tiny, "steps": 16, "checkpoint_every": 8}, ema_decay=0.95, ema_warmup=4)
    whole = ganforge.Trainer(**settings)
    whole.fit()
    settings["out_dir"] = str(tmp_path / "halves")
    first = ganforge.Trainer(**{**settings, "steps": 8})
    first.fit()
    resumed = ganforge.Trainer.resume(settings["out_dir"], steps=16)
    resumed.fit()
    for a, b in zip(whole.ema.model.state_dict().values(), resumed.ema.model.state_dict().values()):
        assert torch.equal(a, b)
    assert float(resumed.ema.updates) == 16
    state = torch.load(f"{settings['out_dir']}/checkpoints/step_0000016.pt", weights_only=True)
    assert set(state["ema"]) == {"model", "updates"}


def test_the_commands_use_the_average_and_no_ema_picks_the_trained_generator(tiny, tmp_path, capsys):
    from ganforge.cli import main

    ganforge.Trainer(**SMALL, **{**tiny, "steps": 30}, ema_decay=0.9).fit()
    run = tiny["out_dir"]
    assert main(["eval", run, "--n", "300", "--json"]) == 0
    averaged = json.loads(capsys.readouterr().out)
    assert main(["eval", run, "--n", "300", "--json", "--no-ema"]) == 0
    trained = json.loads(capsys.readouterr().out)
    assert (averaged["generator"], trained["generator"]) == ("ema", "trained")
    assert averaged["reverse_kl"] != trained["reverse_kl"]
    assert main(["sample", run, "-n", "16", "--out", str(tmp_path / "a.pt")]) == 0
    assert main(["sample", run, "-n", "16", "--out", str(tmp_path / "b.pt"), "--no-ema"]) == 0
    a, b = (torch.load(tmp_path / f, weights_only=True)["samples"] for f in ("a.pt", "b.pt"))
    assert not torch.equal(a, b)
