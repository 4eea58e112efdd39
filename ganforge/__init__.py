"""ganforge: train Generative Adversarial Networks in PyTorch from interchangeable plugins.

Quick start::

    from ganforge import Trainer
    history = Trainer(data="grid25", steps=500, tricks=["soft_labels"]).fit()
"""

from __future__ import annotations

__version__ = "0.1.0"

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
    TrainingDivergedError,
    UnknownPluginError,
)
from ganforge.history import History
from ganforge.hookspecs import hookimpl, hookspec
from ganforge.interpolate import interpolate, lerp, slerp  # the function shadows its module's name here
from ganforge.interfaces import Dataset, Discriminator, Generator, Loss, ModelSpec, StepBatch, Trick
from ganforge.registry import (
    PluginInfo,
    create_plugin,
    get_plugin,
    get_registry,
    list_plugins,
    register_plugin,
    reset_registry,
    unregister_plugin,
)
from ganforge.trainer import Trainer

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
    "ModelSpec",
    "OptimConfig",
    "PluginBuildError",
    "PluginContractError",
    "PluginError",
    "PluginInfo",
    "PluginLoadError",
    "RunDirectoryError",
    "StepBatch",
    "Trainer",
    "TrainConfig",
    "TrainingDivergedError",
    "Trick",
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
    "unregister_plugin",
]
