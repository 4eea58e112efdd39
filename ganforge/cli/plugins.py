"""``ganforge plugins``: list every registered plugin."""

from __future__ import annotations

import argparse
import json
from typing import Any

PLUGINS_EXAMPLE = """\
examples:
  ganforge plugins
  ganforge plugins --kind trick
  ganforge plugins --json
"""


def add_parser(sub: Any) -> None:
    """Register ``plugins`` on ``sub`` (from :func:`ganforge.cli.build_parser`)."""
    plugins = sub.add_parser(
        "plugins", help="list installed plugins", description="List every registered plugin by kind.",
        epilog=PLUGINS_EXAMPLE, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    plugins.add_argument("--json", action="store_true", help="print JSON for machines")
    plugins.add_argument("--kind", choices=["generator", "discriminator", "loss", "trick", "dataset"])
    plugins.set_defaults(func=cmd_plugins)


def cmd_plugins(args: argparse.Namespace) -> int:
    from ganforge.registry import list_plugins

    infos = list_plugins(kind=args.kind)
    if args.json:
        print(json.dumps([info.to_json() for info in infos], indent=2))
        return 0
    kind = None
    width = max((len(i.name) for i in infos), default=0)
    for info in infos:
        if info.kind != kind:
            kind = info.kind
            plural = "losses" if kind == "loss" else f"{kind}s"
            print(f"{'' if info is infos[0] else chr(10)}{plural}:")
        tag = f"[ganhacks #{info.ganhacks}] " if info.ganhacks else ""
        source = "" if info.plugin.startswith("ganforge.") else f"  ({info.source})"
        print(f"  {info.name:<{width}}  {tag}{info.description}{source}")
    return 0
