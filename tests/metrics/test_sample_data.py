"""ganforge sample --out FILE.npz / FILE.pt: the samples themselves, for other tools (issue 15, item 6)."""

from __future__ import annotations

import numpy as np
import torch

from ganforge import Trainer
from ganforge.cli import main
from ganforge.metrics import evaluate, generate_with_labels, samples_as_data
from ganforge.metrics.mixture import mixture_metrics

SMALL = dict(steps=20, batch_size=32, log_every=10, sample_every=0, checkpoint_every=0, progress=False, device="cpu",
             gen_options={"hidden": [32, 32]}, disc_options={"hidden": [32, 32]})


def test_points_are_written_in_data_units_with_labels_and_are_what_eval_measures(tmp_path, capsys):
    run = tmp_path / "grid"
    Trainer(data="grid25", conditional=True, out_dir=str(run), **SMALL).fit()
    assert main(["sample", str(run), "-n", "50", "--seed", "3", "--out", str(tmp_path / "s.npz")]) == 0
    assert main(["sample", str(run), "-n", "50", "--seed", "3", "--out", str(tmp_path / "s.pt")]) == 0
    assert f"Wrote 50 samples of step 20 to {tmp_path / 's.pt'}" in capsys.readouterr().out
    with np.load(tmp_path / "s.npz") as saved:
        points, labels = saved["samples"], saved["labels"]
        assert (int(saved["step"]), str(saved["data"]), int(saved["seed"])) == (20, "grid25", 3)
    assert points.shape == (50, 2) and points.dtype == np.float32
    assert labels.shape == (50,) and labels.dtype == np.int64 and 0 <= labels.min() and labels.max() < 25
    as_torch = torch.load(tmp_path / "s.pt")
    assert np.array_equal(as_torch["samples"].numpy(), points) and np.array_equal(as_torch["labels"].numpy(), labels)
    # The Python API gives the same; the points are in data units (grid25's model space is data / 5).
    trainer = Trainer.resume(run, progress=False).setup()
    samples, api_labels = generate_with_labels(trainer, 50, seed=3)
    assert torch.equal(api_labels, torch.from_numpy(labels))
    assert torch.allclose(samples_as_data(trainer, samples), torch.from_numpy(points))
    assert torch.allclose(samples * 5, torch.from_numpy(points), atol=1e-6)
    # They are the samples 'ganforge eval --n 50 --seed 3' measures.
    data = trainer.dataset
    assert mixture_metrics(torch.from_numpy(points), data.modes, data.std)["mode_counts"] == evaluate(
        trainer, n=50, seed=3)["mode_counts"]


def test_unconditional_samples_have_no_labels(tmp_path):
    run = tmp_path / "grid"
    Trainer(data="grid25", out_dir=str(run), **SMALL).fit()
    assert main(["sample", str(run), "-n", "7", "--out", str(tmp_path / "s.npz")]) == 0
    with np.load(tmp_path / "s.npz") as saved:
        assert "labels" not in saved.files and saved["samples"].shape == (7, 2)


def test_images_are_written_as_the_uint8_pixels_a_png_shows(toys, tmp_path):
    run = tmp_path / "images"
    Trainer(data="unit-images", out_dir=str(run), **SMALL).fit()
    assert main(["sample", str(run), "-n", "6", "--out", str(tmp_path / "s.pt")]) == 0
    saved = torch.load(tmp_path / "s.pt")
    assert saved["samples"].dtype == torch.uint8 and saved["samples"].shape == (6, 1, 4, 4) and "labels" not in saved
    trainer = Trainer.resume(run, progress=False).setup()
    samples, _ = generate_with_labels(trainer, 6)
    expected = ((samples.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    assert torch.equal(saved["samples"], expected)


def test_save_samples_data_replaces_a_planted_link_and_keeps_the_file_on_a_failed_write(tmp_path, monkeypatch):
    from ganforge.io import atomic as atomic
    from ganforge.metrics import save_samples_data

    secret = tmp_path / "secret.txt"
    secret.write_text("keep me")
    for name in ("a.npz", "a.pt"):
        target = tmp_path / name
        target.symlink_to(secret)
        save_samples_data(target, torch.zeros(3, 2))
        assert secret.read_text() == "keep me" and target.is_file() and not target.is_symlink()
        before = target.read_bytes()

        def full(*args, **kwargs):
            raise OSError(28, "No space left on device")

        with monkeypatch.context() as m:
            m.setattr(atomic.os, "replace", full)
            try:
                save_samples_data(target, torch.ones(3, 2))
            except OSError as exc:
                assert str(target) in str(exc)
            else:
                raise AssertionError("the failed write was not reported")
        assert target.read_bytes() == before
        assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []
