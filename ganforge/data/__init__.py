"""Builtin data sets, registered through the plugin hooks, and the batch loaders.

Every :class:`~ganforge.interfaces.Dataset` subclass with a ``name`` defined in
a module of this package is registered.
"""

from __future__ import annotations

import sys

from ganforge.hookspecs import classes_in_package, hookimpl
from ganforge.interfaces import Dataset


@hookimpl
def ganforge_register_datasets():
    return classes_in_package(sys.modules[__name__], Dataset)
