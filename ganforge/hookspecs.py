"""The hooks through which plugins add to ganforge.

A plugin is a module (or any object) with functions decorated by
``ganforge.hookimpl`` whose names match the specifications below. ganforge's
own builtins register through exactly these hooks; third-party distributions
are found through the ``ganforge`` entry-point group::

    # pyproject.toml of ganforge-myplugin
    [project.entry-points.ganforge]
    myplugin = "ganforge_myplugin"

    # ganforge_myplugin/__init__.py
    import ganforge

    @ganforge.hookimpl
    def ganforge_register_generators():
        return [MyGenerator]

Every ``ganforge_register_*`` hook is called once per plugin when the registry
is built; all results are collected (no first-result-wins). Each returned
class must subclass the matching interface from :mod:`ganforge.interfaces`
and carry a unique ``name``; a name registered twice raises
:class:`~ganforge.errors.DuplicatePluginError` naming both plugins.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from types import ModuleType

import pluggy

PROJECT_NAME = "ganforge"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


# ---------------------------------------------------------------------------
# Models
# ---------------------------------------------------------------------------


@hookspec
def ganforge_register_generators():
    """Return a list of :class:`~ganforge.interfaces.Generator` subclasses.

    Each class is registered under its ``name`` class attribute, with the
    first line of its docstring (or its ``description``) as its one-line
    description. Called once, when the registry is built; all plugins'
    lists are combined.

    Example::

        @ganforge.hookimpl
        def ganforge_register_generators():
            return [TinyGenerator]
    """


@hookspec
def ganforge_register_discriminators():
    """Return a list of :class:`~ganforge.interfaces.Discriminator` subclasses.

    Same rules as :func:`ganforge_register_generators`.

    Example::

        @ganforge.hookimpl
        def ganforge_register_discriminators():
            return [TinyDiscriminator]
    """


# ---------------------------------------------------------------------------
# Training objective and tricks
# ---------------------------------------------------------------------------


@hookspec
def ganforge_register_losses():
    """Return a list of :class:`~ganforge.interfaces.Loss` subclasses.

    Same rules as :func:`ganforge_register_generators`.

    Example::

        @ganforge.hookimpl
        def ganforge_register_losses():
            return [HingeLoss]
    """


@hookspec
def ganforge_register_regularizers():
    """Return a list of :class:`~ganforge.interfaces.Regularizer` subclasses.

    Same rules as :func:`ganforge_register_generators`. A regularizer adds a
    penalty that needs the discriminator and the batches (a gradient penalty,
    a consistency term) to one network's loss; users enable it by name
    (``regularizers=["r1"]``, ``--regularizers r1``) with any loss.

    Example::

        @ganforge.hookimpl
        def ganforge_register_regularizers():
            return [GradientPenalty]
    """


@hookspec
def ganforge_register_tricks():
    """Return a list of :class:`~ganforge.interfaces.Trick` subclasses.

    Same rules as :func:`ganforge_register_generators`. A trick may set the
    class attribute ``ganhacks`` to the number of the soumith/ganhacks item
    it implements; ``ganforge plugins`` shows it.

    Example::

        @ganforge.hookimpl
        def ganforge_register_tricks():
            return [ClipWeights]
    """


# ---------------------------------------------------------------------------
# Data
# ---------------------------------------------------------------------------


@hookspec
def ganforge_register_datasets():
    """Return a list of :class:`~ganforge.interfaces.Dataset` subclasses.

    Same rules as :func:`ganforge_register_generators`.

    Example::

        @ganforge.hookimpl
        def ganforge_register_datasets():
            return [Spiral]
    """


# ---------------------------------------------------------------------------
# For plugin packages
# ---------------------------------------------------------------------------


def classes_in_package(package: ModuleType, base: type) -> list[type]:
    """Subclasses of ``base`` with a ``name`` defined in ``package``'s public modules, sorted by name.

    What a hook can return for a package of plugins kept one family per module (ganforge's builtins:
    ``models/mlp.py``, ``tricks/soft_labels.py``): a new module registers itself without a central list.

    Example::

        @ganforge.hookimpl
        def ganforge_register_tricks():
            return classes_in_package(my_package.tricks, ganforge.Trick)
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
