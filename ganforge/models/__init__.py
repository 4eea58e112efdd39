"""Builtin generators and discriminators, registered through the plugin hooks.

Each module of this package defines one model family; every
:class:`~ganforge.interfaces.Generator` and
:class:`~ganforge.interfaces.Discriminator` subclass with a ``name`` found is registered.
"""

from __future__ import annotations

import sys

from ganforge.hookspecs import classes_in_package, hookimpl
from ganforge.interfaces import Discriminator, Generator


@hookimpl
def ganforge_register_generators():
    return classes_in_package(sys.modules[__name__], Generator)


@hookimpl
def ganforge_register_discriminators():
    return classes_in_package(sys.modules[__name__], Discriminator)
