"""Everyday commands on a saved run: ``ganforge sample``, ``ganforge interpolate`` and ``ganforge plot``.

``sample`` and ``interpolate`` load the run's latest checkpoint (or the
checkpoint file given) with :meth:`ganforge.Trainer.resume` and draw with the
trained generator; image data becomes a PNG grid, 2-D data a scatter plot
over the data set's modes. ``plot`` draws the curves of ``metrics.jsonl``
and needs matplotlib (``pip install 'ganforge[plot]'``).
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from ganforge.errors import ConfigError, DataError
from ganforge.rundir import METRICS_FILE

SAMPLE_EXAMPLE = """\
examples:
  ganforge sample runs/grid25 --out grid25.png                   # scatter of 2048 points over the modes
  ganforge sample runs/mnist -n 64 --out grid.png --seed 3       # 8 x 8 image grid
  ganforge sample runs/mnist/checkpoints/step_0002000.pt -n 16 --class 7 --out sevens.png
"""

INTERPOLATE_EXAMPLE = """\
examples:
  ganforge interpolate runs/mnist --method slerp --steps 10 --out interp.png   # 8 rows of 10
  ganforge interpolate runs/mnist --method lerp --rows 4 --steps 12 --seed 1 --out lerp.png
  ganforge interpolate runs/grid25 --rows 16 --out paths.png                    # 2-D data: paths as points
"""

PLOT_EXAMPLE = """\
examples:
  ganforge plot runs/grid25 --out curves.png
  ganforge plot runs/grid25/metrics.jsonl --keys failures,grad_norm_disc --out monitor.png

Needs matplotlib: pip install 'ganforge[plot]'.
"""

#: Points drawn by ``ganforge sample`` on 2-D data when ``-n`` is not given.
DEFAULT_POINTS = 2048
#: Images drawn by ``ganforge sample`` when ``-n`` is not given.
DEFAULT_IMAGES = 64
#: Logged values ``ganforge plot`` leaves out unless asked for by ``--keys``.
NOT_PLOTTED = ("step", "g_loss", "d_loss", "steps_per_s")


def add_parser(subparsers: Any) -> None:
    """Register ``sample``, ``interpolate`` and ``plot`` on ``subparsers`` (from ``ganforge.cli.build_parser``)."""
    raw = argparse.RawDescriptionHelpFormatter
    run_help = "a run folder (its newest checkpoint is used) or a checkpoint file"

    p = subparsers.add_parser(
        "sample", help="draw samples from a trained run into a PNG",
        description="Load a run's newest checkpoint (or the given one) and save samples of its generator: an "
                    "image grid for image data, a scatter plot over the data set's modes for 2-D data.",
        epilog=SAMPLE_EXAMPLE, formatter_class=raw,
    )
    p.add_argument("run", metavar="CHECKPOINT_OR_RUN_DIR", help=run_help)
    p.add_argument("-n", type=int, default=None,
                   help=f"number of samples (default {DEFAULT_IMAGES} images, or {DEFAULT_POINTS} points for 2-D data)")
    p.add_argument("--out", default=None, help="PNG to write (default RUN_DIR/sample.png)")
    p.add_argument("--seed", type=int, default=0, help="seed of the latent vectors (default 0)")
    p.add_argument("--class", dest="label", type=int, default=None, metavar="C",
                   help="conditional runs: draw only class C (default: classes at random)")
    p.add_argument("--nrow", type=int, default=None, help="images per grid row (default: a square grid)")
    p.add_argument("--device", default="cpu", help="device to generate on (default cpu)")
    p.set_defaults(func=cmd_sample)

    p = subparsers.add_parser(
        "interpolate", help="draw paths between random latent vectors into a PNG",
        description="Load a run's newest checkpoint (or the given one), draw --rows random pairs of latent "
                    "vectors and generate --steps samples along the path between each pair (ends included). "
                    "Image data becomes one row of images per pair; 2-D data a scatter of the paths' points.",
        epilog=INTERPOLATE_EXAMPLE, formatter_class=raw,
    )
    p.add_argument("run", metavar="CHECKPOINT_OR_RUN_DIR", help=run_help)
    p.add_argument("--method", default="slerp", choices=["slerp", "lerp"],
                   help="slerp (default): along the great circle; lerp: along the straight line")
    p.add_argument("--steps", type=int, default=10, help="samples per path, ends included (default 10)")
    p.add_argument("--rows", type=int, default=8, help="number of paths (default 8)")
    p.add_argument("--out", default=None, help="PNG to write (default RUN_DIR/interp_METHOD.png)")
    p.add_argument("--seed", type=int, default=0, help="seed of the latent pairs (default 0)")
    p.add_argument("--class", dest="label", type=int, default=None, metavar="C",
                   help="conditional runs: class of every path (default: row i uses class i mod classes)")
    p.add_argument("--device", default="cpu", help="device to generate on (default cpu)")
    p.set_defaults(func=cmd_interpolate)

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


# -- loading -------------------------------------------------------------------------


def load_run(path: str | Path, device: str = "cpu") -> Any:
    """A built :class:`~ganforge.Trainer` holding the newest checkpoint of ``path`` (a run folder or a file).

    Raises:
        CheckpointError: when ``path`` does not exist or holds no checkpoint.
    """
    from ganforge.trainer import Trainer

    return Trainer.resume(path, progress=False, device=device).setup()


def _out_path(out: str | None, trainer_or_dir: Any, default: str) -> Path:
    if out is not None:
        path = Path(out)
    else:
        run_dir = getattr(trainer_or_dir, "run_dir", trainer_or_dir)
        path = Path(run_dir) / default
    if path.suffix.lower() != ".png":
        raise ConfigError(f"--out must name a .png file (got {str(path)!r})")
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def _positive(flag: str, value: int | None) -> None:
    if value is not None and value < 1:
        raise ConfigError(f"{flag} must be an integer >= 1 (got {value})")


def _labels(trainer: Any, label: int | None, n: int) -> Tensor | None:
    """Class labels for ``n`` samples: all ``label``, or None (the Trainer's uniform draw)."""
    classes = trainer.spec.num_classes
    if label is None:
        return None
    if classes is None:
        raise ConfigError(f"--class needs a conditional run; {trainer.run_dir} was trained without labels.")
    if not 0 <= label < classes:
        raise ConfigError(f"--class must be from 0 to {classes - 1} for this run (got {label})")
    return torch.full((n,), label, dtype=torch.long)


def _is_points(samples: Tensor) -> bool:
    return samples.ndim == 2 and samples.shape[1] == 2


def _as_images(samples: Tensor) -> Tensor:
    if samples.ndim == 3:  # (N, H, W): one channel
        samples = samples.unsqueeze(1)
    if samples.ndim != 4:
        raise DataError(
            f"Cannot draw samples of shape {tuple(samples.shape[1:])}: ganforge draws images (C, H, W) "
            "and 2-D points."
        )
    return samples


def _save_points(trainer: Any, points: Tensor, path: Path) -> None:
    from ganforge.viz import save_scatter

    dataset = trainer.dataset
    save_scatter(dataset.denormalize(points), path, reference=getattr(dataset, "modes", None))


# -- sample ------------------------------------------------------------------------------


def sample_to_png(trainer: Any, path: str | Path, n: int | None = None, seed: int = 0, label: int | None = None,
                  nrow: int | None = None) -> Tensor:
    """Generate samples with a built Trainer and save them; return them (CPU, model space).

    Args:
        trainer: A Trainer after :meth:`~ganforge.Trainer.setup` (e.g. from :func:`load_run`).
        path: The PNG to write.
        n: Number of samples (default 64 images, or 2048 points for 2-D data).
        seed: Seed of the latent vectors (and random classes), default 0. The
            Trainer's own random state is left as it was.
        label: Conditional runs: generate only this class.
        nrow: Images per grid row (default: a square grid).
    """
    points = trainer.spec.data_shape == (2,)
    n = n if n is not None else (DEFAULT_POINTS if points else DEFAULT_IMAGES)
    _positive("-n", n)
    _positive("--nrow", nrow)
    labels = _labels(trainer, label, n)
    with torch.random.fork_rng(devices=[trainer.device] if trainer.device.type == "cuda" else []):
        torch.manual_seed(seed)
        samples = trainer.sample(n, labels=labels)
    if _is_points(samples):
        _save_points(trainer, samples, Path(path))
    else:
        from ganforge.viz import save_grid

        save_grid(_as_images(samples), path, nrow=nrow)
    return samples


def cmd_sample(args: argparse.Namespace) -> int:
    """Run ``ganforge sample``; returns the exit status."""
    _positive("-n", args.n)
    trainer = load_run(args.run, device=args.device)
    out = _out_path(args.out, trainer, "sample.png")
    samples = sample_to_png(trainer, out, n=args.n, seed=args.seed, label=args.label, nrow=args.nrow)
    print(f"Wrote {len(samples)} samples of step {trainer.step} to {out}")
    return 0


# -- interpolate -------------------------------------------------------------------------


def interpolation_rows(trainer: Any, rows: int = 8, steps: int = 10, method: str = "slerp", seed: int = 0,
                       label: int | None = None) -> Tensor:
    """Samples along ``rows`` paths between random latent pairs, ``(rows * steps, *data_shape)``, row by row.

    Uses :func:`ganforge.interpolate.interpolate` (the run's ``latent`` tricks
    apply to the endpoints). Conditional runs draw every path for ``label``,
    or path ``i`` for class ``i mod num_classes`` when ``label`` is None.
    """
    from ganforge.interpolate import interpolate

    _positive("--rows", rows)
    _labels(trainer, label, 1)  # checks --class
    classes = trainer.spec.num_classes
    gen = torch.Generator().manual_seed(seed)
    ends = torch.randn(rows, 2, trainer.spec.latent_dim, generator=gen)
    out = []
    for i in range(rows):
        cls = None if classes is None else torch.tensor(label if label is not None else i % classes)
        out.append(interpolate(trainer, ends[i, 0], ends[i, 1], steps=steps, method=method, labels=cls))
    return torch.cat(out)


def cmd_interpolate(args: argparse.Namespace) -> int:
    """Run ``ganforge interpolate``; returns the exit status."""
    _positive("--rows", args.rows)
    if args.steps < 2:
        raise ConfigError(f"--steps must be an integer >= 2 (got {args.steps})")
    trainer = load_run(args.run, device=args.device)
    out = _out_path(args.out, trainer, f"interp_{args.method}.png")
    samples = interpolation_rows(trainer, rows=args.rows, steps=args.steps, method=args.method, seed=args.seed,
                                 label=args.label)
    if _is_points(samples):
        _save_points(trainer, samples, out)
    else:
        from ganforge.viz import save_grid

        save_grid(_as_images(samples), out, nrow=args.steps)
    print(f"Wrote {args.rows} {args.method} paths of {args.steps} samples (step {trainer.step}) to {out}")
    return 0


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
    fig.savefig(Path(path))
    return [panel for panel, _ in panels]


def cmd_plot(args: argparse.Namespace) -> int:
    """Run ``ganforge plot``; returns the exit status."""
    _pyplot_figure()  # fail first when matplotlib is missing
    records = read_metrics(args.run)
    run = Path(args.run)
    run_dir = run if run.is_dir() else run.parent
    keys = None if args.keys is None else [k.strip() for k in args.keys.split(",") if k.strip()]
    out = _out_path(args.out, run_dir, "curves.png")
    panels = plot_metrics(records, out, keys=keys, title=f"{run_dir.name} ({records[-1]['step']} steps)")
    print(f"Wrote {', '.join(panels)} curves over {len(records)} log records to {out}")
    return 0
