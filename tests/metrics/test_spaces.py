"""Evaluation and sampling see the data as the models saw it: the 'normalize' trick's rescaling included."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ganforge import Trainer
from ganforge.cli import main
from ganforge.metrics import as_trained, evaluate, from_trained, real_images, to_data_units

TINY = dict(batch_size=32, log_every=1, sample_every=0, checkpoint_every=0, progress=False, device="cpu",
            disc_options={"hidden": [16]})


def test_fid_of_a_generator_replaying_the_data_is_zero_when_normalize_rescaled_it(toys, flat_extractor, tmp_path):
    """UnitImages are in [0, 1]; 'normalize' trains on 2x - 1. The replay generator returns exactly what the
    models saw, so real and generated sets must match: before the fix FID compared [0, 1] reals with [-1, 1]
    fakes and was about 4 (a mean shift of 0.5 in each of 16 pixels)."""
    trainer = Trainer(data="unit-images", gen="replay", tricks=["normalize"], steps=1, out_dir=str(tmp_path / "r"),
                      **TINY).setup()
    assert trainer.tricks[0].rescaled_from == (0.0, 1.0)
    result = evaluate(trainer, n=256, feature="flat")
    assert result["fid"] == pytest.approx(0.0, abs=1e-6), result  # the very same 256 images
    assert result["precision"] == result["recall"] == result["coverage"] == 1.0
    # Without the trick the models see [0, 1]: the same replayed [-1, 1] images are then far from the data.
    plain = Trainer(data="unit-images", gen="replay", steps=1, out_dir=str(tmp_path / "p"), **TINY).setup()
    assert evaluate(plain, n=256, feature="flat")["fid"] > 3


def test_the_maps_follow_the_training_step_and_invert_each_other(toys, tmp_path):
    trainer = Trainer(data="unit-images", gen="replay", tricks=["normalize"], steps=1, out_dir=str(tmp_path / "r"),
                      **TINY).setup()
    reals = real_images(trainer.dataset, 10)
    assert float(reals.min()) >= 0  # the data set's own space
    trained = as_trained(trainer, reals)
    assert torch.allclose(trained, reals * 2 - 1)
    assert torch.allclose(from_trained(trainer, trained), reals, atol=1e-6)
    batch = trainer.step_fn.real_batch(trainer.batches.next()[0])  # what the discriminator is shown
    assert float(batch.min()) < -0.9 and float(batch.max()) <= 1.0
    assert torch.allclose(trainer.to_model_space(reals), trained)


def test_sampled_points_are_in_data_units_when_normalize_rescaled_them(toys, tmp_path, capsys):
    """UnitSquare lies in [0.2, 0.8]^2, which 'normalize' maps to [-0.6, 0.6]; the origin of model space is then the
    data point (0.5, 0.5), and that is what 'ganforge sample' must write and the scatter plot must show."""
    run = tmp_path / "square"
    Trainer(data="unit-square", gen="constant", tricks=["normalize"], steps=2, out_dir=str(run), **TINY).fit()
    assert main(["sample", str(run), "-n", "5", "--out", str(tmp_path / "s.npz")]) == 0
    with np.load(tmp_path / "s.npz") as saved:
        assert np.allclose(saved["samples"], 0.5, atol=1e-6)
    trainer = Trainer.resume(run, progress=False).setup()
    assert torch.allclose(to_data_units(trainer, torch.zeros(3, 2)), torch.full((3, 2), 0.5))
    result = evaluate(trainer, n=50)
    assert result["kind"] == "points"
    # All fakes sit at the centre of the square, inside the real points' spread: some precision, tiny coverage.
    assert result["precision"] == pytest.approx(1.0) and result["coverage"] < 0.1
