"""Collecting the builtin plugin classes defined in a package's modules."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from types import ModuleType


def classes_in_package(package: ModuleType, base: type) -> list[type]:
    """Subclasses of ``base`` with a ``name`` defined in ``package``'s public modules, sorted by name.

    Builtins live one family per module (``models/mlp.py``, ``tricks/soft_labels.py``);
    this lets a new module register itself without editing a central list.
    """
    found: dict[str, type] = {}
    for module_info in pkgutil.iter_modules(package.__path__):
        if module_info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{package.__name__}.{module_info.name}")
        for _, obj in inspect.getmembers(module, inspect.isclass):
            if issubclass(obj, base) and obj.__module__ == module.__name__ and getattr(obj, "name", ""):
                found[obj.name] = obj
    return [found[name] for name in sorted(found)]
