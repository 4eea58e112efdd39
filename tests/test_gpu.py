"""GPU-only checks, run by benchmarks/gpu_check.sh on a machine with CUDA (skipped elsewhere).

The fast paths must compute what the eager step computes: the CUDA-graph step,
the device-resident data path and bf16 autocast are compared with the eager,
fp32 step for the same seed.
"""

from __future__ import annotations

import pytest
import torch

import ganforge

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device (run benchmarks/gpu_check.sh on a GPU machine)")

SMALL = dict(gen_options={"hidden": (64, 64)}, disc_options={"hidden": (64,)})


def _run(tmp_path, name, **settings):
    base = dict(data="grid25", steps=30, batch_size=64, log_every=10, sample_every=0, checkpoint_every=0,
                progress=False, device="cuda", out_dir=str(tmp_path / name), **SMALL)
    base.update(settings)
    trainer = ganforge.Trainer(**base)
    return trainer, trainer.fit()


def test_graphed_step_matches_the_eager_step(tmp_path):
    graphed, g_hist = _run(tmp_path, "graphs", cuda_graphs="on")
    eager, e_hist = _run(tmp_path, "eager", cuda_graphs="off")
    assert graphed.use_graphs and not eager.use_graphs
    torch.testing.assert_close(torch.tensor(g_hist.g_loss), torch.tensor(e_hist.g_loss), rtol=1e-3, atol=1e-4)
    torch.testing.assert_close(torch.tensor(g_hist.d_loss), torch.tensor(e_hist.d_loss), rtol=1e-3, atol=1e-4)


@pytest.mark.parametrize("tricks", [["soft_labels", "noisy_labels", "instance_noise"], ["experience_replay"]])
def test_capturable_tricks_run_graphed(tmp_path, tricks):
    trainer, history = _run(tmp_path, "t", tricks=tricks, cuda_graphs="on")
    assert trainer.use_graphs and len(history) == 30
    assert all(torch.isfinite(torch.tensor(history.g_loss)))


def test_graphed_modern_step_matches_eager(tmp_path):
    """EMA, learning-rate schedules, a lazy R1 (a second graph), hinge and spectral norm inside CUDA graphs."""
    modern = dict(loss="hinge", ema_decay=0.99, regularizers=["r1"], regularizer_options={"r1": {"every": 4}},
                  g_optim={"schedule": "linear", "warmup": 5}, d_optim={"schedule": "cosine"},
                  disc_options={"hidden": (64,), "spectral_norm": True})
    graphed, g_hist = _run(tmp_path, "graphs", cuda_graphs="on", **modern)
    eager, e_hist = _run(tmp_path, "eager", cuda_graphs="off", **modern)
    assert graphed.use_graphs and len(graphed._run_step.variants) == 2
    torch.testing.assert_close(torch.tensor(g_hist.g_loss), torch.tensor(e_hist.g_loss), rtol=1e-3, atol=1e-4)
    for a, b in zip(graphed.ema.model.parameters(), eager.ema.model.parameters()):
        torch.testing.assert_close(a, b, rtol=1e-3, atol=1e-4)
    assert float(graphed.opt_g.param_groups[0]["lr"]) == pytest.approx(float(eager.opt_g.param_groups[0]["lr"]))


def test_resident_and_streamed_mnist_give_the_same_losses(tmp_path, mnist_root):
    settings = dict(data="mnist", data_root=str(mnist_root), split="test", cuda_graphs="off")
    _, resident = _run(tmp_path, "resident", data_placement="device", **settings)
    _, stream = _run(tmp_path, "stream", data_placement="stream", **settings)
    torch.testing.assert_close(torch.tensor(resident.g_loss), torch.tensor(stream.g_loss), rtol=1e-4, atol=1e-5)


def test_bf16_and_channels_last_dcgan(tmp_path, mnist_root):
    trainer, history = _run(tmp_path, "bf16", data="mnist", data_root=str(mnist_root), split="test", gen="dcgan",
                            disc="dcgan", image_size=32, precision="bf16", gen_options={"width": 16},
                            disc_options={"width": 16})
    first_conv = next(m for m in trainer.disc.modules() if isinstance(m, torch.nn.Conv2d))
    assert first_conv.weight.is_contiguous(memory_format=torch.channels_last)
    assert all(torch.isfinite(torch.tensor(history.d_loss)))


def test_cuda_resident_batches_match_the_cpu_order():
    from ganforge.data.loader import TensorBatches

    data = torch.randint(0, 255, (50, 1, 4, 4), dtype=torch.uint8)
    on_cpu = TensorBatches(data, None, 8, torch.device("cpu"), seed=3)
    on_gpu = TensorBatches(data, None, 8, torch.device("cuda"), placement="device", seed=3)
    for _ in range(9):
        assert torch.equal(on_cpu.next()[0], on_gpu.next()[0].cpu())
    state = on_cpu.state_dict()  # a CPU run's loader state resumes on the GPU
    resumed = TensorBatches(data, None, 8, torch.device("cuda"), placement="device", seed=99)
    resumed.load_state_dict(state)
    for _ in range(9):
        assert torch.equal(on_cpu.next()[0], resumed.next()[0].cpu())


@pytest.mark.parametrize("optimizer", ["adam", "rmsprop"])
def test_cpu_checkpoint_resumes_as_a_graphed_channels_last_run(tmp_path, mnist_root, optimizer):
    """Optimizer flags, step counters and moment layouts are fixed up on load, so capture works after a CPU checkpoint."""
    conv = dict(data="mnist", data_root=str(mnist_root), split="test", gen="dcgan", disc="dcgan", image_size=32,
                gen_options={"width": 16}, disc_options={"width": 16},
                g_optim={"name": optimizer, "lr": 2e-4}, d_optim={"name": optimizer, "lr": 2e-4})
    first, _ = _run(tmp_path, "cpu", device="cpu", steps=10, checkpoint_every=10, **conv)
    trainer = ganforge.Trainer.resume(first.run_dir, device="cuda", steps=20, cuda_graphs="on", progress=False)
    history = trainer.fit()
    assert trainer.use_graphs and trainer.step == 20 and len(history) == 20
    assert trainer.opt_d.param_groups[0]["capturable"] is True
    weight = next(m.weight for m in trainer.disc.modules() if isinstance(m, torch.nn.Conv2d))
    moment = "exp_avg" if optimizer == "adam" else "square_avg"
    assert trainer.opt_d.state[weight][moment].is_contiguous(memory_format=torch.channels_last)
    assert all(torch.isfinite(torch.tensor(history.d_loss)))


@pytest.mark.skipif(torch.cuda.device_count() < 2, reason="needs two CUDA devices")
def test_graphed_step_on_a_second_gpu_trains(tmp_path):
    """On cuda:1 the graph must be captured on that device's stream (an empty graph would not train)."""
    trainer, history = _run(tmp_path, "gpu1", device="cuda:1", cuda_graphs="on")
    assert trainer.use_graphs and next(trainer.gen.parameters()).device == torch.device("cuda", 1)
    assert len(set(history.g_loss[5:])) > 20  # replays change the losses step after step


def test_streamed_batches_through_pinned_buffers_match_resident_ones():
    """Batches held across several next() calls (as d_steps does) are not overwritten by the buffer reuse."""
    from ganforge.data.loader import TensorBatches

    data = torch.randint(0, 255, (64, 1, 4, 4), dtype=torch.uint8)
    labels = torch.arange(64)
    cuda = torch.device("cuda")
    resident = TensorBatches(data, labels, 8, cuda, placement="device", seed=1)
    stream = TensorBatches(data, labels, 8, cuda, placement="stream", seed=1)
    assert stream.staging is not None and stream.staging[0].buffers[0].is_pinned()
    for _ in range(6):  # 18 batches: past two epochs
        held = [stream.next() for _ in range(3)]
        for x, y in held:
            rx, ry = resident.next()
            assert torch.equal(x, rx) and torch.equal(y, ry)


def test_files_placement_feeds_a_graphed_step(tmp_path):
    """DataLoader workers pinning batches in another thread while the step is captured (thread_local capture)."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    folder = tmp_path / "images"
    folder.mkdir()
    for k in range(96):
        Image.fromarray(rng.integers(0, 256, (8, 8), dtype=np.uint8), mode="L").save(folder / f"{k:03d}.png")
    trainer, history = _run(tmp_path, "files", data="image-folder", data_root=str(folder),
                            data_options={"image_size": 8, "channels": 1}, data_placement="files", data_workers=2,
                            batch_size=16, cuda_graphs="on")
    assert trainer.use_graphs and trainer.batches.placement == "files" and len(history) == 30
    assert all(torch.isfinite(torch.tensor(history.d_loss)))
