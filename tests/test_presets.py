"""Presets resolve to the settings their documentation states, and the run they build is the one described."""

from __future__ import annotations

import re

import pytest

import ganforge
from ganforge.presets import DESCRIPTIONS, PRESETS, drop_unused_options, get_preset


def test_every_preset_is_described_and_valid():
    assert set(DESCRIPTIONS) == set(PRESETS)
    for name in PRESETS:
        config = ganforge.Trainer.from_preset(name, progress=False).config  # every plugin and option exists
        assert config.to_dict()  # and the settings resolve


def test_sngan_cifar10_is_the_papers_recipe():
    cfg = ganforge.Trainer.from_preset("sngan-cifar10", progress=False).config
    assert (cfg.gen, cfg.disc, cfg.loss, cfg.data, cfg.batch_size, cfg.latent_dim, cfg.steps) == (
        "sngan", "sngan", "hinge", "cifar10", 64, 128, 50_000)
    assert cfg.tricks == ("d_steps",) and cfg.trick_options["d_steps"]["k"] == 5
    assert cfg.disc_options["spectral_norm"] is True
    for optim in (cfg.g_optim, cfg.d_optim):
        assert (optim.name, optim.lr, optim.betas, optim.schedule, optim.final_lr) == (
            "adam", 2e-4, (0.0, 0.9), "linear", 0.0)


def test_wgan_gp_is_the_papers_recipe():
    cfg = ganforge.Trainer.from_preset("wgan-gp", progress=False).config
    assert (cfg.loss, cfg.loss_options["lambda_gp"], cfg.disc_options["spectral_norm"], cfg.steps) == (
        "wgan_gp", 10.0, False, 100_000)
    assert cfg.trick_options["d_steps"]["k"] == 5 and cfg.g_optim.betas == (0.0, 0.9)


@pytest.mark.parametrize(("name", "loss", "batch"), [("dcgan", "bce", 128), ("lsgan", "lsgan", 64)])
def test_dcgan_and_lsgan(name, loss, batch):
    cfg = ganforge.Trainer.from_preset(name, progress=False).config
    assert (cfg.gen, cfg.disc, cfg.loss, cfg.batch_size) == ("dcgan", "dcgan", loss, batch)
    assert (cfg.g_optim.lr, cfg.g_optim.betas) == (2e-4, (0.5, 0.999))


def test_pacgan_trains_in_the_papers_units():
    cfg = ganforge.Trainer.from_preset("pacgan", progress=False).config
    assert cfg.data_options["scale"] == 1.0 and cfg.latent_dim == 2 and cfg.batch_size == 100


def test_presets_are_copies_and_unknown_names_are_refused():
    get_preset("dcgan")["batch_size"] = 1
    assert PRESETS["dcgan"]["batch_size"] == 128
    listed = "Unknown preset 'sngan'; presets are: " + ", ".join(sorted(PRESETS)) + "."
    with pytest.raises(ganforge.ConfigError, match=re.escape(listed)):
        get_preset("sngan")


@pytest.mark.parametrize(("name", "data", "steps", "conditional"), [
    ("grid25", "grid25", 40_000, False), ("ring8", "ring8", 40_000, False),
    ("grid25-quick", "grid25", 6_000, True)])  # the README's first run: conditional, 6k steps (README's figures)
def test_the_2d_recipe(name, data, steps, conditional):
    cfg = ganforge.Trainer.from_preset(name, progress=False).config
    assert (cfg.data, cfg.steps, cfg.loss, cfg.regularizers, cfg.batch_size, cfg.latent_dim, cfg.ema_decay) == (
        data, steps, "bce", ("r1",), 128, 2, 0.999)
    assert cfg.conditional is conditional
    assert cfg.regularizer_options["r1"] == {"gamma": 0.1, "every": 4}
    assert tuple(cfg.gen_options["hidden"]) == (128,) * 4 and cfg.gen_options["activation"] == "relu"
    assert tuple(cfg.disc_options["hidden"]) == (128,) * 3 and cfg.gen_options["norm"] == "none"
    for optim in (cfg.g_optim, cfg.d_optim):
        assert (optim.lr, optim.betas, optim.schedule, optim.final_lr) == (5e-4, (0.0, 0.9), "linear", 0.0)


def test_the_2d_recipe_trains_and_samples_with_the_ema(tmp_path):
    trainer = ganforge.Trainer.from_preset("grid25-quick", steps=40, out_dir=str(tmp_path / "run"), progress=False)
    history = trainer.fit()
    assert len(history.g_loss) == 40 and trainer.ema is not None
    points = trainer.sample(64)
    assert tuple(points.shape) == (64, 2) and bool(points.abs().le(1).all())  # tanh output, model space


def test_the_mnist_recipe():
    cfg = ganforge.Trainer.from_preset("mnist", progress=False).config
    assert (cfg.gen, cfg.disc, cfg.loss, cfg.tricks, cfg.ema_decay, cfg.batch_size, cfg.data, cfg.steps) == (
        "mlp", "mlp", "hinge", ("minibatch_discrimination",), 0.999, 64, "mnist", 6_500)


def test_a_users_tricks_replace_the_presets_and_drop_its_options_for_tricks_left_out():
    settings = get_preset("pacgan4", tricks="soft_labels")  # as `--tricks soft_labels` gives it
    assert settings["tricks"] == "soft_labels" and settings["trick_options"] == {}
    cfg = ganforge.TrainConfig.from_dict(settings)  # no "sets options for 'pack'" error
    assert cfg.tricks == ("soft_labels",) and dict(cfg.trick_options) == {}
    assert PRESETS["pacgan4"]["trick_options"] == {"pack": {"m": 4}}  # the preset itself is untouched


def test_the_presets_options_still_apply_to_the_tricks_the_user_keeps():
    cfg = ganforge.TrainConfig.from_dict(get_preset("pacgan4", tricks=["soft_labels", "pack"]))
    assert cfg.tricks == ("soft_labels", "pack") and cfg.trick_options["pack"]["m"] == 4


def test_the_users_own_options_for_a_trick_not_enabled_are_still_refused():
    settings = get_preset("pacgan4", tricks=["soft_labels"], trick_options={"pack": {"m": 2}})
    with pytest.raises(ganforge.ConfigError, match=re.escape("'trick_options' sets options for 'pack', which is "
                                                             "not among the enabled tricks ['soft_labels']")):
        ganforge.TrainConfig.from_dict(settings)


def test_regularizers_replaced_drop_the_presets_regularizer_options():
    cfg = ganforge.TrainConfig.from_dict(get_preset("grid25", regularizers=()))  # the recipe without R1
    assert cfg.regularizers == () and dict(cfg.regularizer_options) == {}
    assert get_preset("grid25", regularizers=["r1"])["regularizer_options"] == {"r1": {"gamma": 0.1, "every": 4}}


def test_drop_unused_options_leaves_settings_alone_when_the_lists_are_not_replaced():
    base = {"tricks": ["pack"], "trick_options": {"pack": {"m": 4}}, "regularizers": ["r1"],
            "regularizer_options": {"r1": {"gamma": 1.0}}}
    assert drop_unused_options(base, {"steps": 10}) == base
    assert drop_unused_options(base, {"tricks": []})["trick_options"] == {}
    assert drop_unused_options(base, {"tricks": []})["regularizer_options"] == {"r1": {"gamma": 1.0}}


def test_a_presets_trick_options_do_not_block_the_users_tricks_in_python_and_on_the_command_line(tmp_path):
    from ganforge.cli import main

    trainer = ganforge.Trainer.from_preset("pacgan4", tricks=["soft_labels"], progress=False)
    assert trainer.config.tricks == ("soft_labels",) and set(trainer.config.trick_options) == {"soft_labels"}
    run = tmp_path / "run"
    assert main(["train", "--preset", "pacgan4", "--tricks", "soft_labels", "--steps", "2", "--batch-size", "16",
                 "--log-every", "1", "--sample-every", "0", "--no-progress", "--out", str(run)]) == 0
    import json

    config = json.loads((run / "config.json").read_text())
    assert config["tricks"] == ["soft_labels"] and "pack" not in config["trick_options"]


def test_the_r3gan_preset_holds_the_papers_cifar10_settings(tmp_path):
    cfg = ganforge.Trainer.from_preset("r3gan-cifar10", progress=False).config
    assert (cfg.gen, cfg.disc, cfg.loss, cfg.regularizers, cfg.batch_size, cfg.latent_dim) == (
        "r3gan", "r3gan", "rpgan", ("r1", "r2"), 512, 64)
    chosen = {k: cfg.gen_options[k] for k in ("width", "blocks", "expansion", "group_size")}
    assert chosen == {"width": 768, "blocks": 2, "expansion": 2, "group_size": 16} and cfg.conditional
    assert (cfg.g_optim.schedule, cfg.g_optim.lr, cfg.g_optim.final_lr, cfg.g_optim.betas) == (
        "cosine", 2e-4, 5e-5, (0.0, 0.9))
    assert "not measured" in DESCRIPTIONS["r3gan-cifar10"]


def test_the_r3gan_mnist_preset_trains_and_samples_on_28px_digits(tiny_mnist, tmp_path):
    cfg = ganforge.Trainer.from_preset("r3gan-mnist", progress=False).config
    assert (cfg.gen, cfg.disc, cfg.loss, cfg.regularizers, cfg.batch_size, cfg.latent_dim, cfg.data) == (
        "r3gan", "r3gan", "rpgan", ("r1", "r2"), 32, 64, "mnist")
    assert cfg.gen_options["widths"] == (32, 16, 8) and cfg.disc_options["group_size"] == 8
    assert {name: o["gamma"] for name, o in cfg.regularizer_options.items()} == {"r1": 1.0, "r2": 1.0}
    assert {o["every"] for o in cfg.regularizer_options.values()} == {1}  # on every D step, as the paper
    assert (cfg.g_optim.lr, cfg.g_optim.betas, cfg.ema_decay, cfg.ema_warmup) == (2e-3, (0.0, 0.99), 0.99, 200)
    trainer = ganforge.Trainer.from_preset("r3gan-mnist", data_root=str(tiny_mnist), split="test", steps=3, batch_size=4,
                                           out_dir=str(tmp_path / "run"), progress=False, sample_every=0)
    trainer.fit()
    assert trainer.step == 3
    images = trainer.sample(5)
    assert tuple(images.shape) == (5, 1, 28, 28) and bool(images.isfinite().all())
