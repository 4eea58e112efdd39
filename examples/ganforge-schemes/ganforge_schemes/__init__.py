"""ganforge-schemes: two GAN schemes as ganforge plugins, found through the entry point ``schemes``.

* ``aae`` (trick): an adversarial autoencoder (Makhzani et al. 2016), :mod:`ganforge_schemes.aae`.
* ``began`` (loss), ``began_ae`` (discriminator), ``began_log`` (trick): BEGAN (Berthelot et al. 2017),
  :mod:`ganforge_schemes.began`.

docs/schemes.md ("Writing a GAN algorithm") walks through both.
"""

from __future__ import annotations

import ganforge
from ganforge_schemes.aae import AdversarialAutoencoder
from ganforge_schemes.began import AutoencoderDiscriminator, BEGANLog, BEGANLoss

__version__ = "0.1.0"


@ganforge.hookimpl
def ganforge_register_discriminators():
    """BEGAN's autoencoder discriminator."""
    return [AutoencoderDiscriminator]


@ganforge.hookimpl
def ganforge_register_losses():
    """BEGAN's loss with its equilibrium term."""
    return [BEGANLoss]


@ganforge.hookimpl
def ganforge_register_tricks():
    """The adversarial autoencoder, and BEGAN's log of k and the convergence measure."""
    return [AdversarialAutoencoder, BEGANLog]
