"""``ganforge tune``: search settings on Optuna (needs ``pip install 'ganforge[tune]'``); ``--report`` reports a study."""

from __future__ import annotations

import argparse
from typing import Any

TUNE_EXAMPLE = """\
examples:
  ganforge tune space.toml --trials 40 --workers 2 --out runs/tune   # re-run the same command to continue
  ganforge tune --report runs/tune            # table, trials.md/.csv, history.png, importances.png, best.toml
  ganforge train --config runs/tune/report/best.toml --out runs/best
  ganforge tune space.toml --out runs/tune --storage postgresql://user:pw@db-host/ganforge --study grid25
                                              # the same command on each machine shares one study

The space file has [fixed] settings, [search] entries and [tune] options; see docs/tune.md.
Needs Optuna: pip install 'ganforge[tune]' (pictures: 'ganforge[plot]').
"""


def add_parser(sub: Any) -> None:
    """Register ``tune`` on ``sub`` (from :func:`ganforge.cli.build_parser`)."""
    p = sub.add_parser(
        "tune", help="search settings, tricks and losses with Optuna (needs ganforge[tune])",
        description="Run trials of a search space, each a normal ganforge run in OUT/trials/trial-NNNN, reporting "
                    "each evaluation to Optuna so hopeless trials are pruned; print the trials table and write the "
                    "report (Markdown, CSV, pictures, best.toml) to OUT/report.",
        epilog=TUNE_EXAMPLE, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("space", nargs="?", metavar="SPACE.toml", help="the search space file")
    p.add_argument("--trials", type=int, default=None,
                   help="trials in the whole study (default: [tune] trials in the file, else 20)")
    p.add_argument("--workers", type=int, default=None,
                   help="trials at once on this machine, one process and one CPU thread (or GPU) each "
                        "(default: [tune] workers, else 1)")
    p.add_argument("--out", default=None, help="the study's folder (default runs/tune-<space file name>)")
    p.add_argument("--storage", default=None, metavar="URL",
                   help="database shared by several machines, e.g. postgresql://user:pw@host/db "
                        "(default: OUT/study.db, an SQLite file)")
    p.add_argument("--study", default=None, metavar="NAME",
                   help="the study's name in the storage (default: the name of OUT)")
    p.add_argument("--pruner", default=None,
                   help="median (default), percentile, threshold, successive_halving, hyperband or none")
    p.add_argument("--report", default=None, metavar="DIR",
                   help="instead of searching, report the study in DIR (its --out folder)")
    p.set_defaults(func=cmd_tune)


def cmd_tune(args: argparse.Namespace) -> int:
    """Run ``ganforge tune``; returns the exit status."""
    from ganforge.tune import tune

    tune(args.space, trials=args.trials, workers=args.workers, out=args.out, storage=args.storage,
         study=args.study, pruner=args.pruner, report=args.report)
    return 0
