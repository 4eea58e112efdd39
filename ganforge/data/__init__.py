"""Builtin data sets, registered through the plugin hooks, and the batch loaders."""

from __future__ import annotations

from ganforge.data.mixtures import Grid25, Ring8
from ganforge.data.mnist import MNIST
from ganforge.hookspecs import hookimpl

BUILTIN_DATASETS = [MNIST, Grid25, Ring8]


@hookimpl
def ganforge_register_datasets():
    return list(BUILTIN_DATASETS)
