"""Named bundles of training settings: published protocols and ganforge's own recipes.

Each preset is a dict of :class:`~ganforge.config.TrainConfig` fields; apply
one with ``ganforge train --preset NAME`` (flags override it),
``Trainer.from_preset(name, **overrides)`` or
``TrainConfig.from_dict({**get_preset(name), **overrides})``. Every preset is
described in :data:`DESCRIPTIONS` (``ganforge train --help`` and
``docs/toolkit.md`` list them); the papers' numbers quoted there are the
papers', not measurements of ganforge.

Published protocols:

``pacgan`` -- the 2-D mixture protocol of PacGAN (Lin et al. 2018, section
5.1 and Table 1, after VEEGAN): data in the paper's units (``grid25`` with
``scale=1``), generator ``pacgan`` (4 hidden layers of 400 units, BatchNorm,
ReLU, linear output), discriminator ``pacgan`` (3 maxout layers of 200 units
x 5 pieces), 2-d Gaussian noise, Adam with learning rate 1e-4 and betas
(0.8, 0.999) for both networks, batch 100, and the paper's budget of 400
epochs of 100,000 samples = 400,000 steps. Evaluate with
:func:`ganforge.metrics.evaluate` (2,500 samples, 3-sigma high quality).

``pacgan4`` -- the same with the ``pack`` trick (m = 4) and batch 400, so the
discriminator still makes 100 decisions per update as in the PacGAN code
(which draws m batches of 100 per update).

Numbers PacGAN Table 1 reports on the 25-mode grid (mean ± standard error
over 10 runs):

==========  ================  =============  ===========
method      modes (max 25)    high quality   reverse KL
==========  ================  =============  ===========
GAN         17.3 ± 0.8        94.8 %         0.70
PacGAN4     24.8              93.6 %         0.04
==========  ================  =============  ===========

``sngan-cifar10`` -- SN-GAN on CIFAR-10 (Miyato et al. 2018, the ResNet of
their appendix): ``sngan`` generator and spectrally normalised ``sngan``
discriminator, hinge loss, 5 discriminator updates per generator update,
Adam 2e-4 with betas (0, 0.9), batch 64, 128-d latents, learning rate decayed
linearly to 0 over 50,000 generator updates. The paper reports an Inception
Score of 8.22 and an FID of 21.7 for it (unconditional CIFAR-10).

``wgan-gp`` -- WGAN-GP on CIFAR-10 (Gulrajani et al. 2017, the ResNet
experiments): the ``sngan`` ResNet models without spectral normalisation,
the Wasserstein loss with a gradient penalty of weight 10 on random
interpolates, 5 critic updates per generator update, Adam 2e-4 with betas
(0, 0.9), batch 64, learning rate decayed linearly to 0 over 100,000
generator updates. The paper reports an Inception Score of 7.86 on
unconditional CIFAR-10.

``dcgan`` -- DCGAN (Radford et al. 2015): ``dcgan`` models, the
non-saturating loss, Adam 2e-4 with beta1 0.5, batch 128, 100-d latents.
Pick the data set (``--data``); the paper trained on LSUN, faces and
ImageNet and reports no FID.

``lsgan`` -- LSGAN (Mao et al. 2017): the least-squares loss on ``dcgan``
models, Adam 2e-4 with beta1 0.5, batch 64.

ganforge's own recipes (found by measurement on one CPU thread; the figures
are in docs/toolkit.md with the command that made them):

``grid25`` -- the 2-D recipe on ``grid25`` (model space): ``mlp`` generator
with 4 hidden ReLU layers of 128 units and no normalisation, ``mlp``
discriminator with 3 hidden ReLU layers of 128 units, the non-saturating loss
with an R1 penalty of gamma 0.1 applied lazily every 4 steps (Karras et al.
2020), Adam 5e-4 with betas (0, 0.9) for both
networks decayed linearly to 0, batch 128, 2-d latents, a generator EMA of
decay 0.999, 40,000 steps.

``ring8`` -- the same recipe on ``ring8``.

``grid25-quick`` -- the same recipe, conditional on the mode's label (both
networks embed it; ``conditional=True``) and cut to 6,000 steps: the README's
first run (about 20 s of one CPU thread). Unconditional, the recipe needs
about 16,000 steps for 80 % high-quality samples (6,000 steps gave 4-26 %).

``mnist`` -- ganforge's MNIST recipe for a few minutes of one CPU thread: the
classic ``mlp`` pair with the hinge loss, the ``minibatch_discrimination``
trick and a generator EMA of decay 0.999, Adam 2e-4 (0.5, 0.999), batch 64,
6,500 steps (under 5 minutes of one thread). Pass ``--data-root``.

The GAN schemes on MNIST (a few minutes of one CPU thread each; measured by
``benchmarks/schemes.py`` and ``benchmarks/translation.py``, figures in
docs/tricks.md). Pass ``--data-root``; swap ``--data`` for your own images
(``paired-folder``, ``unpaired-folder``, ``image-folder``):

``infogan-mnist`` -- InfoGAN (Chen et al. 2016): the ``mnist`` recipe's
``mlp`` pair and hinge loss with the ``infogan`` trick (a 10-way categorical
and 2 continuous codes, Q a head on D's features), 62-d noise, batch 64,
6,000 steps.

``vaegan-mnist`` -- VAE-GAN (Larsen et al. 2016, ganhacks #7's hybrid): the
``vaegan`` trick's encoder on the ``mlp`` pair, D's features as the learned
similarity, hinge loss, 32-d latents, a generator EMA of decay 0.999, batch
64, 5,500 steps.

``pix2pix-mnist`` -- pix2pix (Isola et al. 2017) scaled to 28 x 28: ``unet``
generator and ``patchgan`` discriminator (width 16), the non-saturating loss
with the ``pix2pix`` trick's L1 of weight 100, Adam 2e-4 (0.5, 0.999), batch
16, no latent (G's noise is its dropout), on ``mnist-edges2digits`` (a
digit's outline -> the digit), 2,000 steps.

``cyclegan-mnist`` -- CycleGAN (Zhu et al. 2017) scaled to 28 x 28: two
``unet`` generators and two ``patchgan`` discriminators (width 8, instance
norm), the least-squares loss, cycle weight 10, identity 0.5, image pools of
50, batch 8, Adam 1e-3 (0.5, 0.999) -- five times the paper's rate, for a few
minutes of a CPU -- on ``mnist-digits2thick`` (digits <-> thickened digits of
other images), 800 steps.

R3GAN (Huang et al. 2024):

``r3gan-mnist`` -- R3GAN's networks and objective scaled down to about five
minutes of one CPU thread on 28 x 28 MNIST: ``r3gan`` networks with stage
widths 32, 16, 8 (from the 7 x 7 base up; one block per stage, expansion 2,
groups of 8 channels), 64-d latents, the ``rpgan`` loss with R1 and R2 on
every D step, Adam with betas (0, 0.99), batch 32, 1,700 steps, an EMA of 0.99
(warm-up 200 steps). Three settings differ from the paper's -- gamma 1 (the
paper: 0.05), learning rate 2e-3 (2e-4) and the short EMA -- chosen by
one-seed trials of 1,000 steps (``benchmarks/r3gan_trials.py``). Constant
hyper-parameters: at this length the paper's ramps have no room. Measured
against ``mnist`` and ``dcgan`` at the same wall-clock budgets in
docs/benchmarks.md.

``r3gan-cifar10`` -- the paper's CIFAR-10 settings as far as ganforge can
express them: ``r3gan`` networks of width 768 (2 blocks per stage, expansion
2, groups of 16 channels: cardinality 96), 64-d latents, class-conditional,
the ``rpgan`` loss with R1 and R2, Adam with betas (0, 0.9) (eps 1e-8, PyTorch's default),
learning rate 2e-4 decayed by a cosine to 5e-5 over the run, batch 512,
39,063 steps (the paper's 20 M images of schedule), and the paper's cosine
ramps over those steps (``schedules``): beta2 from 0.9 to 0.99, gamma of R1
and R2 from 0.05 to 0.005, and the generator EMA's half-life from 0 to 9,766
updates (5 M images at batch 512; the decay ends at 0.99993). The paper also
augments (probability ramped to 0.55); ganforge has no such augmentation, so
there is none here. The paper reports FID 1.96 (conditional CIFAR-10). Needs a
GPU.

"""

from __future__ import annotations

import copy
from typing import Any

from ganforge.config import RUN_PLUGINS
from ganforge.errors import ConfigError

_PACGAN_ADAM = {"name": "adam", "lr": 1e-4, "betas": (0.8, 0.999)}
_SNGAN_ADAM = {"name": "adam", "lr": 2e-4, "betas": (0.0, 0.9), "schedule": "linear", "final_lr": 0.0}
_DCGAN_ADAM = {"name": "adam", "lr": 2e-4, "betas": (0.5, 0.999)}

#: R3GAN's CIFAR-10 networks (Huang et al. 2024) and optimizer, as far as ganforge's settings reach.
_R3GAN_CIFAR10 = {"width": 768, "blocks": 2, "expansion": 2, "group_size": 16}
_R3GAN_ADAM = {"name": "adam", "lr": 2e-4, "betas": (0.0, 0.9), "schedule": "cosine", "final_lr": 5e-5}  # eps: 1e-8, torch's default
#: The small R3GAN of r3gan-mnist (one CPU thread, about five minutes).
_R3GAN_MNIST = {"widths": (32, 16, 8), "blocks": 1, "expansion": 2, "group_size": 8}
_R3GAN_MNIST_ADAM = {"name": "adam", "lr": 2e-3, "betas": (0.0, 0.99)}

_RECIPE_ADAM = {"name": "adam", "lr": 5e-4, "betas": (0.0, 0.9), "schedule": "linear", "final_lr": 0.0}
#: ganforge's 2-D recipe (see the module docstring); ``data`` and ``steps`` are set per preset.
_RECIPE_2D: dict[str, Any] = {
    "gen": "mlp",
    "disc": "mlp",
    "gen_options": {"hidden": (128, 128, 128, 128), "activation": "relu", "norm": "none"},
    "disc_options": {"hidden": (128, 128, 128), "activation": "relu"},
    "loss": "bce",
    "regularizers": ("r1",),
    "regularizer_options": {"r1": {"gamma": 0.1, "every": 4}},
    "latent_dim": 2,
    "batch_size": 128,
    "ema_decay": 0.999,
    "g_optim": dict(_RECIPE_ADAM),
    "d_optim": dict(_RECIPE_ADAM),
    "sample_every": 4000,
    "checkpoint_every": 4000,
}

PRESETS: dict[str, dict[str, Any]] = {
    "grid25": {**copy.deepcopy(_RECIPE_2D), "data": "grid25", "steps": 40_000},
    "ring8": {**copy.deepcopy(_RECIPE_2D), "data": "ring8", "steps": 40_000},
    "grid25-quick": {**copy.deepcopy(_RECIPE_2D), "data": "grid25", "conditional": True, "steps": 6_000},
    "mnist": {
        "gen": "mlp",
        "disc": "mlp",
        "loss": "hinge",
        "tricks": ("minibatch_discrimination",),
        "ema_decay": 0.999,
        "data": "mnist",
        "batch_size": 64,
        "steps": 6_500,
    },
    "pacgan": {
        "gen": "pacgan",
        "disc": "pacgan",
        "loss": "bce",
        "data": "grid25",
        "data_options": {"scale": 1.0},
        "latent_dim": 2,
        "batch_size": 100,
        "steps": 400_000,
        "g_optim": dict(_PACGAN_ADAM),
        "d_optim": dict(_PACGAN_ADAM),
    },
    "pacgan4": {
        "gen": "pacgan",
        "disc": "pacgan",
        "loss": "bce",
        "data": "grid25",
        "data_options": {"scale": 1.0},
        "latent_dim": 2,
        "batch_size": 400,
        "steps": 400_000,
        "tricks": ("pack",),
        "trick_options": {"pack": {"m": 4}},
        "g_optim": dict(_PACGAN_ADAM),
        "d_optim": dict(_PACGAN_ADAM),
    },
    "sngan-cifar10": {
        "gen": "sngan",
        "disc": "sngan",
        "disc_options": {"spectral_norm": True},
        "loss": "hinge",
        "data": "cifar10",
        "latent_dim": 128,
        "batch_size": 64,
        "steps": 50_000,
        "tricks": ("d_steps",),
        "trick_options": {"d_steps": {"k": 5}},
        "g_optim": dict(_SNGAN_ADAM),
        "d_optim": dict(_SNGAN_ADAM),
    },
    "wgan-gp": {
        "gen": "sngan",
        "disc": "sngan",
        "disc_options": {"spectral_norm": False},
        "loss": "wgan_gp",
        "data": "cifar10",
        "latent_dim": 128,
        "batch_size": 64,
        "steps": 100_000,
        "tricks": ("d_steps",),
        "trick_options": {"d_steps": {"k": 5}},
        "g_optim": dict(_SNGAN_ADAM),
        "d_optim": dict(_SNGAN_ADAM),
    },
    "dcgan": {
        "gen": "dcgan",
        "disc": "dcgan",
        "loss": "bce",
        "latent_dim": 100,
        "batch_size": 128,
        "g_optim": dict(_DCGAN_ADAM),
        "d_optim": dict(_DCGAN_ADAM),
    },
    "lsgan": {
        "gen": "dcgan",
        "disc": "dcgan",
        "loss": "lsgan",
        "batch_size": 64,
        "g_optim": dict(_DCGAN_ADAM),
        "d_optim": dict(_DCGAN_ADAM),
    },
    "infogan-mnist": {
        "gen": "mlp",
        "disc": "mlp",
        "loss": "hinge",
        "tricks": ("minibatch_discrimination", "infogan"),
        "trick_options": {"infogan": {"categorical": 10, "continuous": 2}},
        "latent_dim": 62,
        "data": "mnist",
        "batch_size": 64,
        "steps": 6_000,
    },
    "vaegan-mnist": {
        "gen": "mlp",
        "disc": "mlp",
        "loss": "hinge",
        "tricks": ("vaegan",),
        "latent_dim": 32,
        "ema_decay": 0.999,
        "data": "mnist",
        "batch_size": 64,
        "steps": 5_500,
    },
    "pix2pix-mnist": {
        "data": "mnist-edges2digits",
        "gen": "unet",
        "disc": "patchgan",
        "gen_options": {"width": 16},
        "disc_options": {"width": 16},
        "loss": "bce",
        "tricks": ("pix2pix",),
        "trick_options": {"pix2pix": {"l1_weight": 100.0}},
        "latent_dim": 0,
        "batch_size": 16,
        "g_optim": dict(_DCGAN_ADAM),
        "d_optim": dict(_DCGAN_ADAM),
        "steps": 2_000,
    },
    "cyclegan-mnist": {
        "data": "mnist-digits2thick",
        "gen": "unet",
        "disc": "patchgan",
        "gen_options": {"width": 8, "norm": "instance"},
        "disc_options": {"width": 8, "norm": "instance"},
        "loss": "lsgan",
        "tricks": ("cyclegan",),
        "trick_options": {"cyclegan": {"cycle_weight": 10.0, "identity_weight": 0.5, "pool_size": 50}},
        "latent_dim": 0,
        "batch_size": 8,
        "g_optim": {**_DCGAN_ADAM, "lr": 1e-3},
        "d_optim": {**_DCGAN_ADAM, "lr": 1e-3},
        "steps": 800,
    },
    "r3gan-mnist": {
        "gen": "r3gan",
        "disc": "r3gan",
        "gen_options": dict(_R3GAN_MNIST),
        "disc_options": dict(_R3GAN_MNIST),
        "loss": "rpgan",
        "regularizers": ("r1", "r2"),
        "regularizer_options": {"r1": {"gamma": 1.0}, "r2": {"gamma": 1.0}},
        "data": "mnist",
        "latent_dim": 64,
        "batch_size": 32,
        "steps": 1_700,
        "ema_decay": 0.99,
        "ema_warmup": 200,
        "g_optim": dict(_R3GAN_MNIST_ADAM),
        "d_optim": dict(_R3GAN_MNIST_ADAM),
    },
    "r3gan-cifar10": {
        "gen": "r3gan",
        "disc": "r3gan",
        "gen_options": dict(_R3GAN_CIFAR10),
        "disc_options": dict(_R3GAN_CIFAR10),
        "loss": "rpgan",
        "regularizers": ("r1", "r2"),
        "regularizer_options": {"r1": {"gamma": 0.05}, "r2": {"gamma": 0.05}},
        "data": "cifar10",
        "conditional": True,
        "latent_dim": 64,
        "batch_size": 512,
        "steps": 39_063,
        "ema_decay": 0.99993,  # enables the EMA; its half-life schedule sets the decay
        "g_optim": dict(_R3GAN_ADAM),
        "d_optim": dict(_R3GAN_ADAM),
        "schedules": {
            "g_optim.beta2": "cosine:0.9:0.99", "d_optim.beta2": "cosine:0.9:0.99",
            "r1.gamma": "cosine:0.05:0.005", "r2.gamma": "cosine:0.05:0.005",
            "ema.half_life": "cosine:0:9766",  # 5 M images / 512 per step
        },
    },
}

#: One line per preset: where it comes from.
DESCRIPTIONS: dict[str, str] = {
    "grid25": "ganforge's 2-D recipe on grid25: ReLU MLPs, bce + lazy R1 0.1, Adam 5e-4 (0, 0.9) decayed, EMA, 40k steps",
    "ring8": "ganforge's 2-D recipe on ring8 (as grid25)",
    "grid25-quick": "the grid25 recipe conditional on the mode's label, 6k steps: the README's first run (~20 s)",
    "mnist": "ganforge's MNIST recipe for one CPU thread: mlp, hinge, minibatch_discrimination, EMA, 6.5k steps",
    "pacgan": "PacGAN's 2-D protocol (Lin et al. 2018): grid25 in data units, pacgan models, Adam 1e-4",
    "pacgan4": "PacGAN4: the pacgan protocol with packs of 4 samples",
    "sngan-cifar10": "SN-GAN on CIFAR-10 (Miyato et al. 2018): ResNet, hinge, n_dis 5, Adam 2e-4 (0, 0.9)",
    "wgan-gp": "WGAN-GP on CIFAR-10 (Gulrajani et al. 2017): ResNet, gradient penalty 10, n_critic 5",
    "dcgan": "DCGAN (Radford et al. 2015): dcgan models, Adam 2e-4 beta1 0.5, batch 128",
    "lsgan": "LSGAN (Mao et al. 2017): least-squares loss on dcgan models",
    "infogan-mnist": "InfoGAN (Chen et al. 2016) on MNIST: mlp pair, hinge, 10-way + 2 continuous codes, 6k steps",
    "vaegan-mnist": "VAE-GAN (Larsen et al. 2016; ganhacks #7) on MNIST: encoder + mlp pair, D-feature similarity, 5.5k steps",
    "pix2pix-mnist": "pix2pix (Isola et al. 2017) on MNIST outlines -> digits: unet, patchgan, L1 x 100, 2k steps",
    "cyclegan-mnist": "CycleGAN (Zhu et al. 2017) on MNIST digits <-> thick digits: 2 unets, 2 patchgans, cycle 10, 800 steps",
    "r3gan-mnist": "R3GAN (Huang et al. 2024) scaled to one CPU thread on MNIST: widths 32/16/8, rpgan + R1 + R2 (gamma 1), 1.7k steps",
    "r3gan-cifar10": "R3GAN (Huang et al. 2024) on CIFAR-10: width-768 r3gan nets, rpgan + R1 + R2, batch 512; not measured",
}


#: (list field, the field of per-name options for its entries) pairs a preset or a file may set together.
NAMED_OPTIONS: tuple[tuple[str, str], ...] = tuple((p.field, p.options) for p in RUN_PLUGINS if p.listed)


def _names_in(value: Any) -> set[str]:
    """The names a ``tricks`` / ``regularizers`` value lists (a comma-separated string or a sequence)."""
    if value is None:
        return set()
    if isinstance(value, str):
        return {v.strip() for v in value.split(",") if v.strip()}
    try:
        return {v for v in value if isinstance(v, str)}
    except TypeError:  # not a list: TrainConfig's converter reports it
        return set()


def drop_unused_options(base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``base`` (a preset's or a file's settings) without its options for the names ``overrides`` drops.

    When ``overrides`` replaces the list of tricks (or regularizers), the
    options ``base`` set for a trick that the new list leaves out configured
    the preset's trick, not one the user asked for: they are dropped, so
    ``--preset pacgan4 --tricks soft_labels`` trains with ``soft_labels`` alone
    instead of failing on ``pack``'s options. The options ``base`` sets for
    the tricks that stay still apply, and options the user gives in
    ``overrides`` are kept whatever the list (an option for a trick that is
    not enabled still fails when the configuration is built).
    """
    out = copy.deepcopy(dict(base))
    for names_field, options_field in NAMED_OPTIONS:
        options = out.get(options_field)
        if names_field not in overrides or not isinstance(options, dict):
            continue
        enabled = _names_in(overrides[names_field])
        out[options_field] = {name: opts for name, opts in options.items() if name in enabled}
    return out


def get_preset(name: str, **overrides: Any) -> dict[str, Any]:
    """A copy of preset ``name``'s settings with ``overrides`` in place of its fields.

    Unknown names raise :class:`ConfigError` listing the presets. An override
    of ``tricks`` or ``regularizers`` replaces the preset's list, and the
    preset's options for the names it leaves out are dropped
    (:func:`drop_unused_options`); :meth:`ganforge.Trainer.from_preset` builds
    its configuration from this.
    """
    if name not in PRESETS:
        raise ConfigError(f"Unknown preset {name!r}; presets are: {', '.join(sorted(PRESETS))}.")
    settings = drop_unused_options(PRESETS[name], overrides)
    settings.update(copy.deepcopy(overrides))
    return settings
