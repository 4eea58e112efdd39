"""``ganforge train``: settings from flags, a TOML file or a preset, then :meth:`ganforge.Trainer.fit`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from ganforge.cli.common import parse_assignment
from ganforge.errors import ConfigError

TRAIN_EXAMPLE = """\
examples:
  ganforge train --data grid25 --steps 2000 --out runs/grid25
  ganforge train --gen mlp --disc mlp --loss bce --tricks soft_labels,instance_noise \\
                 --data mnist --data-root ~/data --split test --steps 2000 --out runs/mlp
  ganforge train --config run.toml --steps 5000        # flags override the file
  ganforge train --resume runs/mlp                      # continue a stopped run
  ganforge train --data grid25 --out runs/g 2> train.log  # to a file: a progress line every 30 s
  ganforge train --preset pacgan --steps 20000 --eval-every 2000 --out runs/pacgan
  ganforge train --data grid25 --gen-option norm=none --trick-option soft_labels.real_range=[0.8,1.0]
  ganforge train --data grid25 --loss hinge --regularizers r1 --regularizer-option r1.gamma=1 \\
                 --ema 0.999 --g-lr 1e-4 --d-lr 4e-4 --lr-schedule linear --out runs/modern
"""

# (flag, config field, type, help) for the plain settings of ``train``.
_TRAIN_FLAGS: list[tuple[str, str, Any, str]] = [
    ("--gen", "gen", str, "generator plugin (default mlp)"),
    ("--disc", "disc", str, "discriminator plugin (default mlp)"),
    ("--loss", "loss", str, "loss plugin: bce (default), minimax, hinge, wgan, wgan_gp, lsgan or ragan"),
    ("--tricks", "tricks", str, "comma-separated tricks, applied in order, e.g. soft_labels,instance_noise"),
    ("--regularizers", "regularizers", str, "comma-separated regularizers (penalties on D such as r1, r2)"),
    ("--data", "data", str, "data set plugin (default mnist; grid25 and ring8 need no files)"),
    ("--data-root", "data_root", str, "folder holding data files (default $GANFORGE_DATA or ./data)"),
    ("--split", "split", str, "train (default) or test"),
    ("--steps", "steps", int, "generator updates in the whole run (default 10000)"),
    ("--batch-size", "batch_size", int, "samples per batch (default 64)"),
    ("--latent-dim", "latent_dim", int, "size of the latent vector (default 100)"),
    ("--seed", "seed", int, "random seed (default 0)"),
    ("--device", "device", str, "auto (default), cpu, cuda, cuda:N or mps"),
    ("--threads", "threads", str, "CPU threads: a number, auto (default: $GANFORGE_THREADS, $OMP_NUM_THREADS, "
                                  "a resumed run's recorded count, else 1; the same every run) or measure (time "
                                  "1, 2, 4, ... and keep the fastest; runs may then differ)"),
    ("--out", "out_dir", str, "run folder (default runs/<gen>-<data>-<N>)"),
    ("--image-size", "image_size", int, "resize image data to this size (e.g. 32 for dcgan on MNIST)"),
    ("--grad-clip", "grad_clip", float, "clip each network's gradient norm to this value"),
    ("--ema", "ema_decay", float, "keep an average of G's weights with this decay (e.g. 0.999) and sample from it"),
    ("--ema-start", "ema_start", int, "steps before the average starts (it copies G until then; default 0)"),
    ("--ema-warmup", "ema_warmup", int, "steps over which the average's decay rises from 0 (default 0)"),
    ("--nan-policy", "nan_policy", str, "stop (default): error on a NaN/Inf loss; skip: skip such steps"),
    ("--eval-every", "eval_every", int, "evaluate every N steps into metrics.jsonl, keeping checkpoints/best.pt"),
    ("--eval-metric", "eval_metric", str, "metric for the best checkpoint (default: the data's primary metric)"),
    ("--eval-samples", "eval_samples", int, "samples per evaluation (default: the metric's standard count)"),
    ("--precision", "precision", str, "fp32 (default), bf16 or fp16"),
    ("--cuda-graphs", "cuda_graphs", str, "auto (default), on or off"),
    ("--data-placement", "data_placement", str, "auto (default), device, stream or files"),
    ("--data-workers", "data_workers", int, "DataLoader workers for --data-placement files (default: CPU cores per process, 1-8)"),
    ("--log-every", "log_every", int, "steps between log lines (default 100)"),
    ("--sample-every", "sample_every", int, "steps between sample grids (default 1000; 0: only at the end)"),
    ("--checkpoint-every", "checkpoint_every", int, "steps between checkpoints (default 1000; 0: only at the end)"),
    ("--checkpoint-minutes", "checkpoint_minutes", float,
     "also checkpoint when this many minutes passed since the last one, checked at each log (default 10; 0: off)"),
    ("--keep-checkpoints", "keep_checkpoints", int, "periodic checkpoints kept (default 3)"),
    ("--strategy", "strategy", str, "auto (default: DDP under torchrun), ddp or none"),
    ("--dist-timeout", "dist_timeout", float, "seconds a collective waits for a dead or hung rank (default 300)"),
    ("--progress-seconds", "progress_seconds", float,
     "seconds between progress lines when stderr is not a terminal (default 30)"),
]

# (flag, config field, example) of NAME.KEY=VALUE options, per trick or regularizer.
_PER_NAME_FLAGS = [
    ("--trick-option", "trick_options", "TRICK", "soft_labels.real_range=[0.8,1]"),
    ("--regularizer-option", "regularizer_options", "REG", "r1.gamma=10"),
]

# (flag, config field) of KEY=VALUE options.
_OPTION_FLAGS = [
    ("--gen-option", "gen_options"),
    ("--disc-option", "disc_options"),
    ("--loss-option", "loss_options"),
    ("--data-option", "data_options"),
    ("--g-optim", "g_optim"),
    ("--d-optim", "d_optim"),
]


def add_parser(sub: Any) -> None:
    """Register ``train`` on ``sub`` (from :func:`ganforge.cli.build_parser`)."""
    train = sub.add_parser(
        "train", help="train a GAN", description="Train a GAN; writes config, metrics, samples and checkpoints.",
        epilog=TRAIN_EXAMPLE, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    train.add_argument("--config", metavar="TOML", help="read settings from a TOML file (flags override it)")
    from ganforge.presets import PRESETS

    train.add_argument("--preset", metavar="NAME",
                       help=f"start from a preset's settings (flags override them): {', '.join(sorted(PRESETS))}")
    train.add_argument("--resume", metavar="RUN_DIR", help="continue the run in RUN_DIR (or from a checkpoint file)")
    for flag, field, typ, help_text in _TRAIN_FLAGS:
        train.add_argument(flag, dest=field, type=typ, default=None, help=help_text)
    for flag, field in _OPTION_FLAGS:
        train.add_argument(flag, dest=field, action="append", default=None, metavar="KEY=VALUE",
                           help=f"set one {field.replace('_', ' ')} entry (repeatable)")
    train.add_argument("--trick-option", dest="trick_options", action="append", default=None,
                       metavar="TRICK.KEY=VALUE", help="set one trick option (repeatable)")
    train.add_argument("--regularizer-option", dest="regularizer_options", action="append", default=None,
                       metavar="REG.KEY=VALUE", help="set one regularizer option (repeatable), e.g. r1.gamma=10")
    train.add_argument("--g-lr", dest="g_lr", type=float, default=None,
                       help="the generator's learning rate (with --d-lr: two time-scale updates, TTUR)")
    train.add_argument("--d-lr", dest="d_lr", type=float, default=None, help="the discriminator's learning rate")
    train.add_argument("--lr-schedule", dest="lr_schedule", default=None, choices=["constant", "linear", "cosine"],
                       help="learning-rate schedule of both networks (linear/cosine decay to final_lr, default 0)")
    train.add_argument("--conditional", dest="conditional", action="store_const", const=True, default=None,
                       help="feed class labels to both networks")
    train.add_argument("--compile", dest="compile", action="store_const", const=True, default=None,
                       help="wrap the models in torch.compile")
    train.add_argument("--overwrite", dest="overwrite", action="store_const", const=True, default=None,
                       help="replace a run already in --out")
    train.add_argument("--tensorboard", dest="tensorboard", action="store_const", const=True, default=None,
                       help="also log to TensorBoard in RUN_DIR/tensorboard (pip install 'ganforge[tensorboard]')")
    train.add_argument("--sync-batchnorm", dest="sync_batchnorm", action="store_const", const=True, default=None,
                       help="under DDP, BatchNorm statistics over the global batch (CUDA only)")
    train.add_argument("--progress", dest="progress", action="store_const", const=True, default=None,
                       help="show progress (default): a bar on a terminal, a line every --progress-seconds otherwise")
    train.add_argument("--no-progress", dest="progress", action="store_const", const=False, default=None,
                       help="hide the progress bar or lines (start, stop and resume messages still print)")
    train.set_defaults(func=cmd_train)


def settings_from_args(args: argparse.Namespace) -> dict[str, Any]:
    """The configuration fields the user set on the command line."""
    settings: dict[str, Any] = {}
    for _, field, _, _ in _TRAIN_FLAGS:
        if getattr(args, field) is not None:
            settings[field] = getattr(args, field)
    for flag in ("conditional", "compile", "overwrite", "progress", "tensorboard", "sync_batchnorm"):
        if getattr(args, flag) is not None:
            settings[flag] = getattr(args, flag)
    for flag, field in _OPTION_FLAGS:
        if getattr(args, field):
            settings[field] = dict(parse_assignment(flag, a) for a in getattr(args, field))
    for flag, field, what, example in _PER_NAME_FLAGS:
        if getattr(args, field):
            settings[field] = _per_name_options(flag, getattr(args, field), what, example)
    for net, lr in (("g_optim", args.g_lr), ("d_optim", args.d_lr)):
        if lr is not None:
            settings[net] = {**settings.get(net, {}), "lr": lr}
    if args.lr_schedule is not None:
        for net in ("g_optim", "d_optim"):
            settings[net] = {**settings.get(net, {}), "schedule": args.lr_schedule}
    return settings


def _per_name_options(flag: str, texts: list[str], what: str, example: str) -> dict[str, dict[str, Any]]:
    """``{"soft_labels": {"real_range": [0.8, 1]}}`` from ``NAME.KEY=VALUE`` arguments."""
    out: dict[str, dict[str, Any]] = {}
    for text in texts:
        key, value = parse_assignment(flag, text)
        name, dot, option = key.partition(".")
        if not dot or not option:
            raise ConfigError(f"{flag} takes {what}.KEY=VALUE (got {text!r}), e.g. {example}")
        out.setdefault(name, {})[option] = value
    return out


def cmd_train(args: argparse.Namespace) -> int:
    from ganforge.config import TrainConfig, load_toml
    from ganforge.io.checkpoint import NOT_INHERITED
    from ganforge.io.rundir import restart_config
    from ganforge.trainer import Trainer

    settings = settings_from_args(args)
    if args.resume:
        if args.config or args.preset:
            raise ConfigError("--resume continues a run with its saved settings; drop --config and --preset.")
        saved = restart_config(args.resume) if Path(args.resume).is_dir() else None
        if saved is None:
            trainer = Trainer.resume(args.resume, **settings)
        else:  # it stopped before its first checkpoint: there is nothing to resume, so start it again
            print(f"{args.resume} has no checkpoint yet (the run stopped before its first one): starting it again "
                  "from step 0 with its saved settings.", file=sys.stderr)
            for name in NOT_INHERITED:
                saved.pop(name, None)
            trainer = Trainer(TrainConfig.from_dict({**saved, **settings, "out_dir": args.resume}))
    else:
        from ganforge.presets import drop_unused_options, get_preset

        base = get_preset(args.preset) if args.preset else {}
        base.update(load_toml(args.config) if args.config else {})
        base = drop_unused_options(base, settings)
        for field in ("gen_options", "disc_options", "loss_options", "data_options", "g_optim", "d_optim"):
            if field in settings and isinstance(base.get(field), dict):
                settings[field] = {**base[field], **settings[field]}
        for _, field, _, _ in _PER_NAME_FLAGS:
            if field in settings and isinstance(base.get(field), dict):
                merged = {k: dict(v) for k, v in base[field].items()}
                for name, opts in settings[field].items():
                    merged.setdefault(name, {}).update(opts)
                settings[field] = merged
        trainer = Trainer(TrainConfig.from_dict({**base, **settings}))
    trainer.fit()
    return 0
