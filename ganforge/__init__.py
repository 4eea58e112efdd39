"""ganforge: train Generative Adversarial Networks in PyTorch from interchangeable plugins.

Quick start::

    from ganforge import Trainer
    history = Trainer(data="grid25", steps=500, tricks=["soft_labels"]).fit()
"""

from __future__ import annotations

from ganforge import (
    tune,  # a callable package: ganforge.tune(...) searches; Optuna is imported when it runs
)
from ganforge.config import OptimConfig, TrainConfig
from ganforge.errors import (
    CheckpointError,
    ConfigError,
    DataError,
    DataNotFoundError,
    DistributedError,
    DuplicatePluginError,
    GanforgeError,
    IncompatibleError,
    PluginBuildError,
    PluginContractError,
    PluginError,
    PluginLoadError,
    RunDirectoryError,
    RunLockedError,
    StorageError,
    TrainingDivergedError,
    UnknownPluginError,
)
from ganforge.hookspecs import hookimpl, hookspec
from ganforge.interfaces import (
    Dataset,
    Discriminator,
    Generator,
    Loss,
    LossContext,
    ModelSpec,
    Network,
    Regularizer,
    StepBatch,
    Trick,
    TrickContext,
)
from ganforge.interpolate import (  # the function shadows its module's name here
    interpolate,
    lerp,
    slerp,
)
from ganforge.io.history import History
from ganforge.registry import (
    PluginInfo,
    PluginNameWarning,
    create_plugin,
    get_plugin,
    get_registry,
    list_plugins,
    register_plugin,
    reset_registry,
    unregister_plugin,
)
from ganforge.trainer import Trainer
from ganforge.version import __version__

__all__ = [
    "CheckpointError",
    "ConfigError",
    "DataError",
    "DataNotFoundError",
    "Dataset",
    "Discriminator",
    "DistributedError",
    "DuplicatePluginError",
    "GanforgeError",
    "Generator",
    "History",
    "IncompatibleError",
    "Loss",
    "LossContext",
    "ModelSpec",
    "Network",
    "OptimConfig",
    "PluginBuildError",
    "PluginContractError",
    "PluginError",
    "PluginInfo",
    "PluginNameWarning",
    "PluginLoadError",
    "Regularizer",
    "RunDirectoryError",
    "RunLockedError",
    "StepBatch",
    "StorageError",
    "Trainer",
    "TrainConfig",
    "TrainingDivergedError",
    "Trick",
    "TrickContext",
    "UnknownPluginError",
    "__version__",
    "create_plugin",
    "get_plugin",
    "get_registry",
    "hookimpl",
    "hookspec",
    "interpolate",
    "lerp",
    "list_plugins",
    "register_plugin",
    "reset_registry",
    "slerp",
    "tune",
    "unregister_plugin",
]
