"""The four scheme presets (infogan-mnist, vaegan-mnist, pix2pix-mnist, cyclegan-mnist) train and sample from Python
and from the command line, on the MNIST test split, in a few steps."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

import ganforge
from ganforge.cli import main
from ganforge.presets import PRESETS

SCHEMES = ("infogan-mnist", "vaegan-mnist", "pix2pix-mnist", "cyclegan-mnist")
#: a couple of steps of each, at a small batch (the presets' models and tricks unchanged)
QUICK = {"steps": 2, "batch_size": 4, "split": "test", "progress": False, "sample_every": 0, "checkpoint_every": 0}


@pytest.mark.parametrize(("name", "trick", "data", "latent_dim"), [
    ("infogan-mnist", "infogan", "mnist", 62), ("vaegan-mnist", "vaegan", "mnist", 32),
    ("pix2pix-mnist", "pix2pix", "mnist-edges2digits", 0), ("cyclegan-mnist", "cyclegan", "mnist-digits2thick", 0)])
def test_each_scheme_preset_names_its_trick_data_and_latent(name, trick, data, latent_dim):
    cfg = ganforge.Trainer.from_preset(name, progress=False).config
    assert trick in cfg.tricks and (cfg.data, cfg.latent_dim) == (data, latent_dim)


def test_the_translation_presets_have_no_latent_and_the_papers_weights():
    pix, cyc = PRESETS["pix2pix-mnist"], PRESETS["cyclegan-mnist"]
    assert (pix["gen"], pix["disc"], pix["trick_options"]["pix2pix"]["l1_weight"]) == ("unet", "patchgan", 100.0)
    assert cyc["trick_options"]["cyclegan"] == {"cycle_weight": 10.0, "identity_weight": 0.5, "pool_size": 50}


@pytest.mark.parametrize("name", SCHEMES)
def test_a_scheme_preset_trains_and_samples_from_python(name, mnist_root, tmp_path):
    trainer = ganforge.Trainer.from_preset(name, data_root=str(mnist_root), out_dir=str(tmp_path / "run"), **QUICK)
    history = trainer.fit()
    assert len(history.g_loss) == 2 and all(np.isfinite(history.g_loss))
    if trainer.spec.condition_shape is None:
        made = trainer.sample(6)
        assert tuple(made.shape) == (6, 1, 28, 28)
    else:  # translates: a condition in, an image of the data's own shape out
        condition = torch.rand(3, *trainer.spec.condition_shape) * 2 - 1
        made = trainer.sample(condition=condition)
        assert tuple(made.shape) == (3, *trainer.spec.data_shape) == (3, 1, 28, 28)
    assert bool(made.abs().le(1).all())


@pytest.mark.parametrize("name", SCHEMES)
def test_a_scheme_preset_trains_and_samples_from_the_command_line(name, mnist_root, tmp_path):
    run = tmp_path / "run"
    assert main(["train", "--preset", name, "--data-root", str(mnist_root), "--split", "test", "--steps", "2",
                 "--batch-size", "4", "--threads", "1", "--out", str(run), "--no-progress"]) == 0
    if name in ("pix2pix-mnist", "cyclegan-mnist"):
        inputs = tmp_path / "inputs"
        inputs.mkdir()
        for i in range(2):
            Image.fromarray((np.random.default_rng(i).random((28, 28)) * 255).astype(np.uint8)).save(inputs / f"{i}.png")
        assert main(["sample", str(run), "--from", str(inputs), "--out", str(tmp_path / "made")]) == 0
        made = sorted((tmp_path / "made").glob("*.png"))
        assert [p.stem for p in made] == ["0", "1"] and Image.open(made[0]).size == (28, 28)
    else:
        assert main(["sample", str(run), "-n", "4", "--out", str(tmp_path / "grid.png")]) == 0
        assert Image.open(tmp_path / "grid.png").size[0] > 28  # a grid of several digits


def _logged(trainer):
    return [{k: v for k, v in r.items() if k != "steps_per_s"} for r in trainer.history.records]


@pytest.mark.parametrize("name", SCHEMES)
def test_a_scheme_preset_with_the_ema_resumes_bit_exactly(name, mnist_root, tmp_path):
    """Every scheme with a generator EMA (``--ema``): a run stopped at step 2 and resumed to 4 is the 4-step run."""
    run = {**QUICK, "data_root": str(mnist_root), "ema_decay": 0.9, "log_every": 1, "seed": 3}
    whole = ganforge.Trainer.from_preset(name, **{**run, "steps": 4}, out_dir=str(tmp_path / "whole"))
    whole.fit()
    half = ganforge.Trainer.from_preset(name, **{**run, "checkpoint_every": 2}, out_dir=str(tmp_path / "half"))
    half.fit()
    resumed = ganforge.Trainer.resume(tmp_path / "half", steps=4)
    resumed.fit()
    assert _logged(resumed) == _logged(whole) and len(_logged(whole)) == 4
    ema_whole, ema_resumed = whole.ema.state_dict(), resumed.ema.state_dict()
    assert int(ema_whole["updates"]) == int(ema_resumed["updates"]) == 4
    for (key, a), b in zip(ema_whole["model"].items(), ema_resumed["model"].values()):
        assert torch.equal(a, b), key
    if whole.spec.condition_shape is None:  # the EMA generators sample alike
        z = torch.randn(4, whole.spec.latent_dim, generator=torch.Generator().manual_seed(1))
        assert torch.equal(whole.sample(z=z), resumed.sample(z=z))
    else:
        condition = torch.zeros(2, *whole.spec.condition_shape)
        assert torch.equal(whole.sample(condition=condition), resumed.sample(condition=condition))
