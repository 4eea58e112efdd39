"""Named bundles of training settings that reproduce a published protocol.

Each preset is a dict of :class:`~ganforge.config.TrainConfig` fields; apply
one with ``TrainConfig.from_dict({**PRESETS[name], **overrides})`` (or
:func:`get_preset`).

``pacgan`` -- the 2-D mixture protocol of PacGAN (Lin et al. 2018, section
5.1 and Table 1, after VEEGAN): generator ``pacgan`` (4 hidden layers of 400
units, BatchNorm, ReLU, linear output), discriminator ``pacgan`` (3 maxout
layers of 200 units x 5 pieces), 2-d Gaussian noise, Adam with learning rate
1e-4 and betas (0.8, 0.999) for both networks, batch 100, and the paper's
budget of 400 epochs of 100,000 samples = 400,000 steps. Evaluate with
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

These are the paper's numbers, not ganforge measurements; see
``docs/metrics.md`` for what was measured here.
"""

from __future__ import annotations

import copy
from typing import Any

from ganforge.errors import ConfigError

_PACGAN_ADAM = {"name": "adam", "lr": 1e-4, "betas": (0.8, 0.999)}

PRESETS: dict[str, dict[str, Any]] = {
    "pacgan": {
        "gen": "pacgan",
        "disc": "pacgan",
        "loss": "bce",
        "data": "grid25",
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
        "latent_dim": 2,
        "batch_size": 400,
        "steps": 400_000,
        "tricks": ("pack",),
        "trick_options": {"pack": {"m": 4}},
        "g_optim": dict(_PACGAN_ADAM),
        "d_optim": dict(_PACGAN_ADAM),
    },
}


def get_preset(name: str) -> dict[str, Any]:
    """A copy of preset ``name``'s settings; unknown names raise :class:`ConfigError` listing the presets."""
    if name not in PRESETS:
        raise ConfigError(f"Unknown preset {name!r}; presets are: {', '.join(sorted(PRESETS))}.")
    return copy.deepcopy(PRESETS[name])
