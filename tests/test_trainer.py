"""The Trainer end to end: outputs, determinism, learning, sampling, errors."""

from __future__ import annotations

import json
import shutil

import pytest
import torch
from PIL import Image

import ganforge
from ganforge import Trainer, TrainConfig

SMALL = dict(gen_options={"hidden": (32, 32)}, disc_options={"hidden": (32, 32)})


def _chamfer(trainer: Trainer) -> float:
    """Symmetric mean nearest-neighbour distance (data units) between 1,000 fakes and 1,000 real points."""
    with torch.random.fork_rng():
        torch.manual_seed(123)
        fake = trainer.dataset.denormalize(trainer.sample(1000))
        real = trainer.dataset.denormalize(trainer.dataset.sample(1000)[0])
    d = torch.cdist(fake, real)
    return (d.min(0).values.mean() + d.min(1).values.mean()).item()


def test_fit_writes_config_metrics_samples_and_checkpoint(tiny, tmp_path):
    tiny.update(steps=40, log_every=10, sample_every=20, checkpoint_every=20)
    trainer = Trainer(data="grid25", **SMALL, **tiny)
    history = trainer.fit()
    run = tmp_path / "run"
    assert TrainConfig.from_dict(json.loads((run / "config.json").read_text())).to_dict() == trainer.config.to_dict()
    lines = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in lines] == [10, 20, 30, 40]
    assert all({"g_loss", "d_loss", "steps_per_s"} <= r.keys() for r in lines)
    assert lines[0]["g_loss"] == pytest.approx(sum(history.g_loss[:10]) / 10, rel=1e-5)
    assert sorted(p.name for p in (run / "samples").iterdir()) == ["step_0000020.png", "step_0000040.png"]
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["step_0000020.pt", "step_0000040.pt"]
    assert len(history) == 40 and len(history.d_loss) == 40 and history.records == lines
    assert isinstance(trainer.gen, ganforge.Generator) and isinstance(trainer.disc, ganforge.Discriminator)


def test_same_seed_same_losses_other_seed_other_losses(tiny, tmp_path):
    runs = []
    for i, seed in enumerate([7, 7, 8]):
        tiny["out_dir"] = str(tmp_path / f"r{i}")
        runs.append(Trainer(data="grid25", seed=seed, tricks=["soft_labels"], **SMALL, **tiny).fit())
    assert runs[0].g_loss == runs[1].g_loss and runs[0].d_loss == runs[1].d_loss
    assert runs[0].g_loss != runs[2].g_loss


def test_training_on_grid25_moves_samples_toward_the_data(tiny):
    tiny.update(steps=400, batch_size=128, log_every=100)
    trainer = Trainer(data="grid25", gen_options={"hidden": (64, 64, 64)}, disc_options={"hidden": (64, 64)}, **tiny)
    trainer.setup()
    before = _chamfer(trainer)
    trainer.fit()
    after = _chamfer(trainer)
    assert after < 0.4 * before, (before, after)


def test_mnist_run_writes_an_8x8_grid(tiny, mnist_root, tmp_path):
    trainer = Trainer(data="mnist", data_root=str(mnist_root), split="test", **SMALL, **tiny)
    trainer.fit()
    grid = Image.open(tmp_path / "run" / "samples" / "step_0000020.png")
    assert grid.size == (8 * 30 + 2, 8 * 30 + 2)  # 28-pixel images, 2-pixel padding
    assert trainer.spec.data_shape == (1, 28, 28)


def test_conditional_grid_has_one_row_per_class(tiny, tmp_path):
    trainer = Trainer(data="ring8", conditional=True, **SMALL, **tiny)
    trainer.setup()
    assert trainer._grid_labels.tolist() == [c for c in range(8) for _ in range(8)]


def test_sample_leaves_the_training_rng_alone(tiny):
    trainer = Trainer(data="grid25", **SMALL, **tiny).setup()
    state = torch.get_rng_state()
    a = trainer.sample(16)
    assert torch.equal(torch.get_rng_state(), state)
    assert a.shape == (16, 2) and trainer.gen.training  # back in training mode
    z = torch.randn(4, 100)
    assert torch.equal(trainer.sample(z=z), trainer.sample(z=z))


def test_settings_override_a_config_object(tiny):
    base = TrainConfig(data="ring8", steps=999)
    trainer = Trainer(base, **tiny)
    assert trainer.config.data == "ring8" and trainer.config.steps == 20
    assert Trainer({"data": "grid25", "steps": 3}).config.steps == 3


def test_default_trainer_is_mnist_with_a_real_budget():
    cfg = Trainer().config
    assert (cfg.data, cfg.split, cfg.gen, cfg.disc, cfg.loss, cfg.steps) == ("mnist", "train", "mlp", "mlp", "bce", 10_000)


def test_unknown_names_fail_before_any_work(tmp_path):
    with pytest.raises(ganforge.UnknownPluginError, match="Unknown trick 'soft_label'. Did you mean 'soft_labels'?"):
        Trainer(data="grid25", tricks=["soft_label"], out_dir=str(tmp_path / "x"))
    with pytest.raises(ganforge.UnknownPluginError, match="Unknown dataset 'grid24'"):
        Trainer(data="grid24")
    assert not (tmp_path / "x").exists()


def test_missing_mnist_is_reported_before_writing(tmp_path, monkeypatch):
    monkeypatch.setattr("ganforge.data.mnist.IDXImageDataset._download", lambda self: "offline (test)")
    trainer = Trainer(data="mnist", data_root=str(tmp_path / "nodata"), out_dir=str(tmp_path / "run"), progress=False)
    with pytest.raises(ganforge.DataNotFoundError, match="mnist train split not found.*--data grid25"):
        trainer.fit()
    assert not (tmp_path / "run").exists()


def test_conditional_needs_labels(tiny, tmp_path, register, point_data):
    register(datasets=[point_data("unlabelled", lambda n, device: torch.zeros(n, 2, device=device),
                                  "Points without labels (test).")])
    with pytest.raises(ganforge.ConfigError, match="conditional=True needs a labelled data set; 'unlabelled' has no labels"):
        Trainer(data="unlabelled", conditional=True, **tiny).fit()


def test_out_dir_holding_a_run_is_refused(tiny, tmp_path):
    Trainer(data="grid25", **SMALL, **tiny).fit()
    before = (tmp_path / "run" / "metrics.jsonl").read_text()
    with pytest.raises(ganforge.RunDirectoryError, match="already holds a run. Pass --resume .* --overwrite"):
        Trainer(data="grid25", **SMALL, **tiny).fit()
    assert (tmp_path / "run" / "metrics.jsonl").read_text() == before
    Trainer(data="grid25", overwrite=True, steps=10, **{k: v for k, v in tiny.items() if k != "steps"}, **SMALL).fit()
    assert len((tmp_path / "run" / "metrics.jsonl").read_text().splitlines()) == 1


def test_cuda_device_without_cuda_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ganforge.ConfigError, match="'device' is 'cuda' but CUDA is not available here; use device='auto' or 'cpu'"):
        Trainer(data="grid25", device="cuda").setup()


def test_auto_device_is_cpu_without_cuda(tiny, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    tiny["device"] = "auto"
    trainer = Trainer(data="grid25", **tiny).setup()
    assert trainer.device.type == "cpu" and not trainer.use_graphs
    assert all(p.device.type == "cpu" for p in trainer.gen.parameters())


@pytest.mark.skipif(not any(shutil.which(c) for c in ("g++", "c++", "clang++")),
                    reason="torch.compile on the CPU needs a C++ compiler (none on PATH)")
def test_compiled_models_train_like_eager_ones(tiny, tmp_path):
    """compile=True runs both models through torch.compile (TorchInductor here) and computes the same losses."""
    import torch._dynamo

    torch._dynamo.reset()
    torch._dynamo.utils.counters.clear()
    tiny.update(steps=4, log_every=2, batch_size=16)
    compiled = Trainer(data="grid25", compile=True, **SMALL, **tiny)
    c_hist = compiled.fit()
    assert type(compiled.step_fn.gen).__name__ == "OptimizedModule" and compiled.step_fn.gen._orig_mod is compiled.gen
    assert torch._dynamo.utils.counters["stats"]["unique_graphs"] >= 2  # G and D really went through Dynamo
    tiny["out_dir"] = str(tmp_path / "eager")
    e_hist = Trainer(data="grid25", **SMALL, **tiny).fit()
    torch.testing.assert_close(torch.tensor(c_hist.g_loss), torch.tensor(e_hist.g_loss), rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(torch.tensor(c_hist.d_loss), torch.tensor(e_hist.d_loss), rtol=1e-4, atol=1e-5)


def test_bf16_autocast_on_the_cpu_runs_in_bf16_and_tracks_fp32(tiny, tmp_path):
    tiny.update(steps=6, log_every=3)
    trainer = Trainer(data="grid25", precision="bf16", **SMALL, **tiny).setup()
    dtypes = set()
    first_linear = next(m for m in trainer.disc.modules() if isinstance(m, torch.nn.Linear))
    first_linear.register_forward_hook(lambda module, args, out: dtypes.add(out.dtype))
    b_hist = trainer.fit()
    assert dtypes == {torch.bfloat16}
    tiny["out_dir"] = str(tmp_path / "fp32")
    f_hist = Trainer(data="grid25", **SMALL, **tiny).fit()
    # bf16 keeps 8 bits of mantissa: the losses agree to about 1 %, not bit for bit.
    torch.testing.assert_close(torch.tensor(b_hist.g_loss), torch.tensor(f_hist.g_loss), rtol=0.03, atol=0.02)
    assert b_hist.g_loss != f_hist.g_loss


def test_callbacks_see_every_log_and_evaluation_and_may_stop_the_run(tiny):
    seen: list[tuple[str, int]] = []

    class Recorder:
        def on_log(self, trainer, record):
            seen.append(("log", record["step"]))

        def on_evaluate(self, trainer, record):
            seen.append(("eval", record["step"]))
            assert "eval_reverse_kl" in record
            if record["step"] >= 20:
                trainer.request_stop("enough")

    trainer = Trainer(**{**tiny, "steps": 40, "eval_every": 10, "eval_samples": 200}, data="grid25",
                      callbacks=[Recorder()])
    trainer.fit()
    assert seen == [("log", 10), ("eval", 10), ("log", 20), ("eval", 20)]
    assert trainer.step == 20


def test_fp16_on_the_cpu_scales_the_loss(tiny):
    """precision='fp16' on the CPU used to run autocast without a GradScaler (issue 13 defect)."""
    trainer = Trainer(**tiny, data="grid25", precision="fp16", gen_options={"hidden": (16,)},
                      disc_options={"hidden": (16,)})
    history = trainer.fit()
    assert isinstance(trainer.scaler, torch.amp.GradScaler) and trainer.scaler.get_scale() > 1
    assert all(torch.isfinite(torch.tensor(history.g_loss)))


def test_the_config_records_every_plugin_option_and_resume_keeps_them(tiny):
    trainer = Trainer(**tiny, data="grid25", gen_options={"hidden": (16,)}, tricks=["instance_noise"])
    assert trainer.config.gen_options["norm"] == "batch" and trainer.config.gen_options["hidden"] == (16,)
    assert set(trainer.config.trick_options["instance_noise"]) == {"sigma0", "anneal_steps"}
    trainer.fit()
    saved = json.loads((trainer.run_dir / "config.json").read_text())
    assert saved["gen_options"]["bn_eps"] == 1e-5
