"""``ganforge eval``: measure a saved run and write the numbers to ``eval.json`` in its folder."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

EVAL_FILE = "eval.json"
SCATTER_FILE = "eval_scatter.png"

EVAL_EXAMPLE = """\
examples:
  ganforge eval runs/grid25                      # latest checkpoint; mixture metrics + eval_scatter.png
  ganforge eval runs/grid25/checkpoints/step_0002000.pt --n 2500
  ganforge eval runs/mnist --feature classifier  # FID/KID/precision/recall/density/coverage/classes (domain CNN)
  ganforge eval runs/cifar10 --feature inception --n 10000 --inception-weights pt_inception-2015-12-05-6726825d.pth
  ganforge eval runs/cifar10 --feature inception --reference fid_stats_cifar10_train.npz  # a paper's mu/sigma
  ganforge eval runs/cifar10 --feature inception --save-reference cifar10-train.npz
  ganforge eval runs/mnist --data-root ~/data --json

Lower is better: reverse_kl, fid, kid, class_kl, stacked_kl.
Higher is better: modes, hq_percent, precision, recall, density, coverage, classes, stacked_modes,
inception_score. --feature inception is the standard FID network (comparable with papers; needs
pip install 'ganforge[metrics]' and its weights file); inception-imagenet is torchvision's (not comparable).
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
    p.add_argument("--n", type=int, default=None,
                   help="samples to generate (default 2500 for mixtures and other points, 26000 stacked MNIST, "
                        "5000 images)")
    p.add_argument("--feature", default="classifier", choices=extractor_names(),
                   help="feature extractor for image metrics (default classifier; inception: the standard FID "
                        "network; inception-imagenet: torchvision's, not comparable with papers)")
    p.add_argument("--inception-weights", default=None, metavar="PATH",
                   help=f"weights file of --feature inception ({FID_INCEPTION_FILE}; default: looked for in "
                        "the per-user cache, GANFORGE_CACHE/weights)")
    p.add_argument("--reference", default=None, metavar="STATS.npz",
                   help="compute FID against these statistics (pytorch-fid's mu/sigma .npz) instead of the data")
    p.add_argument("--save-reference", default=None, metavar="STATS.npz",
                   help="also write the real images' statistics (mu/sigma .npz with ganforge's metadata)")
    p.add_argument("--seed", type=int, default=0, help="seed of the evaluation latents and real subset (default 0)")
    p.add_argument("--split", default=None,
                   help="image data: take the real images from this split (e.g. test) instead of the run's")
    p.add_argument("--device", default=None, help="run on this device instead of the run's (cpu, cuda, ...)")
    p.add_argument("--data-root", default=None, help="folder holding the data files, if moved since training")
    p.add_argument("--out", default=None, help=f"JSON file to write (default RUN_DIR/{EVAL_FILE})")
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


def cmd_eval(args: argparse.Namespace) -> int:
    """Run ``ganforge eval``; returns the exit status."""
    from ganforge.metrics import evaluate
    from ganforge.trainer import Trainer

    settings: dict[str, Any] = {"progress": False}
    if args.device:
        settings["device"] = args.device
    if args.data_root:
        settings["data_root"] = args.data_root
    trainer = Trainer.resume(args.run, **settings).setup()
    trainer.use_ema = args.ema
    run_dir = Path(trainer.run_dir)
    scatter = run_dir / SCATTER_FILE if tuple(trainer.dataset.sample_shape) == (2,) else None
    result = evaluate(trainer, n=args.n, feature=args.feature, seed=args.seed, scatter=scatter,
                      reference=args.reference, save_reference=args.save_reference,
                      inception_weights=args.inception_weights, real_split=args.split)
    result["checkpoint"] = str(Path(args.run))
    if scatter is not None:
        result["scatter"] = str(scatter)
    out = Path(args.out) if args.out else run_dir / EVAL_FILE
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(result, indent=2) if args.json else format_result(result))
    if not args.json:
        print(f"Saved {out}")
    return 0
