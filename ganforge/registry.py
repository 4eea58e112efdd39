"""The plugin registry: pluggy plugin manager, entry-point discovery, look-ups.

ganforge's builtins (:data:`DEFAULT_PLUGINS`) and third-party distributions
(entry-point group ``ganforge``) register through the same hooks
(:mod:`ganforge.hookspecs`). The registry is built lazily on first use and
cached; :func:`reset_registry` forgets it (tests, interactive sessions).

Environment variables:

* ``GANFORGE_DISABLE_PLUGIN_AUTOLOAD=1`` -- load no third-party entry points.
* ``GANFORGE_PLUGINS=a,b`` -- load only the named entry points (a name that
  is not installed is an error listing the installed ones).

Every plugin is checked as it registers (:mod:`ganforge.training.contracts`): its
hook-like functions, what its hooks return and whether each class defines
what its kind requires. A plugin that fails a check, two distributions
declaring the same entry-point name, and a constructor that raises are all
reported with the plugin's name, its distribution and the fix.

Names and upgrades: every implementation also has a *qualified name*,
``owner:name`` (``ganforge:wgan_gp`` for a builtin, ``myplugin:wgan_gp`` for
the entry point ``myplugin``), which always selects it. A plain name that a
third-party plugin and a builtin both register means the plugin's (a
:class:`PluginNameWarning` names the builtin's qualified name), so a new
builtin in a later ganforge never changes or breaks an installed plugin's
runs; a plain name that two third-party plugins register is an error only
when it is used, naming both qualified names. A resumed run looks its plugins
up by the qualified names it recorded (:func:`pinned`).
"""

from __future__ import annotations

import contextlib
import contextvars
import difflib
import fnmatch
import importlib
import importlib.metadata
import inspect
import os
import threading
import warnings
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import attrs
import pluggy

from ganforge import hookspecs
from ganforge.errors import (
    ConfigError,
    DuplicatePluginError,
    GanforgeError,
    PluginBuildError,
    PluginError,
    PluginLoadError,
    UnknownPluginError,
)
from ganforge.interfaces import PLUGIN_KINDS
from ganforge.options import (
    RUN_ARGS,
    OptionInfo,
    accepted_options,
    check_option_names,
    declared,
    describe_options,
)
from ganforge.training import contracts

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
#: The owner part of a builtin's qualified name (``ganforge:bce``).
BUILTIN_OWNER = "ganforge"


class PluginNameWarning(UserWarning):
    """A plain plugin name means a third-party plugin's implementation where a builtin has the same name."""


#: The class attributes ``ganforge plugins`` shows for each kind (see :meth:`PluginInfo.flags`).
FLAGS: dict[str, tuple[str, ...]] = {
    "generator": ("output_bounded",),
    "discriminator": (),
    "loss": ("uses_targets", "needs_real_logits_in_g", "capturable", "conflicts"),
    "regularizer": ("net", "capturable", "ddp_safe", "conflicts"),
    "trick": ("capturable", "ddp_safe", "requires_labels", "uses_targets", "conflicts"),
    "dataset": ("is_distribution", "per_item"),
}
#: Constructor arguments of a data set that are settings of the run (``data_root``, ``split``), not options.
DATASET_ARGS = RUN_ARGS


@attrs.frozen
class PluginInfo:
    """One registered implementation.

    Attributes:
        kind: ``generator``, ``discriminator``, ``loss``, ``regularizer``, ``trick`` or ``dataset``.
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
        return _source(self.plugin, self.distribution)

    @property
    def builtin(self) -> bool:
        """True for ganforge's own plugins."""
        return self.plugin in DEFAULT_PLUGINS

    @property
    def owner(self) -> str:
        """``ganforge`` for builtins, else the plugin's name (the entry-point name): the part before ``:``."""
        return BUILTIN_OWNER if self.builtin else self.plugin

    @property
    def qualified(self) -> str:
        """The name that always selects this implementation, whatever else is installed: ``owner:name``."""
        return f"{self.owner}:{self.name}"

    def flags(self) -> dict[str, Any]:
        """The class's behaviour flags for its kind (:data:`FLAGS`): ``{"capturable": True, ...}``.

        ``conflicts`` is ``{name: reason}`` (reason ``""`` when none is given);
        ``ddp_note`` joins ``ddp_safe`` when the plugin is not DDP-safe; a
        trick's ``uses_targets`` is also True when it overrides ``targets``.
        A flag computed per instance (a property) shows as ``None``.
        """
        out: dict[str, Any] = {}
        for flag in FLAGS[self.kind]:
            value = getattr(self.cls, flag, None)
            if isinstance(inspect.getattr_static(self.cls, flag, None), property):
                value = None
            elif flag == "conflicts":
                value = dict(value) if isinstance(value, Mapping) else {str(n): "" for n in value or ()}
            elif flag == "uses_targets" and self.kind == "trick":
                value = bool(value) or contracts.overrides(self.cls, PLUGIN_KINDS["trick"], "targets")
            out[flag] = value
            if flag == "ddp_safe" and value is False:
                out["ddp_note"] = getattr(self.cls, "ddp_note", "")
        return out

    def options(self) -> list[OptionInfo]:
        """The options the class accepts, with types, defaults and help (:func:`~ganforge.options.describe_options`)."""
        found = describe_options(self.cls)
        return [o for o in found if o.name not in DATASET_ARGS] if self.kind == "dataset" else found

    def accepts_any_options(self) -> bool:
        """True for a plugin without ``Options`` whose constructor takes ``**kwargs`` (its options are not listed)."""
        return declared(self.cls) is None and accepted_options(self.cls) is None

    def to_json(self) -> dict[str, Any]:
        """A JSON-serialisable record, as ``ganforge plugins --json`` prints it."""
        return {
            "kind": self.kind,
            "name": self.name,
            "description": self.description,
            "qualified": self.qualified,
            "class": contracts.qualified(self.cls),
            "plugin": self.plugin,
            "distribution": self.distribution,
            "ganhacks": self.ganhacks,
            "flags": self.flags(),
            "options": [o.to_json() for o in self.options()],
        }


def _source(plugin: str, distribution: str | None) -> str:
    where = f"plugin '{plugin}'"
    if distribution:
        where += f" (distribution {distribution})"
    return where


def _dist_label(ep: importlib.metadata.EntryPoint) -> str:
    dist = getattr(ep, "dist", None)
    return f"{dist.metadata['Name']} {dist.version}" if dist is not None else "unknown distribution"


def _allow_list() -> set[str] | None:
    names = {n.strip() for n in os.environ.get(ALLOW_LIST_ENV, "").split(",") if n.strip()}
    return names or None


def _check_allow_list(allowed: set[str], eps: list[importlib.metadata.EntryPoint]) -> None:
    """Raise :class:`UnknownPluginError` for a name in ``GANFORGE_PLUGINS`` that no installed entry point has."""
    installed = {ep.name: _dist_label(ep) for ep in eps}
    for name in sorted(allowed - set(installed) - set(DEFAULT_PLUGINS)):
        msg = f"{ALLOW_LIST_ENV} names {name!r}, which is not an installed ganforge plugin."
        close = difflib.get_close_matches(name, list(installed), n=1, cutoff=0.6)
        if close:
            msg += f" Did you mean {close[0]!r}?"
        shown = ", ".join(f"{n} ({d})" for n, d in sorted(installed.items()))
        msg += (f" Installed: {shown}." if shown else
                f" No installed distribution declares an entry point in group '{ENTRY_POINT_GROUP}'.")
        msg += f" Install the plugin, or correct {ALLOW_LIST_ENV} (entry-point names, comma-separated)."
        raise UnknownPluginError(msg)


def _load_entry_points(pm: pluggy.PluginManager, dist_names: dict[str, str]) -> None:
    """Import, check and register every ``ganforge`` entry point, naming any that fails."""
    if os.environ.get(DISABLE_AUTOLOAD_ENV, "").strip() not in ("", "0"):
        return
    eps = list(importlib.metadata.entry_points(group=ENTRY_POINT_GROUP))
    allowed = _allow_list()
    if allowed is not None:
        _check_allow_list(allowed, eps)
    loaded: dict[str, importlib.metadata.EntryPoint] = {}
    for ep in eps:
        if allowed is not None and ep.name not in allowed:
            continue
        if pm.is_blocked(ep.name):
            continue
        dist_label = _dist_label(ep)
        if pm.get_plugin(ep.name) is not None:
            first = loaded.get(ep.name)
            other = (f"distribution {_dist_label(first)} ({first.value})" if first is not None else
                     "ganforge's builtins" if ep.name in DEFAULT_PLUGINS else "a plugin registered with "
                     "ganforge.register_plugin()")
            raise DuplicatePluginError(
                f"Two plugins are named {ep.name!r}: {other} and distribution {dist_label} ({ep.value}), whose "
                f"entry point in group '{ENTRY_POINT_GROUP}' has the same name. Uninstall one of them"
                + (", or register yours under another name=." if first is None and ep.name not in DEFAULT_PLUGINS
                   else ".")
            )
        try:
            plugin = ep.load()
        except Exception as exc:  # a broken plugin must be named, not dumped
            raise PluginLoadError(
                f'Error importing plugin "{ep.name}" ({ep.value}) from distribution {dist_label}: '
                f"{type(exc).__name__}: {exc}. Fix or uninstall that distribution, or set "
                f"{DISABLE_AUTOLOAD_ENV}=1 to start without third-party plugins."
            ) from exc
        _register(pm, plugin, ep.name, dist_label)
        loaded[ep.name] = ep
        dist_names[ep.name] = dist_label


def _register(pm: pluggy.PluginManager, plugin: Any, name: str, distribution: str | None) -> None:
    """Check ``plugin``'s hook-like functions (:func:`~ganforge.training.contracts.check_hook_names`), then register it."""
    contracts.check_hook_names(pm, plugin, _source(name, distribution))
    try:
        pm.register(plugin, name=name)
    except Exception as exc:
        raise PluginLoadError(
            f'Error registering plugin "{name}"{f" from distribution {distribution}" if distribution else ""}: '
            f"{exc}. Set {DISABLE_AUTOLOAD_ENV}=1 to start without third-party plugins."
        ) from exc


#: The qualified names a resumed run recorded, by ``(kind, plain name)``; see :func:`pinned`.
_PINS: contextvars.ContextVar[Mapping[tuple[str, str], str]] = contextvars.ContextVar("ganforge_pins", default={})


@contextlib.contextmanager
def pinned(pins: Mapping[tuple[str, str], str]) -> Iterator[None]:
    """Within the block, a plain name in ``pins`` (``{("loss", "wgan_gp"): "ganforge:wgan_gp"}``) means that one.

    A resumed run pins the qualified names it recorded, so it keeps the
    implementations it was trained with even when a plugin installed since
    registers the same name (or a plugin's name is now shadowed by a newer one).
    """
    token = _PINS.set({**_PINS.get(), **pins})
    try:
        yield
    finally:
        _PINS.reset(token)


class Registry:
    """Everything the plugins registered, by kind and name.

    Build it with :func:`get_registry`; it is immutable once built. Several
    plugins may register one name (a builtin and a plugin, or two plugins):
    all are kept and listed, and :meth:`get` decides which a plain name means
    (see the module's documentation).
    """

    def __init__(self, pm: pluggy.PluginManager, dist_names: dict[str, str] | None = None):
        self._pm = pm
        dist_names = dist_names or {}
        #: kind -> plain name -> implementations in registration order (builtins first).
        self._entries: dict[str, dict[str, list[PluginInfo]]] = {kind: {} for kind in KIND_HOOKS}
        self._noted: set[tuple[str, str]] = set()
        for kind, hook_name in KIND_HOOKS.items():
            caller = getattr(pm.hook, hook_name)
            # Call each implementation on its own so every class keeps its source.
            for impl in caller.get_hookimpls():  # in registration order
                plugin_name = pm.get_name(impl.plugin) or repr(impl.plugin)
                distribution = dist_names.get(plugin_name)
                try:
                    result = impl.function()
                except Exception as exc:
                    raise PluginLoadError(
                        f"{contracts.capital_first(_source(plugin_name, distribution))} failed in {hook_name}(): "
                        f"{type(exc).__name__}: {exc}. Set {DISABLE_AUTOLOAD_ENV}=1 to start without third-party "
                        "plugins."
                    ) from exc
                for cls in contracts.hook_classes(result, hook_name, _source(plugin_name, distribution)):
                    self._add(kind, cls, plugin_name, distribution)

    def _add(self, kind: str, cls: Any, plugin_name: str, distribution: str | None) -> None:
        base = PLUGIN_KINDS[kind]
        source = contracts.capital_first(_source(plugin_name, distribution))
        if not (isinstance(cls, type) and issubclass(cls, base)):
            raise PluginError(
                f"{source} registered {cls!r} as a {kind}, but a {kind} must be a "
                f"subclass of ganforge.{base.__name__}."
            )
        name = getattr(cls, "name", "")
        if not isinstance(name, str) or not name:
            raise PluginError(
                f"{source} registered {kind} class {cls.__qualname__} without a name; "
                f"set the class attribute name = '...'."
            )
        if ":" in name:
            raise PluginError(
                f"{source} registered {kind} class {cls.__qualname__} as {name!r}; a plugin name cannot hold ':', "
                f"which separates the owner in qualified names ('{BUILTIN_OWNER}:bce'). Rename it."
            )
        contracts.check_class(kind, cls, name, source)
        info = PluginInfo(
            kind=kind,
            name=name,
            description=cls.summary(),
            cls=cls,
            plugin=plugin_name,
            distribution=distribution,
            ganhacks=getattr(cls, "ganhacks", None) if kind == "trick" else None,
        )
        same = self._entries[kind].setdefault(name, [])
        for existing in same:
            if existing.owner == info.owner:  # one plugin registering a name twice: its own mistake
                raise DuplicatePluginError(
                    f"Two plugins register a {kind} named '{name}': {existing.cls.__qualname__} from "
                    f"{existing.source} and {cls.__qualname__} from {info.source}. Rename one of them: one plugin "
                    "registers each name once per kind."
                )
        same.append(info)

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
        """Registered implementations, sorted by kind then name (builtins first among equal names).

        Every implementation is listed, also one whose plain name means
        another's (:meth:`shadowed_by`).

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
                out += self._entries[k][name]
        return out

    def names(self, kind: str) -> list[str]:
        """Sorted names registered for ``kind`` (each once, however many plugins register it)."""
        return sorted(self._entries[_check_kind(kind)])

    def shadowed_by(self, info: PluginInfo) -> PluginInfo | None:
        """The implementation ``info``'s plain name means instead of ``info``, or None (it means ``info`` or is ambiguous)."""
        chosen = self.selected(info.kind, info.name)
        return chosen if chosen is not None and chosen is not info else None

    def selected(self, kind: str, name: str) -> PluginInfo | None:
        """What the plain ``name`` of ``kind`` selects: the only one, else the only third-party one; None when
        ambiguous (two third-party plugins) or unknown."""
        found = self._entries[kind].get(name, [])
        if len(found) == 1:
            return found[0]
        third = [i for i in found if not i.builtin]
        return third[0] if len(third) == 1 else None

    def get(self, kind: str, name: str) -> PluginInfo:
        """The implementation ``name`` selects; raises :class:`UnknownPluginError`.

        ``name`` is a plain name (``wgan_gp``) or a qualified one
        (``ganforge:wgan_gp``, ``myplugin:wgan_gp``). A plain name registered
        by a builtin and one third-party plugin means the plugin's (warned once
        with :class:`PluginNameWarning`); by two third-party plugins it raises
        :class:`DuplicatePluginError` naming both qualified names. Inside
        :func:`pinned`, a pinned plain name means the recorded implementation.
        """
        entries = self._entries[_check_kind(kind)]
        name = str(name)
        if ":" in name:
            return self._get_qualified(kind, name)
        pin = _PINS.get().get((kind, name))
        if pin is not None:
            return self._get_qualified(kind, pin, recorded=name)
        found = entries.get(name)
        if found:
            chosen = self.selected(kind, name)
            if chosen is None:
                raise DuplicatePluginError(self._ambiguous(kind, name, found))
            if len(found) > 1 and (kind, name) not in self._noted:
                self._noted.add((kind, name))
                others = " and ".join(f"'{i.qualified}'" for i in found if i is not chosen)
                warnings.warn(PluginNameWarning(
                    f"{kind} '{name}' means '{chosen.qualified}', from {chosen.source}; ganforge's builtin of that "
                    f"name is {others}: name it so to use it."), stacklevel=3)
            return chosen
        available = sorted(entries)
        msg = f"Unknown {kind} {name!r}."
        close = difflib.get_close_matches(name, available, n=3, cutoff=0.6)
        if close:
            msg += " Did you mean " + " or ".join(repr(c) for c in close) + "?"
        msg += f" Available: {', '.join(available) if available else '(none registered)'}. {_LIST_HINT}"
        raise UnknownPluginError(msg)

    def _get_qualified(self, kind: str, qualified: str, recorded: str | None = None) -> PluginInfo:
        owner, _, name = qualified.rpartition(":")
        found = self._entries[kind].get(name, [])
        for info in found:
            if info.owner == owner:
                return info
        if recorded is not None:
            now = self.selected(kind, name)
            instead = f" (its name now means '{now.qualified}')" if now is not None else ""
            raise UnknownPluginError(
                f"This run was trained with {kind} '{qualified}', which is not installed now{instead}. Install the "
                f"plugin that provides it (owner '{owner}') to resume the run exactly, or start a new run."
            )
        if found:
            shown = " or ".join(f"'{i.qualified}'" for i in found)
            raise UnknownPluginError(f"Unknown {kind} {qualified!r}: no plugin '{owner}' registers a {kind} "
                                     f"named '{name}'. Did you mean {shown}? {_LIST_HINT}")
        if not owner:  # ":name" is the plain name
            return self.get(kind, name)
        msg = f"Unknown {kind} {qualified!r}: no plugin registers a {kind} named '{name}'."
        close = difflib.get_close_matches(name, sorted(self._entries[kind]), n=3, cutoff=0.6)
        if close:
            msg += " Did you mean " + " or ".join(repr(c) for c in close) + "?"
        raise UnknownPluginError(f"{msg} {_LIST_HINT}")

    @staticmethod
    def _ambiguous(kind: str, name: str, found: list[PluginInfo]) -> str:
        third = [i for i in found if not i.builtin]
        shown = " and ".join(f"'{i.qualified}' ({i.cls.__qualname__} from {i.source})" for i in third)
        choose = " or ".join(f"'{i.qualified}'" for i in found)
        return (f"Two plugins register a {kind} named '{name}': {shown}. Choose one by its qualified name ({choose}), "
                f"uninstall one of them, or allow-list plugins with {ALLOW_LIST_ENV}=name1,name2.")

    def qualify(self, kind: str, name: str) -> str:
        """The qualified name of what ``name`` selects now (what a run records to resume exactly)."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", PluginNameWarning)
            return self.get(kind, name).qualified

    def find(self, name: str, kind: str | None = None) -> list[PluginInfo]:
        """Every implementation named ``name`` (of ``kind``, or of any kind), in kind order.

        Raises:
            UnknownPluginError: when none has that name; the message offers close
                matches across the kinds searched and names the listing command.
            DuplicatePluginError: when, in one kind, the plain name is ambiguous.
        """
        if kind is not None:
            return [self.get(kind, name)]
        plain = str(name).rpartition(":")[2]
        found = [self.get(k, name) for k in KIND_HOOKS if plain in self._entries[k]]
        if found:
            return found
        kinds_of: dict[str, list[str]] = {}
        for k in KIND_HOOKS:
            for n in self._entries[k]:
                kinds_of.setdefault(n, []).append(k)
        msg = f"Unknown plugin {name!r}."
        close = difflib.get_close_matches(str(name), list(kinds_of), n=3, cutoff=0.6)
        if close:
            msg += " Did you mean " + " or ".join(f"{c!r} ({', '.join(kinds_of[c])})" for c in close) + "?"
        raise UnknownPluginError(f"{msg} {_LIST_HINT}")

    def create(self, kind: str, name: str, *args: Any, **options: Any) -> Any:
        """Instantiate ``name`` with positional ``args`` and keyword ``options``.

        Raises:
            ConfigError: for an option name the class does not accept (listing
                the accepted ones) or a value it refuses.
            PluginBuildError: when the constructor raises anything else: the
                plugin itself failed. The message names the plugin, its class
                and distribution; the original exception is the ``__cause__``.
            PluginContractError: for a built plugin that breaks its kind's
                contract (:func:`ganforge.training.contracts.check_instance`).
        """
        info = self.get(kind, name)
        check_options(info, options)
        try:
            obj = info.cls(*args, **options)
        except GanforgeError:
            raise
        except Exception as exc:
            raise _build_failure(info, options, exc) from exc
        contracts.check_instance(kind, obj, info.name, info.source)
        return obj


def _build_failure(info: PluginInfo, options: Mapping[str, Any], exc: Exception) -> GanforgeError:
    """The error to raise for ``exc`` escaping ``info``'s constructor built with ``options``.

    A plugin that declares ``Options`` had its options checked before its own
    code ran, so any exception is the plugin's failure. One without ``Options``
    checks its values itself: a ``TypeError``/``ValueError`` there may come from
    a bad value (``int("abc")``), so that case stays a :class:`ConfigError`.
    """
    what = f"{info.kind.capitalize()} '{info.name}'"
    shown = ", ".join(f"{k}={v!r}" for k, v in options.items())
    cause = f"{type(exc).__name__}: {exc}"
    where = f"the class is {contracts.qualified(info.cls)}, from {info.source}"
    if options and declared(info.cls) is None and isinstance(exc, (TypeError, ValueError)):
        return ConfigError(
            f"{what} could not be built with {shown}: {cause}. Check the option values ({where}); if they are "
            f"right, the plugin itself failed: run with --debug (or GANFORGE_DEBUG=1) for the traceback."
        )
    given = f"with {shown}" if shown else "with its default options"
    return PluginBuildError(
        f"{what} failed while being built {given}: {cause}. This is an error inside the plugin ({where}), not in "
        f"the options: run with --debug (or GANFORGE_DEBUG=1) for the traceback, and report it to the plugin's "
        f"authors."
    )


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
        _register(pm, importlib.import_module(modname), modname, None)
    for name, plugin in _EXTRA_PLUGINS.items():
        _register(pm, plugin, name, None)
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
