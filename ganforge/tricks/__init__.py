"""Builtin tricks (soumith/ganhacks), registered through the plugin hooks.

Every module in this package defines one or more :class:`~ganforge.interfaces.Trick`
subclasses; all of them are registered (one trick per module is the habit).
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil

from ganforge.hookspecs import hookimpl
from ganforge.interfaces import Trick


def builtin_tricks() -> list[type[Trick]]:
    """The Trick classes defined in this package's modules, sorted by name."""
    found: dict[str, type[Trick]] = {}
    for module_info in pkgutil.iter_modules(__path__):
        if module_info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{module_info.name}")
        for _, obj in inspect.getmembers(module, inspect.isclass):
            if issubclass(obj, Trick) and obj is not Trick and obj.__module__ == module.__name__ and obj.name:
                found[obj.name] = obj
    return [found[name] for name in sorted(found)]


@hookimpl
def ganforge_register_tricks():
    return builtin_tricks()
