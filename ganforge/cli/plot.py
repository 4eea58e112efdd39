"""``ganforge plot``: draw the curves of a run's ``metrics.jsonl`` (needs matplotlib: ``pip install 'ganforge[plot]'``)."""

from __future__ import annotations

import argparse
import io
import json
import math
from pathlib import Path
from typing import Any

from ganforge.cli.common import out_path
from ganforge.errors import ConfigError, DataError
from ganforge.io.rundir import METRICS_FILE

PLOT_EXAMPLE = """\
examples:
  ganforge plot runs/grid25 --out curves.png
  ganforge plot runs/grid25/metrics.jsonl --keys failures,grad_norm_disc --out monitor.png

Needs matplotlib: pip install 'ganforge[plot]'.
"""

#: Logged values ``ganforge plot`` leaves out unless asked for by ``--keys``.
NOT_PLOTTED = ("step", "g_loss", "d_loss", "steps_per_s")


def add_parser(subparsers: Any) -> None:
    """Register ``plot`` on ``subparsers`` (from :func:`ganforge.cli.build_parser`)."""
    raw = argparse.RawDescriptionHelpFormatter

    p = subparsers.add_parser(
        "plot", help="plot a run's loss and metric curves into a PNG (needs matplotlib)",
        description="Read RUN_DIR/metrics.jsonl and plot the generator and discriminator losses against the "
                    "step, with one more panel per other logged value (trick outputs such as failures).",
        epilog=PLOT_EXAMPLE, formatter_class=raw,
    )
    p.add_argument("run", metavar="RUN_DIR", help="a run folder, or its metrics.jsonl")
    p.add_argument("--out", default=None, help="PNG to write (default RUN_DIR/curves.png)")
    p.add_argument("--keys", default=None,
                   help="comma-separated logged values to plot beside the losses (default: all numeric ones "
                        f"except {', '.join(NOT_PLOTTED[3:])}); '' for the losses only")
    p.set_defaults(func=cmd_plot)


# -- plot ----------------------------------------------------------------------------------


def read_metrics(path: str | Path) -> list[dict[str, Any]]:
    """The records of a run's ``metrics.jsonl`` (``path`` is the run folder or the file).

    A half-written last line (a run killed while logging) is skipped.

    Raises:
        DataNotFoundError: when there is no such file.
        DataError: when a line other than the last is not a JSON object.
    """
    from ganforge.errors import DataNotFoundError

    path = Path(path)
    file = path / METRICS_FILE if path.is_dir() else path
    if not file.is_file():
        where = f"{path} is not a run folder holding {METRICS_FILE}" if path.exists() else f"{path} does not exist"
        raise DataNotFoundError(f"No metrics to plot: {where}. Pass the folder a 'ganforge train --out' wrote.")
    lines = file.read_text(encoding="utf-8").splitlines()
    records = []
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            if i == len(lines) - 1:
                break  # cut off by a crash
            raise DataError(f"{file} line {i + 1} is not JSON: {line[:60]!r}") from None
        if not isinstance(record, dict) or "step" not in record:
            raise DataError(f"{file} line {i + 1} is not a metrics record with a 'step': {line[:60]!r}")
        records.append(record)
    if not records:
        raise DataError(f"{file} holds no records yet; a run logs every log_every steps.")
    return records


def _pyplot_figure():
    """matplotlib's Figure and Agg canvas (no pyplot, no display); a ConfigError naming the extra when missing."""
    try:
        import matplotlib  # noqa: F401  (the package itself first: its submodules may be cached)
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise ConfigError("ganforge plot needs matplotlib: pip install 'ganforge[plot]'") from None
    return Figure, FigureCanvasAgg


def _numeric(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def plot_keys(records: list[dict[str, Any]], keys: list[str] | None = None) -> list[str]:
    """The values plotted beside the losses: ``keys`` (checked), or every numeric logged value not in :data:`NOT_PLOTTED`."""
    present: list[str] = []
    for record in records:
        present += [k for k, v in record.items() if k not in present and (_numeric(v) or v is None)]
    if keys is None:
        return [k for k in present if k not in NOT_PLOTTED]
    unknown = [k for k in keys if k not in present]
    if unknown:
        raise ConfigError(f"--keys names values this run did not log: {', '.join(unknown)}. "
                          f"Logged: {', '.join(k for k in present if k != 'step')}.")
    return keys


def group_keys(keys: list[str]) -> list[tuple[str, list[str]]]:
    """Panels for ``keys``: keys sharing the part before their first ``_`` with another key share a panel.

    ``grad_norm_gen`` and ``grad_norm_disc`` go together (titled ``grad_norm``); a
    key alone keeps its own panel. Returns ``(title, keys)`` in first-seen order.
    """
    import os.path

    heads: dict[str, list[str]] = {}
    for key in keys:
        heads.setdefault(key.split("_", 1)[0], []).append(key)
    panels = []
    for members in heads.values():
        if len(members) == 1:
            panels.append((members[0], members))
        else:
            title = os.path.commonprefix(members).rstrip("_") or members[0]
            panels.append((title, members))
    return panels


def plot_metrics(records: list[dict[str, Any]], path: str | Path, keys: list[str] | None = None,
                 title: str | None = None) -> list[str]:
    """Draw the losses (top panel) and the other logged values in ``keys`` against the step; save a PNG.

    Values are grouped into panels by :func:`group_keys`; every curve is
    labelled. Non-finite values (written as null) leave gaps. Returns the
    titles of the panels, ``"loss"`` first.

    Raises:
        ConfigError: when matplotlib is not installed (``pip install 'ganforge[plot]'``).
    """
    Figure, Canvas = _pyplot_figure()
    panels = [("loss", ["g_loss", "d_loss"])] + group_keys(plot_keys(records, keys))
    fig = Figure(figsize=(8, 1.2 + 2.4 * len(panels)), dpi=100, layout="constrained")
    Canvas(fig)
    axes = fig.subplots(len(panels), 1, sharex=True, squeeze=False)[:, 0]
    names = {"g_loss": "generator loss", "d_loss": "discriminator loss"}
    colours = ["tab:red", "tab:blue", "tab:green", "tab:orange", "tab:purple", "tab:brown", "tab:gray"]
    style = {"marker": "." if len(records) < 40 else None, "linewidth": 1.4}
    for ax, (panel, members) in zip(axes, panels):
        for i, key in enumerate(members):
            pts = [(r["step"], r[key]) for r in records if key in r]
            values = [math.nan if v is None else float(v) for _, v in pts]
            ax.plot([s for s, _ in pts], values, color=colours[i % len(colours)], label=names.get(key, key), **style)
        ax.set_ylabel("loss (interval mean)" if panel == "loss" else panel)
        ax.legend(loc="best", frameon=False, fontsize="small")
        ax.grid(True, alpha=0.3)
    axes[-1].set_xlabel("step")
    if title:
        fig.suptitle(title)
    from ganforge.io.atomic import atomic_write_bytes

    buffer = io.BytesIO()  # drawn in memory, then written by a temporary file renamed over path (no link followed)
    fig.savefig(buffer, format=Path(path).suffix.lstrip(".").lower() or "png")
    atomic_write_bytes(path, buffer.getvalue())
    return [panel for panel, _ in panels]


def cmd_plot(args: argparse.Namespace) -> int:
    """Run ``ganforge plot``; returns the exit status."""
    _pyplot_figure()  # fail first when matplotlib is missing
    records = read_metrics(args.run)
    run = Path(args.run)
    run_dir = run if run.is_dir() else run.parent
    keys = None if args.keys is None else [k.strip() for k in args.keys.split(",") if k.strip()]
    out = out_path(args.out, run_dir, "curves.png")
    panels = plot_metrics(records, out, keys=keys, title=f"{run_dir.name} ({records[-1]['step']} steps)")
    print(f"Wrote {', '.join(panels)} curves over {len(records)} log records to {out}")
    return 0
