"""``ganforge plugins``: list every registered plugin, or show one with its flags and options."""

from __future__ import annotations

import argparse
import json
from typing import Any

PLUGINS_EXAMPLE = """\
examples:
  ganforge plugins
  ganforge plugins --kind trick
  ganforge plugins --json
  ganforge plugins soft_labels
  ganforge plugins mlp --kind discriminator --json
"""

#: How each kind's options are set: (command-line flag, TOML table); ``{name}`` is the plugin's name.
SET_WITH: dict[str, tuple[str, str]] = {
    "generator": ("--gen-option KEY=VALUE", "[gen_options]"),
    "discriminator": ("--disc-option KEY=VALUE", "[disc_options]"),
    "loss": ("--loss-option KEY=VALUE", "[loss_options]"),
    "regularizer": ("--regularizer-option {name}.KEY=VALUE", "[regularizer_options.{name}]"),
    "trick": ("--trick-option {name}.KEY=VALUE", "[trick_options.{name}]"),
    "dataset": ("--data-option KEY=VALUE", "[data_options]"),
}


def add_parser(sub: Any) -> None:
    """Register ``plugins`` on ``sub`` (from :func:`ganforge.cli.build_parser`)."""
    from ganforge.registry import KIND_HOOKS

    plugins = sub.add_parser(
        "plugins", help="list installed plugins, or show one",
        description="List every registered plugin by kind; with NAME, show that plugin's source, flags and "
                    "options (types, defaults, help).",
        epilog=PLUGINS_EXAMPLE, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    plugins.add_argument("name", nargs="?", metavar="NAME", help="show this plugin in full")
    plugins.add_argument("--json", action="store_true", help="print JSON for machines")
    plugins.add_argument("--kind", choices=list(KIND_HOOKS),
                         help="only this kind (with NAME: the kind to show when several use the name)")
    plugins.set_defaults(func=cmd_plugins)


def cmd_plugins(args: argparse.Namespace) -> int:
    from ganforge.registry import get_registry

    registry = get_registry()
    if args.name is not None:
        return _show(registry, args.name, args.kind, args.json)
    infos = registry.list(kind=args.kind)
    if args.json:
        rows = [{**info.to_json(), "selected_by_name": registry.selected(info.kind, info.name) is info}
                for info in infos]
        print(json.dumps(rows, indent=2))
        return 0
    kind = None
    shared = {(i.kind, i.name) for i in infos if sum(j.kind == i.kind and j.name == i.name for j in infos) > 1}
    shown = {id(i): i.qualified if (i.kind, i.name) in shared else i.name for i in infos}
    width = max((len(n) for n in shown.values()), default=0)
    for info in infos:
        if info.kind != kind:
            kind = info.kind
            plural = "losses" if kind == "loss" else f"{kind}s"
            print(f"{'' if info is infos[0] else chr(10)}{plural}:")
        tag = f"[ganhacks #{info.ganhacks}] " if info.ganhacks else ""
        source = "" if info.builtin else f"  ({info.source})"
        print(f"  {shown[id(info)]:<{width}}  {tag}{info.description}{source}{_selection(registry, info, shared)}")
    return 0


def _selection(registry: Any, info: Any, shared: set[tuple[str, str]]) -> str:
    """For a name several plugins register: which one the plain name selects (see docs/plugins.md)."""
    if (info.kind, info.name) not in shared:
        return ""
    winner = registry.shadowed_by(info)
    if winner is not None:
        return f"  ['{info.name}' selects {winner.qualified}]"
    if registry.selected(info.kind, info.name) is info:
        return f"  ['{info.name}' selects this]"
    return f"  ['{info.name}' is ambiguous: use the qualified name]"


def _show(registry: Any, name: str, kind: str | None, as_json: bool) -> int:
    from ganforge.errors import ConfigError

    found = registry.find(name, kind)
    if len(found) > 1:
        kinds = [info.kind for info in found]
        raise ConfigError(
            f"{name!r} names a plugin of several kinds: {', '.join(kinds)}. Choose one with "
            + " or ".join(f"--kind {k}" for k in kinds) + "."
        )
    info = found[0]
    if as_json:
        print(json.dumps(info.to_json(), indent=2))
        return 0
    lines = describe(info)
    others = [i for i in registry.list(info.kind) if i.name == info.name and i is not info]
    if others:
        lines.append(f"  qualified name: {info.qualified}; also registered as "
                     + ", ".join(i.qualified for i in others) + " (select those by their qualified names)")
    print("\n".join(lines))
    return 0


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if value is None:
        return "per instance"
    return str(value)


def describe(info: Any) -> list[str]:
    """The lines ``ganforge plugins NAME`` prints for the plugin ``info`` (a :class:`~ganforge.registry.PluginInfo`)."""
    tag = f"  [ganhacks #{info.ganhacks}]" if info.ganhacks else ""
    lines = [f"{info.kind} '{info.name}'{tag}", f"  {info.description}"]
    lines.append(f"  class:   {info.to_json()['class']}")
    lines.append(f"  source:  {info.source}{' (builtin)' if info.builtin else ''}")
    flags = info.flags()
    conflicts = flags.pop("conflicts", None)
    note = flags.pop("ddp_note", "")
    if flags:
        lines.append("  flags:   " + ", ".join(f"{k}={_value(v)}" for k, v in flags.items()))
    if note:
        lines.append(f"  not DDP-safe: {note}")
    if conflicts is not None:
        shown = "; ".join(f"{n} ({why})" if why else n for n, why in conflicts.items()) or "none"
        lines.append(f"  conflicts: {shown}")
    options = info.options()
    if info.accepts_any_options():
        lines.append("  options: any keyword (the constructor takes **kwargs; see the class's documentation)")
    elif not options:
        lines.append("  options: none")
    else:
        flag, table = SET_WITH[info.kind]
        how = f"{flag.format(name=info.name)} or TOML {table.format(name=info.name)}"
        lines.append(f"  options (set with {how}):")
        for o in options:
            typ = f": {o.type}" if o.type else ""
            lines.append(f"    {o.name}{typ} = {o.default!r}" + ("  (schedulable: --schedule "
                                                                   f"{info.name}.{o.name}=KIND:START:END)"
                                                                   if o.schedulable else ""))
            if o.help:
                lines.append(f"        {o.help}")
    return lines
