"""The plugin registry: pluggy plugin manager, entry-point discovery, look-ups.

ganforge's builtins (:data:`DEFAULT_PLUGINS`) and third-party distributions
(entry-point group ``ganforge``) register through the same hooks
(:mod:`ganforge.hookspecs`). The registry is built lazily on first use and
cached; :func:`reset_registry` forgets it (tests, interactive sessions).

Environment variables:

* ``GANFORGE_DISABLE_PLUGIN_AUTOLOAD=1`` -- load no third-party entry points.
* ``GANFORGE_PLUGINS=a,b`` -- load only the named entry points.
"""

from __future__ import annotations

import difflib
import fnmatch
import importlib
import importlib.metadata
import os
import threading
from collections.abc import Iterable
from typing import Any

import attrs
import pluggy

from ganforge import hookspecs
from ganforge.errors import (
    ConfigError,
    GanforgeError,
    DuplicatePluginError,
    PluginError,
    PluginLoadError,
    UnknownPluginError,
)
from ganforge.interfaces import PLUGIN_KINDS
from ganforge.options import accepted_options, check_option_names

ENTRY_POINT_GROUP = "ganforge"
DISABLE_AUTOLOAD_ENV = "GANFORGE_DISABLE_PLUGIN_AUTOLOAD"
ALLOW_LIST_ENV = "GANFORGE_PLUGINS"

#: Modules holding ganforge's own hook implementations, registered first.
DEFAULT_PLUGINS: tuple[str, ...] = (
    "ganforge.models",
    "ganforge.losses",
    "ganforge.regularizers",
    "ganforge.tricks",
    "ganforge.data",
)

#: Which hook registers which kind.
KIND_HOOKS: dict[str, str] = {
    "generator": "ganforge_register_generators",
    "discriminator": "ganforge_register_discriminators",
    "loss": "ganforge_register_losses",
    "regularizer": "ganforge_register_regularizers",
    "trick": "ganforge_register_tricks",
    "dataset": "ganforge_register_datasets",
}

_LIST_HINT = "Run 'ganforge plugins' to list installed plugins."


@attrs.frozen
class PluginInfo:
    """One registered implementation.

    Attributes:
        kind: ``generator``, ``discriminator``, ``loss``, ``trick`` or ``dataset``.
        name: The name it is selected by.
        description: One line saying what it is.
        cls: The implementing class.
        plugin: The name of the plugin that registered it (``ganforge.models``
            for builtins, the entry-point name for third parties).
        distribution: ``"name version"`` of the distribution that provided the
            plugin, or None when it was registered by hand.
        ganhacks: The ganhacks item number (tricks only), or None.
    """

    kind: str
    name: str
    description: str
    cls: type
    plugin: str
    distribution: str | None = None
    ganhacks: int | None = None

    @property
    def source(self) -> str:
        """Where the implementation came from, for messages."""
        where = f"plugin '{self.plugin}'"
        if self.distribution:
            where += f" (distribution {self.distribution})"
        return where

    def to_json(self) -> dict[str, Any]:
        """A JSON-serialisable record, as ``ganforge plugins --json`` prints it."""
        return {
            "kind": self.kind,
            "name": self.name,
            "description": self.description,
            "class": f"{self.cls.__module__}.{self.cls.__qualname__}",
            "plugin": self.plugin,
            "distribution": self.distribution,
            "ganhacks": self.ganhacks,
        }


def _load_entry_points(pm: pluggy.PluginManager, dist_names: dict[str, str]) -> None:
    """Import and register every ``ganforge`` entry point, naming any that fails."""
    if os.environ.get(DISABLE_AUTOLOAD_ENV, "").strip() not in ("", "0"):
        return
    allowed = {n.strip() for n in os.environ.get(ALLOW_LIST_ENV, "").split(",") if n.strip()} or None
    for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        if allowed is not None and ep.name not in allowed:
            continue
        if pm.get_plugin(ep.name) is not None or pm.is_blocked(ep.name):
            continue
        dist = getattr(ep, "dist", None)
        dist_label = f"{dist.metadata['Name']} {dist.version}" if dist is not None else "unknown distribution"
        try:
            plugin = ep.load()
        except Exception as exc:  # a broken plugin must be named, not dumped
            raise PluginLoadError(
                f'Error importing plugin "{ep.name}" ({ep.value}) from distribution {dist_label}: '
                f"{type(exc).__name__}: {exc}. Fix or uninstall that distribution, or set "
                f"{DISABLE_AUTOLOAD_ENV}=1 to start without third-party plugins."
            ) from exc
        try:
            pm.register(plugin, name=ep.name)
        except Exception as exc:
            raise PluginLoadError(
                f'Error registering plugin "{ep.name}" from distribution {dist_label}: {exc}. '
                f"Set {DISABLE_AUTOLOAD_ENV}=1 to start without third-party plugins."
            ) from exc
        dist_names[ep.name] = dist_label


class Registry:
    """Everything the plugins registered, by kind and name.

    Build it with :func:`get_registry`; it is immutable once built.
    """

    def __init__(self, pm: pluggy.PluginManager, dist_names: dict[str, str] | None = None):
        self._pm = pm
        dist_names = dist_names or {}
        self._entries: dict[str, dict[str, PluginInfo]] = {kind: {} for kind in KIND_HOOKS}
        for kind, hook_name in KIND_HOOKS.items():
            caller = getattr(pm.hook, hook_name)
            # Call each implementation on its own so every class keeps its source.
            for impl in caller.get_hookimpls():  # in registration order
                plugin_name = pm.get_name(impl.plugin) or repr(impl.plugin)
                try:
                    classes = impl.function()
                except Exception as exc:
                    raise PluginLoadError(
                        f"Plugin '{plugin_name}' failed in {hook_name}(): {type(exc).__name__}: {exc}. "
                        f"Set {DISABLE_AUTOLOAD_ENV}=1 to start without third-party plugins."
                    ) from exc
                for cls in classes or ():
                    self._add(kind, cls, plugin_name, dist_names.get(plugin_name))

    def _add(self, kind: str, cls: Any, plugin_name: str, distribution: str | None) -> None:
        base = PLUGIN_KINDS[kind]
        if not (isinstance(cls, type) and issubclass(cls, base)):
            raise PluginError(
                f"Plugin '{plugin_name}' registered {cls!r} as a {kind}, but a {kind} must be a "
                f"subclass of ganforge.{base.__name__}."
            )
        name = getattr(cls, "name", "")
        if not isinstance(name, str) or not name:
            raise PluginError(
                f"Plugin '{plugin_name}' registered {kind} class {cls.__qualname__} without a name; "
                f"set the class attribute name = '...'."
            )
        info = PluginInfo(
            kind=kind,
            name=name,
            description=cls.summary(),
            cls=cls,
            plugin=plugin_name,
            distribution=distribution,
            ganhacks=getattr(cls, "ganhacks", None) if kind == "trick" else None,
        )
        existing = self._entries[kind].get(name)
        if existing is not None:
            raise DuplicatePluginError(
                f"Two plugins register a {kind} named '{name}': {existing.cls.__qualname__} from "
                f"{existing.source} and {cls.__qualname__} from {info.source}. Uninstall one of them, "
                f"or allow-list plugins with {ALLOW_LIST_ENV}=name1,name2."
            )
        self._entries[kind][name] = info

    @property
    def plugin_manager(self) -> pluggy.PluginManager:
        """The underlying pluggy plugin manager."""
        return self._pm

    def list(
        self,
        kind: str | None = None,
        include: str | Iterable[str] | None = None,
        exclude: str | Iterable[str] | None = None,
    ) -> list[PluginInfo]:
        """Registered implementations, sorted by kind then name.

        Args:
            kind: Only this kind (None: all kinds).
            include: fnmatch pattern(s) a name must match (e.g. ``"*label*"``).
            exclude: fnmatch pattern(s) a name must not match.
        """
        kinds = [_check_kind(kind)] if kind is not None else list(KIND_HOOKS)
        inc = [include] if isinstance(include, str) else list(include or [])
        exc = [exclude] if isinstance(exclude, str) else list(exclude or [])
        out = []
        for k in kinds:
            for name in sorted(self._entries[k]):
                if inc and not any(fnmatch.fnmatch(name, p) for p in inc):
                    continue
                if any(fnmatch.fnmatch(name, p) for p in exc):
                    continue
                out.append(self._entries[k][name])
        return out

    def names(self, kind: str) -> list[str]:
        """Sorted names registered for ``kind``."""
        return sorted(self._entries[_check_kind(kind)])

    def get(self, kind: str, name: str) -> PluginInfo:
        """The implementation registered as ``name``; raises :class:`UnknownPluginError`."""
        entries = self._entries[_check_kind(kind)]
        if name in entries:
            return entries[name]
        available = sorted(entries)
        msg = f"Unknown {kind} {name!r}."
        close = difflib.get_close_matches(str(name), available, n=3, cutoff=0.6)
        if close:
            msg += " Did you mean " + " or ".join(repr(c) for c in close) + "?"
        msg += f" Available: {', '.join(available) if available else '(none registered)'}. {_LIST_HINT}"
        raise UnknownPluginError(msg)

    def create(self, kind: str, name: str, *args: Any, **options: Any) -> Any:
        """Instantiate ``name`` with positional ``args`` and keyword ``options``.

        Unknown option names raise :class:`~ganforge.errors.ConfigError`
        listing the accepted ones.
        """
        info = self.get(kind, name)
        check_options(info, options)
        try:
            return info.cls(*args, **options)
        except GanforgeError:
            raise
        except (TypeError, ValueError) as exc:  # e.g. int("abc") on an option value
            shown = ", ".join(f"{k}={v!r}" for k, v in options.items()) or "no options"
            raise ConfigError(
                f"{kind.capitalize()} '{name}' could not be built with {shown}: {type(exc).__name__}: {exc}. "
                f"Check the option values (the class is {info.cls.__module__}.{info.cls.__qualname__})."
            ) from exc


def plugin_options(cls: type) -> dict[str, Any] | None:
    """The keyword options ``cls`` accepts with their defaults (None: accepts any); see :mod:`ganforge.options`."""
    return accepted_options(cls)


def check_options(info: PluginInfo, options: dict[str, Any]) -> None:
    """Raise :class:`ConfigError` for options ``info``'s class does not accept."""
    check_option_names(info.cls, options)


def _check_kind(kind: str) -> str:
    if kind not in KIND_HOOKS:
        raise ConfigError(f"Unknown plugin kind {kind!r}; kinds are: {', '.join(KIND_HOOKS)}.")
    return kind


def make_plugin_manager(load_entry_points: bool = True) -> tuple[pluggy.PluginManager, dict[str, str]]:
    """A fresh plugin manager with the builtins (and, optionally, entry points) registered."""
    pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    pm.add_hookspecs(hookspecs)
    for modname in DEFAULT_PLUGINS:
        pm.register(importlib.import_module(modname), name=modname)
    for name, plugin in _EXTRA_PLUGINS.items():
        pm.register(plugin, name=name)
    dist_names: dict[str, str] = {}
    if load_entry_points:
        _load_entry_points(pm, dist_names)
    return pm, dist_names


_lock = threading.Lock()
_registry: Registry | None = None
_EXTRA_PLUGINS: dict[str, Any] = {}


def get_registry() -> Registry:
    """The process-wide registry, built on first use."""
    global _registry
    with _lock:
        if _registry is None:
            _registry = Registry(*make_plugin_manager())
        return _registry


def reset_registry() -> None:
    """Forget the cached registry; the next look-up rebuilds it (and reloads entry points)."""
    global _registry
    with _lock:
        _registry = None


def register_plugin(plugin: Any, name: str | None = None) -> str:
    """Register a plugin object (a module or any object with hook implementations) by hand.

    Useful in notebooks and tests; installed distributions should use the
    ``ganforge`` entry-point group instead. Returns the plugin's name.
    """
    name = name or getattr(plugin, "__name__", None) or repr(plugin)
    if name in _EXTRA_PLUGINS or name in DEFAULT_PLUGINS:
        raise DuplicatePluginError(f"A plugin named {name!r} is already registered; pass another name=.")
    _EXTRA_PLUGINS[name] = plugin
    reset_registry()
    return name


def unregister_plugin(name: str) -> None:
    """Remove a plugin added with :func:`register_plugin`."""
    if name not in _EXTRA_PLUGINS:
        raise UnknownPluginError(f"No plugin named {name!r} was registered with register_plugin().")
    del _EXTRA_PLUGINS[name]
    reset_registry()


def list_plugins(kind: str | None = None, include: Any = None, exclude: Any = None) -> list[PluginInfo]:
    """List registered implementations; see :meth:`Registry.list`."""
    return get_registry().list(kind, include=include, exclude=exclude)


def get_plugin(kind: str, name: str) -> type:
    """The class registered as ``name`` for ``kind``; raises :class:`UnknownPluginError`."""
    return get_registry().get(kind, name).cls


def create_plugin(kind: str, name: str, *args: Any, **options: Any) -> Any:
    """Instantiate a registered implementation; see :meth:`Registry.create`."""
    return get_registry().create(kind, name, *args, **options)
