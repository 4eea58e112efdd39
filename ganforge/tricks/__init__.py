"""Builtin tricks (soumith/ganhacks), registered through the plugin hooks.

Each module of this package defines one trick (a :class:`~ganforge.interfaces.Trick`
subclass with a ``name``); every one found is registered.
"""

from __future__ import annotations

import sys

from ganforge.hookspecs import classes_in_package, hookimpl
from ganforge.interfaces import Trick


@hookimpl
def ganforge_register_tricks():
    return classes_in_package(sys.modules[__name__], Trick)
