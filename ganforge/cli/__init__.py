"""The ``ganforge`` command line (also ``python -m ganforge``).

Each subcommand lives in a module of this package with an ``add_parser(subparsers)``
that registers its parser and sets ``func``, the function that runs it and
returns the exit status.

Every failure a user can meet is one line on stderr, ``ganforge: error: ...``,
without a traceback: ganforge's own errors and the operating system's
(``OSError``: disk full, read-only, permission, ...). ``ganforge --debug``
or ``GANFORGE_DEBUG=1`` prints the traceback too. Exit status: 0 done (a
training run stopped by Ctrl-C or SIGTERM included: it saved a checkpoint),
1 a failure, 2 bad input (a setting, an unknown plugin, a usage error), 130
interrupted by Ctrl-C outside the training loop (``ganforge: interrupted``;
also during the imports), 143 ended by SIGTERM there (``ganforge: terminated
(SIGTERM)``). ganforge's warnings are one line too, ``ganforge: warning: ...``.

Only light modules are imported with this one: the subcommands (and torch)
are imported by :func:`main`, inside its handling of Ctrl-C.
"""

from __future__ import annotations

import argparse
import importlib
import os
import signal
import sys
import traceback
import warnings
from collections.abc import Sequence

from ganforge.cli.common import parse_assignment, parse_value
from ganforge.errors import ConfigError, GanforgeError, UnknownPluginError

#: Set to 1 to print tracebacks (as ``--debug`` does).
DEBUG_ENV = "GANFORGE_DEBUG"

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
    from ganforge.version import __version__

    parser = argparse.ArgumentParser(
        prog="ganforge",
        description="Train GANs from interchangeable plugins: models, losses and the ganhacks tricks.",
    )
    parser.add_argument("--version", action="version", version=f"ganforge {__version__}")
    parser.add_argument("--debug", action="store_true",
                        help=f"print the traceback of an error (also: {DEBUG_ENV}=1)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for modname in COMMAND_MODULES:
        importlib.import_module(modname).add_parser(sub)
    for command in sub.choices.values():  # also after the command: 'ganforge train ... --debug'
        command.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                             help="print the traceback of an error")
    return parser


def _one_line_warnings(message, category, filename, lineno, file=None, line=None) -> None:
    """``warnings.showwarning`` for the command line: ganforge's warnings as one line, others as Python shows them."""
    if category.__module__.startswith("ganforge"):
        print(f"ganforge: warning: {' '.join(str(message).split())}", file=file or sys.stderr)
    else:
        _show_warning(message, category, filename, lineno, file, line)


_show_warning = warnings.showwarning


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status (2 bad input, 1 other failures, 130 Ctrl-C, 143 SIGTERM)."""
    debug = "--debug" in (sys.argv[1:] if argv is None else argv) or os.environ.get(DEBUG_ENV, "") not in ("", "0")
    from ganforge.training.signals import Terminated, command_signals

    try:
        with command_signals():
            parser = build_parser()  # imports the subcommands, torch among them
            args = parser.parse_args(argv)
            debug = debug or args.debug
            previous, warnings.showwarning = warnings.showwarning, _one_line_warnings
            try:
                return args.func(args)
            except (ConfigError, UnknownPluginError) as exc:
                return _fail(exc, 2, debug)
            except (GanforgeError, OSError) as exc:
                return _fail(exc, 1, debug)
            finally:
                warnings.showwarning = previous
    except KeyboardInterrupt as exc:  # Ctrl-C, or SIGTERM (Terminated), outside a run's training loop
        if debug:
            traceback.print_exc()
        if isinstance(exc, Terminated):
            print(f"ganforge: terminated ({signal.Signals(exc.signum).name})", file=sys.stderr)
            return 128 + exc.signum
        print("ganforge: interrupted", file=sys.stderr)
        return 130


def _fail(exc: BaseException, status: int, debug: bool) -> int:
    """Print ``exc`` as one line (and its traceback with ``--debug``); return ``status``."""
    if debug:
        traceback.print_exception(exc)
    if isinstance(exc, GanforgeError):
        text = str(exc)
    else:
        from ganforge.io.atomic import describe_os_error

        text = describe_os_error(exc, action="access")
    print(f"ganforge: error: {' '.join(text.split())}", file=sys.stderr)
    return status


__all__ = ["build_parser", "main", "parse_assignment", "parse_value"]
