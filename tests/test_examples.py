"""The example plugin distribution in examples/ganforge-example (walked through in docs/plugins.md).

It is pip-installed into a folder of its own and used by name in a fresh
interpreter that never imports it itself; its pieces are also checked one by
one from the source folder.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

import ganforge
from ganforge.registry import ALLOW_LIST_ENV, DISABLE_AUTOLOAD_ENV

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "ganforge-example"
HOOKS = ("ganforge_register_generators", "ganforge_register_discriminators", "ganforge_register_losses",
         "ganforge_register_tricks", "ganforge_register_datasets")


@pytest.fixture(scope="module")
def installed_example(tmp_path_factory, pip_install_target) -> Path:
    """examples/ganforge-example pip-installed into its own folder (put it on PYTHONPATH to use it)."""
    target = tmp_path_factory.mktemp("site")
    # Build from a copy, so the checkout gets no build/ or .egg-info folders.
    source = tmp_path_factory.mktemp("src") / EXAMPLE.name
    shutil.copytree(EXAMPLE, source, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    pip_install_target(source, target)
    assert (target / "ganforge_example" / "losses.py").is_file()
    return target


def _run(code: str, site: Path, cwd: Path) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items() if k not in (DISABLE_AUTOLOAD_ENV, ALLOW_LIST_ENV)}
    environ["PYTHONPATH"] = os.pathsep.join([str(site), environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    environ["OMP_NUM_THREADS"] = "1"
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=cwd, env=environ,
                          capture_output=True, text=True, timeout=300)


@pytest.mark.slow
def test_installed_example_trains_by_name(installed_example, tmp_path):
    result = _run(
        """
        import json, sys
        import ganforge
        from ganforge import Trainer, get_registry
        hooks = %r
        out = {"preloaded": "ganforge_example" in sys.modules}
        trainer = Trainer(gen="resmlp", disc="resmlp", loss="example_hinge",
                          tricks=["d_steps", "example_clip_weights", "example_average"],
                          data="spiral", gen_options={"width": 32}, disc_options={"width": 32, "blocks": 1},
                          trick_options={"example_clip_weights": {"clip": 0.05}, "d_steps": {"k": 2}}, steps=12,
                          batch_size=32, log_every=6, sample_every=0, progress=False, device="cpu", out_dir="run")
        history = trainer.fit()
        registry = get_registry()
        plugin = registry.plugin_manager.get_plugin("example")
        out.update(
            gen=type(trainer.gen).__name__, loss=type(trainer.loss).__name__,
            dataset=type(trainer.dataset).__name__, clipped=history["clipped_updates"],
            d_max=max(p.abs().max().item() for p in trainer.disc.parameters()),
            sample_shape=list(trainer.sample(5).shape),
            implemented=[h for h in hooks
                         if plugin in [i.plugin for i in getattr(registry.plugin_manager.hook, h).get_hookimpls()]],
            sources={i.kind + ":" + i.name: i.distribution for i in registry.list() if i.plugin == "example"},
        )
        lsq = Trainer(gen="resmlp", disc="resmlp", loss="least_squares", data="spiral", steps=4, batch_size=16,
                      log_every=2, sample_every=0, progress=False, device="cpu", out_dir="run2",
                      gen_options={"width": 16}, disc_options={"width": 16}).fit()
        out["lsq_losses"] = len(lsq.g_loss)
        gp = Trainer(gen="resmlp", disc="resmlp", loss="example_hinge_gp", loss_options={"gamma": 5.0}, data="spiral",
                     steps=4, batch_size=16, log_every=2, sample_every=0, progress=False, device="cpu",
                     out_dir="run3", gen_options={"width": 16}, disc_options={"width": 16})
        out["gp_losses"] = len(gp.fit().d_loss)
        out["gp_gamma"] = gp.config.loss_options["gamma"]
        print(json.dumps(out))
        """ % (HOOKS,),
        installed_example, tmp_path,
    )
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert out["preloaded"] is False  # found through the entry point, not imported by the user
    assert (out["gen"], out["loss"], out["dataset"]) == ("ResMLPGenerator", "HingeLoss", "Spiral")
    assert out["clipped"] == [12, 24]  # every critic update: 2 per step
    assert out["d_max"] <= 0.05 + 1e-7
    assert out["sample_shape"] == [5, 2]
    # Every hook of ganforge/hookspecs.py is implemented by the example.
    assert out["implemented"] == list(HOOKS)
    assert out["sources"] == {
        "generator:resmlp": "ganforge-example 0.1.0", "discriminator:resmlp": "ganforge-example 0.1.0",
        "loss:example_hinge": "ganforge-example 0.1.0", "loss:least_squares": "ganforge-example 0.1.0",
        "loss:example_hinge_gp": "ganforge-example 0.1.0", "trick:example_clip_weights": "ganforge-example 0.1.0",
        "trick:example_average": "ganforge-example 0.1.0", "dataset:spiral": "ganforge-example 0.1.0",
    }
    assert out["lsq_losses"] == 4
    assert (out["gp_losses"], out["gp_gamma"]) == (4, 5.0)
    assert (tmp_path / "run" / "checkpoints" / "step_0000012.pt").is_file()


@pytest.mark.slow
def test_installed_example_on_the_command_line(installed_example, tmp_path):
    result = _run(
        """
        from ganforge.cli import main
        code = main(["train", "--gen", "resmlp", "--disc", "resmlp", "--loss", "least_squares",
                     "--tricks", "example_clip_weights", "--trick-option", "example_clip_weights.clip=0.1",
                     "--data", "spiral",
                     "--gen-option", "width=16", "--disc-option", "width=16", "--steps", "6", "--log-every", "3",
                     "--batch-size", "16", "--device", "cpu", "--no-progress", "--out", "cli"])
        code = code or main(["plugins", "--kind", "loss"])
        raise SystemExit(code)
        """,
        installed_example, tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert "example_hinge" in result.stdout
    assert "(plugin 'example' (distribution ganforge-example 0.1.0))" in result.stdout
    records = [json.loads(line) for line in (tmp_path / "cli" / "metrics.jsonl").read_text().splitlines()]
    assert [r["clipped_updates"] for r in records] == [3, 6]


# -- the pieces, from the source folder --------------------------------------------------------


@pytest.fixture
def example(monkeypatch):
    monkeypatch.syspath_prepend(str(EXAMPLE))
    import ganforge_example

    return ganforge_example


def test_hinge_and_least_squares_values(example):
    from ganforge_example.losses import HingeLoss, LeastSquaresLoss

    real, fake = torch.tensor([2.0, 0.5]), torch.tensor([-3.0, 0.0])
    ones, zeros = torch.ones(2), torch.zeros(2)
    hinge = HingeLoss()
    # relu(1 - real) = [0, 0.5], relu(1 + fake) = [0, 1]
    assert hinge.d_loss(real, fake, ones, zeros).item() == pytest.approx(0.25 + 0.5)
    assert hinge.g_loss(fake, ones, zeros).item() == pytest.approx(1.5)
    # soft real targets (0.9) shrink the margin's sign: y = 0.8
    assert hinge.criterion(torch.tensor([1.0]), torch.tensor([0.9])).item() == pytest.approx(0.2)
    lsq = LeastSquaresLoss()
    assert lsq.d_loss(real, fake, ones, zeros).item() == pytest.approx(0.5 * (1 + 0.25) / 2 + 0.5 * 9 / 2)
    assert lsq.g_loss(fake, ones, zeros).item() == pytest.approx(0.5 * (16 + 1) / 2)


def test_resmlp_shapes_and_options(example):
    from ganforge_example.models import ResMLPDiscriminator, ResMLPGenerator

    spec = ganforge.ModelSpec((1, 8, 8), latent_dim=6, num_classes=3)
    gen, disc = ResMLPGenerator(spec, width=16, blocks=3), ResMLPDiscriminator(spec, width=16, blocks=0)
    labels = torch.tensor([0, 2, 1, 1])
    x = gen(torch.randn(4, 6), labels)
    assert x.shape == (4, 1, 8, 8) and x.abs().max() <= 1
    assert disc(x, labels).shape == (4,)
    assert sum(1 for m in gen.modules() if type(m).__name__ == "Residual") == 3
    with pytest.raises(ganforge.ConfigError, match="'width' must be an integer >= 1"):
        ResMLPGenerator(spec, width=0)


def test_spiral_lies_on_the_curve(example):
    from ganforge_example.data import Spiral

    data = Spiral(turns=1.5, noise=0.0)
    points, labels = data.sample(500)
    assert labels is None and points.shape == (500, 2) and points.abs().max() <= 1
    xy = data.denormalize(points)
    r = xy.norm(dim=1)
    angle = torch.atan2(xy[:, 1], xy[:, 0])
    # r = theta: the polar angle equals r modulo a full turn
    off = torch.remainder(r - angle + math.pi, 2 * math.pi) - math.pi
    assert off.abs().max() < 1e-3
    with pytest.raises(ganforge.ConfigError):
        Spiral(turns=0)


def test_clip_weights_rejects_bad_clip(example):
    from ganforge_example.tricks import ClipWeights

    with pytest.raises(ganforge.ConfigError, match="trick 'example_clip_weights'.*'clip' must be a number > 0"):
        ClipWeights(clip=-1)
    assert ganforge.registry.plugin_options(ClipWeights) == {"clip": 0.01}


def test_hinge_gradient_penalty_adds_the_penalty_to_the_hinge_loss(example):
    from ganforge_example.losses import HingeGradientPenalty, HingeLoss

    w = torch.tensor([0.5, -1.5])

    def disc(x, labels=None, real=True):  # D(x) = sum(w * x^2): its input gradient is 2 w x
        return (w * x**2).sum(1)

    real, fake = torch.tensor([[1.0, 2.0], [0.0, -1.0]]), torch.tensor([[3.0, 0.0], [1.0, 1.0]])
    ctx = ganforge.LossContext(real, None, fake, None, disc(real), disc(fake), torch.ones(2), torch.zeros(2),
                               discriminate=disc)
    penalty = 2.0 / 2 * ((2 * w * real) ** 2).sum(1).mean()
    hinge = HingeLoss().d_loss(disc(real), disc(fake), torch.ones(2), torch.zeros(2))
    assert torch.allclose(HingeGradientPenalty(gamma=2.0).discriminator_loss(ctx), hinge + penalty)


def test_weight_average_samples_from_the_average_and_restores_the_weights(example, tmp_path, register):
    from ganforge_example import ganforge_register_tricks

    register(tricks=ganforge_register_tricks())
    trainer = ganforge.Trainer(data="grid25", tricks=["example_average"], trick_options={"example_average": {
        "decay": 0.9}}, gen_options={"hidden": (16,)}, disc_options={"hidden": (16,)}, steps=10, batch_size=16,
        progress=False, device="cpu", sample_every=0, out_dir=str(tmp_path / "run"))
    trainer.fit()
    trick = trainer.tricks[0]
    trained = [p.detach().clone() for p in trainer.gen.parameters()]
    z = torch.randn(4, trainer.spec.latent_dim)
    with trick.sampling_weights(trainer.gen):
        trainer.gen.eval()
        with torch.no_grad():
            expected = trainer.gen(z)
        swapped = [p.detach().clone() for p in trainer.gen.parameters()]
    assert all(torch.equal(a, b) for a, b in zip(swapped, trick.average))
    assert not all(torch.equal(a, b) for a, b in zip(trick.average, trained))
    assert all(torch.equal(a, b) for a, b in zip(trainer.gen.parameters(), trained))  # restored
    assert torch.allclose(trainer.sample(z=z), expected)  # the sampler goes through the swap
