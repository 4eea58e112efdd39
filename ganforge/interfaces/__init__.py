"""The abstract interfaces every plugin implements.

Five kinds of plugin make a GAN run, plus one kind that feeds it:

* :class:`Generator` maps latent vectors (and optional class labels) to
  samples shaped like the data.
* :class:`Discriminator` maps samples to one real/fake logit each.
* :class:`Loss` turns logits (and, when it needs more, a :class:`LossContext`)
  into the two players' objectives.
* :class:`Regularizer` adds a penalty that needs the discriminator and the
  batches (gradient penalties, consistency terms) to one network's loss.
* :class:`Trick` changes the training at named events (see the class).
* :class:`Dataset` provides real samples.

Options: a plugin declares its options as an ``Options`` attrs class (see
:mod:`ganforge.options`); the interface's constructor checks them and keeps
them as ``self.options``.

Devices and dtypes: models are built on the CPU in float32; the Trainer moves
them to its device and, with mixed precision, runs them under autocast.
Every tensor a plugin receives during a step already lies on the Trainer's
device; a plugin must create its own tensors there too (``x.new_*``,
``torch.*_like`` or ``device=x.device``), never on the host, so that the step
needs no host synchronisation and can be captured in a CUDA graph.

The interfaces live one module per extension point (:mod:`~ganforge.interfaces.models`,
:mod:`~ganforge.interfaces.objective`, :mod:`~ganforge.interfaces.trick`,
:mod:`~ganforge.interfaces.dataset`); import them from here or from ``ganforge``.
"""

from __future__ import annotations

from ganforge.interfaces.base import ModelSpec
from ganforge.options import RUN_ARGS
from ganforge.interfaces.dataset import Dataset
from ganforge.interfaces.models import Discriminator, Generator
from ganforge.interfaces.networks import Network
from ganforge.interfaces.objective import Loss, LossContext, Regularizer, StepBatch
from ganforge.interfaces.trick import Trick, TrickContext

__all__ = [
    "PLUGIN_KINDS",
    "Dataset",
    "Discriminator",
    "Generator",
    "Loss",
    "LossContext",
    "ModelSpec",
    "Network",
    "Regularizer",
    "StepBatch",
    "Trick",
    "TrickContext",
]

#: The plugin kinds, by the name users and the registry use for them.
PLUGIN_KINDS: dict[str, type] = {
    "generator": Generator,
    "discriminator": Discriminator,
    "loss": Loss,
    "regularizer": Regularizer,
    "trick": Trick,
    "dataset": Dataset,
}
for _kind, _base in PLUGIN_KINDS.items():
    _base._ganforge_kind = _kind
    _base.__init__._ganforge_interface_init = True  # "**options" of the interface itself: the plugin takes none
Dataset._ganforge_run_args = RUN_ARGS
del _kind, _base
