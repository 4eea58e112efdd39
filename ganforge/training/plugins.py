"""A run's plugins: resolving a whole :class:`~ganforge.config.TrainConfig` against the registry.

The Trainer records every chosen plugin's options, defaults included
(:func:`resolve_config`), each option's default (:func:`plugin_defaults`) and
the qualified name each plugin name resolved to (:func:`plugin_sources`) with a
run; a resumed run pins those names (:func:`recorded_pins`) and says when a
plugin release changed a default or a name now means another implementation
(:func:`changed_defaults`, :func:`pin_notes`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ganforge.config import RUN_PLUGINS, RunPlugin  # noqa: F401  (the one plugin table, re-exported here)
from ganforge.errors import ConfigError
from ganforge.interfaces import Dataset
from ganforge.options import _jsonable, accepted_options, resolve_options
from ganforge.registry import get_registry

#: Constructor arguments of a data set that are settings of the run, not options.
_DATASET_ARGS = Dataset._ganforge_run_args
_KINDS = frozenset(plugin.kind for plugin in RUN_PLUGINS)


def _chosen(config: Any) -> list[tuple[str, str, str, bool, Mapping[str, Any]]]:
    """``(kind, name, options field, per-name?, given options)`` for every plugin ``config`` chooses."""
    out = []
    for plugin in RUN_PLUGINS:
        value = getattr(config, plugin.field)
        given = getattr(config, plugin.options)
        if plugin.listed:
            out += [(plugin.kind, name, plugin.options, True, given.get(name, {})) for name in value]
        else:
            out.append((plugin.kind, value, plugin.options, False, given))
    return out


def resolve_config(config: Any) -> Any:
    """``config`` with every chosen plugin's options resolved (:func:`resolve_options`): what a run records.

    Raises:
        UnknownPluginError: for a plugin name nobody registered.
        ConfigError: for an unknown option name or a value a plugin's ``Options`` refuses.
    """
    registry = get_registry()
    changes: dict[str, Any] = {}
    seen: dict[tuple[str, str], str] = {}
    for kind, name, field, per_name, given in _chosen(config):
        info = registry.get(kind, name)
        if per_name and seen.setdefault((kind, info.name), name) != name:
            raise ConfigError(
                f"'{kind}s' lists {seen[(kind, info.name)]!r} and {name!r}, two implementations named "
                f"'{info.name}'; a run keeps each {kind}'s state under its name, so enable only one of them.")
        resolved = resolve_options(info.cls, given)
        if kind == "dataset":
            resolved = {k: v for k, v in resolved.items() if k not in _DATASET_ARGS}
        if per_name:
            if resolved:
                changes.setdefault(field, {})[name] = resolved
        else:
            changes[field] = resolved
    for plugin in RUN_PLUGINS:  # plugins listed by name: keep only the enabled ones' options
        if plugin.listed:
            changes.setdefault(plugin.options, {})
    return config.evolve(**changes)


def plugin_defaults(config: Any) -> dict[str, dict[str, Any]]:
    """``{"generator mlp": {option: default}}`` for the plugins ``config`` chooses: saved with a run's checkpoints.

    A resumed run compares them with the installed plugins' defaults
    (:func:`changed_defaults`) to say when a plugin release changed one.
    """
    registry = get_registry()
    out = {}
    for kind, name, _, _, _ in _chosen(config):
        accepted = accepted_options(registry.get(kind, name).cls) or {}
        out[f"{kind} {name}"] = {k: _jsonable(v) for k, v in accepted.items() if k not in _DATASET_ARGS}
    return out


def plugin_sources(config: Any) -> dict[str, str]:
    """``{"loss wgan_gp": "ganforge:wgan_gp"}``: the qualified name each plugin ``config`` chooses resolves to now.

    Saved with a run's checkpoints; :func:`recorded_pins` turns it back into
    the pins (:func:`ganforge.registry.pinned`) a resumed run looks its plugins
    up with, so it keeps the implementations it was trained with.
    """
    registry = get_registry()
    return {f"{kind} {name}": registry.qualify(kind, name) for kind, name, _, _, _ in _chosen(config)}


def recorded_pins(saved: Mapping[str, str] | None) -> dict[tuple[str, str], str]:
    """The pins for :func:`ganforge.registry.pinned` from a checkpoint's ``plugins`` record (none before 0.2.1)."""
    pins = {}
    for key, qualified in (saved or {}).items():
        kind, _, name = str(key).partition(" ")
        if name and ":" not in name and isinstance(qualified, str):
            pins[(kind, name)] = qualified
    return pins


def pin_notes(pins: Mapping[tuple[str, str], str]) -> list[str]:
    """A note for each pinned plain name that today selects another implementation than the run recorded."""
    registry = get_registry()
    notes = []
    for (kind, name), qualified in pins.items():
        now = registry.selected(kind, name) if kind in _KINDS else None
        if now is not None and now.qualified != qualified:
            notes.append(f"{kind} '{name}' now means '{now.qualified}'; this resumed run keeps '{qualified}', which "
                         "it was trained with.")
    return notes


def changed_defaults(saved: Mapping[str, Mapping[str, Any]], current: Mapping[str, Mapping[str, Any]],
                     recorded: Any) -> list[str]:
    """Messages for each option whose default differs between the saved run's plugins and the installed ones.

    ``recorded`` is the run's resolved configuration: the value it keeps.
    """
    notes = []
    for plugin, defaults in current.items():
        before = saved.get(plugin)
        if before is None:
            continue
        kind, name = plugin.split(" ", 1)
        for option_name, now in defaults.items():
            if option_name not in before:
                notes.append(f"{kind} '{name}' has a new option {option_name!r} (default {now!r}) since this run "
                             "was saved; the resumed run uses that default.")
            elif _jsonable(before[option_name]) != _jsonable(now):
                notes.append(f"{kind} '{name}' changed the default of {option_name!r} from {before[option_name]!r} "
                             f"to {now!r} since this run was saved; the resumed run keeps the recorded value.")
    return notes
