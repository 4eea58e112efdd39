"""The GAN schemes of examples/ganforge-schemes (docs/schemes.md, "Writing a GAN algorithm"): AAE and BEGAN.

The distribution is pip-installed into a folder of its own and trained by name from the command line in a
fresh interpreter; its classes are also imported from the source folder and their effects checked in-process:
the adversarial autoencoder's encoder learns and D judges codes; BEGAN's k stays in [0, 1], moves, and resumes
exactly; both train on MNIST; both steps trace whole (capture safety).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from test_capture import capturable_on_the_cpu, eager_and_traced  # noqa: F401  (the autouse fixture too)

import ganforge
from ganforge.errors import IncompatibleError
from ganforge.registry import ALLOW_LIST_ENV, DISABLE_AUTOLOAD_ENV

SCHEMES = Path(__file__).resolve().parent.parent / "examples" / "ganforge-schemes"


@pytest.fixture(scope="module")
def installed_schemes(tmp_path_factory, pip_install_target) -> Path:
    """examples/ganforge-schemes pip-installed into its own folder (put it on PYTHONPATH to use it)."""
    target = tmp_path_factory.mktemp("site")
    source = tmp_path_factory.mktemp("src") / SCHEMES.name  # a copy: the checkout gets no build files
    shutil.copytree(SCHEMES, source, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    pip_install_target(source, target)
    assert (target / "ganforge_schemes" / "began.py").is_file()
    return target


def _train(args: list[str], site: Path, cwd: Path) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items() if k not in (DISABLE_AUTOLOAD_ENV, ALLOW_LIST_ENV)}
    environ["PYTHONPATH"] = os.pathsep.join([str(site), environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    environ["OMP_NUM_THREADS"] = "1"
    common = ["--data", "grid25", "--steps", "4", "--log-every", "2", "--batch-size", "16", "--device", "cpu",
              "--no-progress", "--gen-option", "hidden=[16]"]
    return subprocess.run([sys.executable, "-m", "ganforge", "train", *args, *common], cwd=cwd, env=environ,
                          capture_output=True, text=True, timeout=300, check=False)


def _records(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


@pytest.mark.slow  # two fresh interpreters that import torch: over 10 s on a loaded 2-core machine
def test_installed_schemes_train_by_name_on_the_command_line(installed_schemes, tmp_path):
    aae = _train(["--tricks", "aae", "--trick-option", "aae.hidden=16", "--latent-dim", "4",
                  "--disc-option", "hidden=[16]", "--out", "aae"], installed_schemes, tmp_path)
    assert aae.returncode == 0, aae.stderr
    assert "tricks: aae, networks: aae.encoder (joined to G, " in aae.stderr.splitlines()[0]
    assert len(_records(tmp_path / "aae")) == 2
    began = _train(["--loss", "began", "--disc", "began_ae", "--disc-option", "hidden=16", "--tricks", "began_log",
                    "--loss-option", "lambda_k=0.01", "--out", "began"], installed_schemes, tmp_path)
    assert began.returncode == 0, began.stderr
    assert "began_ae discriminator, began loss, tricks: began_log" in began.stderr.splitlines()[0]
    records = _records(tmp_path / "began")
    assert [r["step"] for r in records] == [2, 4]
    assert all(0.0 <= r["k"] <= 1.0 and r["convergence"] > 0 for r in records)  # how k moves: in-process below


# -- the classes, from the source folder ---------------------------------------------------------------


@pytest.fixture
def schemes(monkeypatch, register):
    """ganforge_schemes imported from examples/ganforge-schemes and registered for the test."""
    monkeypatch.syspath_prepend(str(SCHEMES))
    import ganforge_schemes
    from ganforge_schemes import aae, began

    register(ganforge_schemes, name="schemes")
    return {"aae": aae, "began": began}


def small(tmp_path, **more):
    settings = {"data": "grid25", "batch_size": 16, "latent_dim": 4, "steps": 6, "log_every": 1, "sample_every": 0,
                "checkpoint_every": 0, "progress": False, "device": "cpu", "out_dir": str(tmp_path / "run"),
                "gen_options": {"hidden": (16,)}, "disc_options": {"hidden": (16,)}}
    settings.update(more)
    return settings


def aae_run(tmp_path, **more):
    return small(tmp_path, **{"tricks": ["aae"], "trick_options": {"aae": {"hidden": 16}}, **more})


def began_run(tmp_path, **more):
    return small(tmp_path, **{"loss": "began", "disc": "began_ae", "tricks": ["began_log"],
                              "disc_options": {"hidden": 16}, "loss_options": {"lambda_k": 0.01, "k0": 0.5}, **more})


def _weights(module):
    return [p.detach().clone() for p in module.parameters()]


def test_aae_trains_its_encoder_with_g_and_d_judges_codes(schemes, tmp_path):
    trainer = ganforge.Trainer(**aae_run(tmp_path, steps=3))
    trainer.setup()
    encoder = trainer.tricks[0].encoder
    assert isinstance(encoder, schemes["aae"].Encoder)
    in_g_optimizer = {id(p) for group in trainer.opt_g.param_groups for p in group["params"]}
    assert all(id(p) in in_g_optimizer for p in encoder.parameters())  # joined to G
    assert trainer.spec.disc_input_shape == (4,)
    seen = []
    trainer.disc.register_forward_pre_hook(lambda module, args: seen.append(tuple(args[0].shape)))
    start_e, start_g = _weights(encoder), _weights(trainer.gen)
    trainer.fit()
    assert seen and set(seen) == {(16, 4)}  # every D call in the step judged codes of latent_dim, never points
    assert not any(torch.equal(a, b) for a, b in zip(start_e, encoder.parameters()))
    assert not all(torch.equal(a, b) for a, b in zip(start_g, trainer.gen.parameters()))
    assert tuple(trainer.sample(5).shape) == (5, 2)  # G decodes prior codes into the data's space


def test_aae_reconstruction_weight_zero_leaves_g_untrained(schemes, tmp_path):
    """G learns only from the reconstruction (D never sees G's output): with its weight 0, G stays put."""
    trainer = ganforge.Trainer(**aae_run(tmp_path, steps=2, trick_options={"aae": {"hidden": 16,
                                                                                   "reconstruction": 0.0}}))
    start = _weights(trainer.setup().gen)
    trainer.fit()
    assert all(torch.equal(a, b) for a, b in zip(start, trainer.gen.parameters()))


@pytest.mark.parametrize("more", [{"loss": "hinge", "regularizers": ["r1"]}, {"tricks": ["aae", "soft_labels"]}],
                         ids=["hinge+r1", "soft_labels"])
def test_aae_composes_with_builtin_losses_regularizers_and_target_tricks(more, schemes, tmp_path):
    """The codes game runs through ganforge's adversarial path: another loss, R1 on the prior codes, soft targets."""
    trainer = ganforge.Trainer(**aae_run(tmp_path, steps=2, **more))
    start = _weights(trainer.setup().tricks[0].encoder)
    history = trainer.fit()
    assert all(torch.isfinite(torch.tensor(history.g_loss + history.d_loss)))
    assert not any(torch.equal(a, b) for a, b in zip(start, trainer.tricks[0].encoder.parameters()))


def test_began_k_stays_in_the_unit_interval_moves_and_is_logged(schemes, tmp_path):
    trainer = ganforge.Trainer(**began_run(tmp_path))
    history = trainer.fit()
    ks = history["k"]
    assert len(ks) == 6 and all(0.0 <= k <= 1.0 for k in ks)
    assert len(set(ks)) == 6 and ks[0] != 0.5  # from k0 = 0.5, a move every D update
    assert trainer.loss.k.device.type == "cpu" and trainer.loss.k.dim() == 0


def test_began_loss_values_and_the_clamp(schemes):
    """D's loss uses the k before the update; k moves by lambda_k * (gamma L(x) - L(G(z))), clamped to [0, 1]."""
    loss = schemes["began"].BEGANLoss(gamma=0.5, lambda_k=1.0, k0=0.5)
    ones = torch.ones(2)

    def ctx(real, fake):
        return ganforge.LossContext(torch.zeros(2, 2), None, torch.zeros(2, 2), None, real_logits=real * ones,
                                    fake_logits=fake * ones, phase="disc")

    assert loss.discriminator_loss(ctx(1.0, 2.0)).item() == pytest.approx(1.0 - 0.5 * 2.0)
    assert loss.k.item() == 0.0  # 0.5 + (0.5 * 1 - 2) = -1, clamped up to 0
    assert loss.convergence.item() == pytest.approx(1.0 + 1.5)
    assert loss.discriminator_loss(ctx(4.0, 0.5)).item() == pytest.approx(4.0)  # k = 0 now
    assert loss.k.item() == 1.0  # 0 + (2 - 0.5) = 1.5, clamped down to 1
    assert loss.generator_loss(ctx(4.0, 0.25)).item() == pytest.approx(0.25)
    state = loss.state_dict()
    fresh = schemes["began"].BEGANLoss()
    fresh.load_state_dict(state)
    assert (fresh.k.item(), fresh.convergence.item()) == (1.0, loss.convergence.item())


def test_began_resumes_bit_exactly(schemes, tmp_path):
    whole = ganforge.Trainer(**began_run(tmp_path / "whole"))
    whole.fit()
    half = ganforge.Trainer(**began_run(tmp_path / "half", steps=3))
    half.fit()
    state = torch.load(next((tmp_path / "half" / "run" / "checkpoints").glob("step_*.pt")), weights_only=True)
    assert set(state["loss"]) == {"k", "convergence"}
    resumed = ganforge.Trainer.resume(tmp_path / "half" / "run", steps=6)
    resumed.fit()

    def logged(history):
        return [{k: v for k, v in r.items() if k != "steps_per_s"} for r in history.records]

    assert logged(resumed.history) == logged(whole.history)
    assert resumed.history.g_loss == whole.history.g_loss and resumed.history.d_loss == whole.history.d_loss
    assert torch.equal(resumed.loss.k, whole.loss.k)


def test_began_log_refuses_another_loss(schemes, tmp_path):
    with pytest.raises(IncompatibleError, match="logs the 'began' loss's k .* Use --loss began"):
        ganforge.Trainer(**small(tmp_path, tricks=["began_log"])).setup()


def test_both_schemes_train_on_mnist(schemes, tmp_path, mnist_root):
    images = {"data": "mnist", "data_root": str(mnist_root), "split": "test", "steps": 2, "log_every": 2}
    aae = ganforge.Trainer(**aae_run(tmp_path / "aae", latent_dim=8, **images))
    aae.fit()
    assert aae.spec.disc_input_shape == (8,) and tuple(aae.sample(2).shape) == (2, 1, 28, 28)
    began = ganforge.Trainer(**began_run(tmp_path / "began", **images))
    history = began.fit()
    assert tuple(began.sample(2).shape) == (2, 1, 28, 28)
    assert 0.0 < history["k"][-1] <= 1.0 and history["convergence"][-1] > 0


@pytest.mark.parametrize("scheme", ["aae", "began"])
def test_each_scheme_traces_whole_and_matches_eager(scheme, schemes, tmp_path):
    """Capture safety: the step with the scheme's in-step code traces into one graph and equals the eager step."""
    settings = (aae_run if scheme == "aae" else began_run)(tmp_path, steps=8, log_every=8)
    eager, traced = eager_and_traced(ganforge.Trainer(**settings))
    assert torch.equal(eager, traced), f"traced step differs from eager by {(eager - traced).abs().max()}"


# -- the table of PyTorch-GAN's variants in docs/schemes.md -------------------------------------------------

DOCS = Path(__file__).resolve().parent.parent / "docs" / "schemes.md"
KINDS = {"tricks": "trick", "loss": "loss", "gen": "generator", "disc": "discriminator", "data": "dataset"}


def _variant_rows() -> list[tuple[str, str, str]]:
    text = DOCS.read_text(encoding="utf-8").split("## PyTorch-GAN's variants in ganforge", 1)[1]
    rows = [[cell.strip() for cell in line.strip().strip("|").split("|")] for line in text.splitlines()
            if line.startswith("| ") and not line.startswith("| variant")]
    return [(variant, status, how) for variant, status, how in rows]


def test_the_variant_table_covers_pytorch_gan_and_names_plugins_that_exist(schemes):
    rows = _variant_rows()
    assert len(rows) == 33  # PyTorch-GAN's 32 implementations and VAE-GAN
    assert {status for _, status, _ in rows} == {"builtin", "example", "a plugin away"}  # StarGAN: attributes exist now
    assert [v for v, status, _ in rows if status == "example"] == ["AAE", "BEGAN"]
    named = 0
    registry = ganforge.get_registry()
    for variant, status, how in rows:
        if status not in ("builtin", "example"):
            continue
        for flag, names in re.findall(r"--(tricks|loss|gen|disc|data) ([\w\- ]+?)(?= --|`| \(|$)", how):
            for name in names.split():
                assert name in registry.names(KINDS[flag]), f"{variant}: {KINDS[flag]} {name!r} does not exist"
                named += 1
    assert named >= 20  # the rows do name their plugins by flag
