"""The ``ganforge`` command line (also ``python -m ganforge``).

Each subcommand lives in a module of this package with an ``add_parser(subparsers)``
that registers its parser and sets ``func``, the function that runs it and
returns the exit status.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from ganforge.cli.common import parse_assignment, parse_value
from ganforge.errors import ConfigError, GanforgeError, UnknownPluginError

#: The subcommand modules, in the order ``ganforge --help`` lists them.
COMMAND_MODULES: tuple[str, ...] = (
    "ganforge.cli.train",
    "ganforge.cli.plugins",
    "ganforge.cli.eval",
    "ganforge.cli.sample",
    "ganforge.cli.plot",
    "ganforge.cli.tune",
)


def build_parser() -> argparse.ArgumentParser:
    """The ``ganforge`` argument parser with every subcommand."""
    from ganforge import __version__

    parser = argparse.ArgumentParser(
        prog="ganforge",
        description="Train GANs from interchangeable plugins: models, losses and the ganhacks tricks.",
    )
    parser.add_argument("--version", action="version", version=f"ganforge {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for modname in COMMAND_MODULES:
        importlib.import_module(modname).add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status (2 for bad input, 1 for other failures)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except (ConfigError, UnknownPluginError) as exc:
        print(f"ganforge: error: {exc}", file=sys.stderr)
        return 2
    except GanforgeError as exc:
        print(f"ganforge: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("ganforge: interrupted", file=sys.stderr)
        return 130


__all__ = ["build_parser", "main", "parse_assignment", "parse_value"]
