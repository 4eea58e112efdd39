"""``ganforge train``: settings from flags, a TOML file or a preset, then :meth:`ganforge.Trainer.fit`."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs

from ganforge.cli.common import parse_assignment
from ganforge.config import RUN_PLUGINS, OptimConfig, TrainConfig, setting_help
from ganforge.errors import ConfigError

#: The options fields of the plugins listed by name: given as ``NAME.KEY=VALUE``.
_PER_NAME = tuple(plugin.options for plugin in RUN_PLUGINS if plugin.listed)

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

# The flags are TrainConfig's fields: each field's metadata holds its flag and help
# (ganforge.config.setting). This is only the order --help shows them in; "g_lr", "d_lr" and
# "lr_schedule" are this command's shorthands into g_optim and d_optim.
HELP_ORDER: tuple[str, ...] = (
    "gen", "disc", "loss", "tricks", "regularizers", "data", "data_root", "split", "steps", "batch_size",
    "latent_dim", "seed", "device", "threads", "out_dir", "image_size", "grad_clip", "ema_decay", "ema_start",
    "ema_warmup", "nan_policy", "eval_every", "eval_metric", "eval_samples", "precision", "cuda_graphs",
    "data_placement", "data_workers", "log_every", "sample_every", "checkpoint_every", "checkpoint_minutes",
    "keep_checkpoints", "strategy", "dist_timeout", "progress_seconds",
    "gen_options", "disc_options", "loss_options", "data_options", "g_optim", "d_optim",
    "trick_options", "regularizer_options", "schedules",
    "g_lr", "d_lr", "lr_schedule",
    "conditional", "compile", "overwrite", "tensorboard", "sync_batchnorm", "progress",
)
_SHORTHANDS = ("g_lr", "d_lr", "lr_schedule")


def _flag_kind(field: attrs.Attribute) -> str:
    """How a field is given on the command line: ``value``, ``switch``, ``assign`` (KEY=VALUE) or ``per_name``."""
    if field.name in _PER_NAME:
        return "per_name"
    default = field.default.factory() if isinstance(field.default, attrs.Factory) else field.default  # type: ignore[arg-type]
    if isinstance(default, bool):
        return "switch"
    if isinstance(default, Mapping) or attrs.has(type(default)):
        return "assign"
    return "value"


def _value_type(field: attrs.Attribute) -> Any:
    """The argparse type of a plain value: int or float from the annotation, else str (names, paths, "auto")."""
    kinds = {t.strip() for t in str(field.type).split("|")} - {"None"}
    return int if kinds == {"int"} else float if kinds == {"float"} else str


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
    fields = attrs.fields_dict(TrainConfig)
    for name in HELP_ORDER:
        if name in _SHORTHANDS:
            _add_shorthand(train, name)
            continue
        field = fields[name]
        flag, help_text, kind = field.metadata["flag"], setting_help(field), _flag_kind(field)
        if kind == "value":
            train.add_argument(flag, dest=name, type=_value_type(field), default=None, help=help_text)
        elif kind == "switch":
            train.add_argument(flag, dest=name, action="store_const", const=True, default=None, help=help_text)
            if "off_help" in field.metadata:
                train.add_argument(f"--no-{flag[2:]}", dest=name, action="store_const", const=False, default=None,
                                   help=field.metadata["off_help"])
        else:
            metavar = field.metadata.get("metavar", "KEY=VALUE")
            train.add_argument(flag, dest=name, action="append", default=None, metavar=metavar, help=help_text)
    train.set_defaults(func=cmd_train)


def _add_shorthand(train: Any, name: str) -> None:
    if name == "g_lr":
        train.add_argument("--g-lr", dest="g_lr", type=float, default=None,
                           help="the generator's learning rate (with --d-lr: two time-scale updates, TTUR)")
    elif name == "d_lr":
        train.add_argument("--d-lr", dest="d_lr", type=float, default=None, help="the discriminator's learning rate")
    else:
        schedules = list(attrs.fields(OptimConfig).schedule.validator.allowed)
        train.add_argument("--lr-schedule", dest="lr_schedule", default=None, choices=schedules,
                           help="learning-rate schedule of both networks (linear/cosine decay to final_lr, default 0)")


def settings_from_args(args: argparse.Namespace) -> dict[str, Any]:
    """The configuration fields the user set on the command line."""
    settings: dict[str, Any] = {}
    for field in attrs.fields(TrainConfig):
        value = getattr(args, field.name)
        kind = _flag_kind(field)
        if kind in ("value", "switch") and value is not None:
            settings[field.name] = value
        elif kind == "assign" and value:
            flag, example = field.metadata["flag"], field.metadata["example"]
            settings[field.name] = dict(parse_assignment(flag, a, example) for a in value)
        elif kind == "per_name" and value:
            settings[field.name] = _per_name_options(field, value)
    for net, lr in (("g_optim", args.g_lr), ("d_optim", args.d_lr)):
        if lr is not None:
            settings[net] = {**settings.get(net, {}), "lr": lr}
    if args.lr_schedule is not None:
        for net in ("g_optim", "d_optim"):
            settings[net] = {**settings.get(net, {}), "schedule": args.lr_schedule}
    return settings


def _per_name_options(field: attrs.Attribute, texts: list[str]) -> dict[str, dict[str, Any]]:
    """``{"soft_labels": {"real_range": [0.8, 1]}}`` from ``NAME.KEY=VALUE`` arguments."""
    flag, example = field.metadata["flag"], field.metadata["example"]
    what = field.metadata["metavar"].partition(".")[0]
    out: dict[str, dict[str, Any]] = {}
    for text in texts:
        name, dot, option = text.partition("=")[0].strip().partition(".")
        if "=" not in text or not name or not dot or not option:
            raise ConfigError(f"{flag} takes {what}.KEY=VALUE (got {text!r}), e.g. {example}")
        key, value = parse_assignment(flag, text)
        name, _, option = key.partition(".")
        out.setdefault(name, {})[option] = value
    return out


def cmd_train(args: argparse.Namespace) -> int:
    from ganforge.config import load_toml
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
        for field in attrs.fields(TrainConfig):  # a flag's KEY=VALUE options add to the file's or preset's
            if _flag_kind(field) == "assign" and field.name in settings and isinstance(base.get(field.name), dict):
                settings[field.name] = {**base[field.name], **settings[field.name]}
        for field in _PER_NAME:
            if field in settings and isinstance(base.get(field), dict):
                merged = {k: dict(v) for k, v in base[field].items()}
                for name, opts in settings[field].items():
                    merged.setdefault(name, {}).update(opts)
                settings[field] = merged
        trainer = Trainer(TrainConfig.from_dict({**base, **settings}))
    trainer.fit()
    return 0
