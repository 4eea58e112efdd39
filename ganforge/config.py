"""Run configuration: frozen, validated attrs classes that serialise to JSON and load from TOML.

A bad value raises :class:`~ganforge.errors.ConfigError` naming the field,
the value and what is allowed::

    >>> TrainConfig(precision="fp8")
    Traceback (most recent call last):
    ...
    ganforge.errors.ConfigError: 'precision' must be one of 'fp32', 'bf16', 'fp16' (got 'fp8')
"""

from __future__ import annotations

import difflib
import json
import os
import sys
from collections.abc import Mapping
from typing import Any, NamedTuple

import attrs

from ganforge.errors import ConfigError
from ganforge.io.atomic import atomic_write
from ganforge.options import boolean, choice, either, integer, mapping, number, optional, pair, text

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


# -- validators ----------------------------------------------------------------
# The shared set of ganforge.options (attrs' validators raising ConfigError, "did you mean" for a choice);
# only the phrases that say what a field takes are this module's.

_positive = number(0.0, low_open=True)
_nonneg = number(0.0)
_name = text("a plugin name such as 'mlp'")
_opt_path = optional(text(empty=True), what="a path or None")
_device = text("a device such as 'auto', 'cpu', 'cuda' or 'cuda:1'")
_opt_metric = optional(text(), what="a metric name such as 'fid' or 'reverse_kl', or None")
_opt_unit_open = optional(number(0.0, 1.0, low_open=True, high_open=True),
                          what="None or a number between 0 and 1, exclusive")
_options = mapping("a mapping of option names to values")
_threads = either(choice("auto", "measure"), integer(1), what="'auto', 'measure' or an integer >= 1")
_betas = pair(0.0, 1.0, ordered=False, high_open=True)


def _to_threads(value: Any) -> Any:
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    if isinstance(value, str) and value.strip().lower() in ("auto", "measure"):
        return value.strip().lower()
    return value


# -- converters ----------------------------------------------------------------


def _names(field: str, kind: str):
    """Converter to a tuple of plugin names (a comma-separated string is accepted), each listed once."""

    def convert(value: Any) -> tuple[str, ...]:
        if value is None:
            return ()
        if isinstance(value, str):
            value = [v for v in (s.strip() for s in value.split(",")) if v]
        try:
            out = tuple(value)
        except TypeError:
            raise ConfigError(f"{field!r} must be a list of {kind} names (got {value!r})") from None
        for name in out:
            if not isinstance(name, str) or not name:
                raise ConfigError(f"{field!r} must be a list of {kind} names (got {value!r})")
        if len(set(out)) != len(out):
            dup = sorted({n for n in out if out.count(n) > 1})
            raise ConfigError(f"{field!r} lists {', '.join(dup)} more than once (got {list(out)!r})")
        return out

    return convert


_to_tricks = _names("tricks", "trick")


class FrozenDict(dict):
    """A dict that cannot be changed after it is made, and can be hashed (values are frozen too).

    :class:`TrainConfig` keeps its option mappings in these, so a frozen
    configuration stays frozen all the way down: ``config.gen_options["x"] = 1``
    raises ``TypeError`` instead of silently changing a run's recorded settings.
    """

    def _refuse(self, *args: Any, **kwargs: Any) -> None:
        raise TypeError("a TrainConfig is frozen: use config.evolve(...) to make a changed copy")

    __setitem__ = __delitem__ = update = pop = popitem = clear = setdefault = __ior__ = _refuse  # type: ignore[assignment]

    def __hash__(self) -> int:  # type: ignore[override]
        return hash(tuple(sorted(self.items(), key=lambda kv: str(kv[0]))))

    def __reduce__(self) -> tuple[Any, ...]:  # copy, deepcopy and pickle rebuild it whole
        return (FrozenDict, (dict(self),))


def freeze(value: Any) -> Any:
    """``value`` with every mapping made a :class:`FrozenDict` and every list a tuple, recursively."""
    if isinstance(value, Mapping):
        return FrozenDict({k: freeze(v) for k, v in value.items()})
    if isinstance(value, (list, tuple)):
        return tuple(freeze(v) for v in value)
    return value


def _to_dict(value: Any) -> Any:
    return freeze(value) if isinstance(value, Mapping) else value


def _to_trick_options(value: Any) -> Any:
    return freeze(value) if isinstance(value, Mapping) else value


def _to_path(value: Any) -> Any:
    return os.fspath(value) if isinstance(value, os.PathLike) else value


def _to_pair(value: Any) -> Any:
    return tuple(value) if isinstance(value, (list, tuple)) else value


# -- one home for each setting's facts -------------------------------------------

#: Why a setting cannot change on resume, by the group its ``resume`` metadata names (None: the last line).
#: A refused resume names the first group, in this order, that holds a changed setting.
RESUME_REASONS: dict[str | None, str] = {
    "model": "the model cannot change on resume: the checkpoint holds the weights of the saved models",
    "tricks": "the checkpoint holds the saved tricks' state (and the changes some of them make to the models)",
    "optimizer": "the optimizer state and losses belong to the saved settings",
    "data": "the data position and random streams belong to the saved data set, batch size and seed",
    None: "the checkpoint's weights, optimizer state and data position belong to the saved values",
}


def setting(default: Any = attrs.NOTHING, *, help: str, flag: str, resume: bool | str | None,
            inherit: bool = True, validator: Any = None, converter: Any = None, factory: Any = None,
            **cli: str) -> Any:
    """One :class:`TrainConfig` field with everything known about it, kept in its attrs ``metadata``.

    Args:
        help: The one-line help of its ``ganforge train`` flag; ``{default}`` stands for the default and
            ``{choices}`` for the allowed values with the default marked (:func:`setting_help`).
        flag: Its ``ganforge train`` flag.
        resume: True when a resumed run may change it; otherwise the :data:`RESUME_REASONS` group
            that says why not (None: the general reason).
        inherit: False for a setting that is not part of a run's identity: a resume uses its default
            unless it is given again.
        cli: ``metavar`` and ``example`` of a ``KEY=VALUE`` or ``NAME.KEY=VALUE`` flag (the help's
            ``{example}``, and the fix its error names), and ``off_help`` (the help of a switch's
            ``--no-`` twin, which is added when given).
    """
    if resume is not True and resume not in RESUME_REASONS:
        raise TypeError(f"resume must be True or one of {list(RESUME_REASONS)} (got {resume!r})")
    metadata = {"help": help, "flag": flag, "resume": resume, "inherit": inherit, **cli}
    if factory is not None:
        return attrs.field(factory=factory, converter=converter, validator=validator, metadata=metadata)
    return attrs.field(default=default, converter=converter, validator=validator, metadata=metadata)


class RunPlugin(NamedTuple):
    """One kind of plugin a run chooses, and the :class:`TrainConfig` fields that choose it."""

    #: The plugin kind (``"generator"``, ...), as the registry names it.
    kind: str
    #: The field naming the plugin (``"gen"``), or listing them by name (``"tricks"``).
    field: str
    #: The field holding its options: ``{option: value}``, or ``{name: {option: value}}`` for a list.
    options: str
    #: True when ``field`` lists plugins by name (tricks, regularizers).
    listed: bool


#: The one table of a run's plugins: kind <-> name field <-> options field, in the order a run records them.
RUN_PLUGINS: tuple[RunPlugin, ...] = (
    RunPlugin("generator", "gen", "gen_options", False),
    RunPlugin("discriminator", "disc", "disc_options", False),
    RunPlugin("loss", "loss", "loss_options", False),
    RunPlugin("dataset", "data", "data_options", False),
    RunPlugin("trick", "tricks", "trick_options", True),
    RunPlugin("regularizer", "regularizers", "regularizer_options", True),
)


# -- classes --------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class OptimConfig:
    """Optimizer settings for one network (ganhacks #9: Adam for G, SGD possible for D).

    Attributes:
        name: ``"adam"`` (default), ``"adamw"``, ``"sgd"`` or ``"rmsprop"``.
        lr: Learning rate, default 2e-4.
        betas: Adam's (beta1, beta2), default (0.5, 0.999) as in DCGAN.
        momentum: SGD/RMSprop momentum, default 0.
        weight_decay: Default 0.
        schedule: How the learning rate changes over the run: ``"constant"``
            (default), ``"linear"`` (from ``lr`` down to ``final_lr`` at the last
            step) or ``"cosine"`` (half a cosine from ``lr`` to ``final_lr``).
        final_lr: The learning rate at the last step for ``"linear"`` and
            ``"cosine"``, default 0.
        warmup: Steps over which the learning rate first rises linearly from
            0 to ``lr`` (the decay then runs over the remaining steps), default 0.

    With a schedule or a warm-up the learning rate is a tensor on the training
    device, set inside the step from the step count, so a CUDA-graphed step
    follows it and a resumed run continues it exactly.
    """

    name: str = attrs.field(default="adam", validator=choice("adam", "adamw", "sgd", "rmsprop"))
    lr: float = attrs.field(default=2e-4, validator=_positive)
    betas: tuple[float, float] = attrs.field(default=(0.5, 0.999), converter=_to_pair, validator=_betas)
    momentum: float = attrs.field(default=0.0, validator=_nonneg)
    weight_decay: float = attrs.field(default=0.0, validator=_nonneg)
    schedule: str = attrs.field(default="constant", validator=choice("constant", "linear", "cosine"))
    final_lr: float = attrs.field(default=0.0, validator=_nonneg)
    warmup: int = attrs.field(default=0, validator=integer(0))

    @property
    def scheduled(self) -> bool:
        """True when the learning rate changes during the run (a schedule or a warm-up)."""
        return self.schedule != "constant" or self.warmup > 0


def _to_optim(value: Any) -> Any:
    if isinstance(value, OptimConfig):
        return value
    if isinstance(value, Mapping):
        return _from_mapping(OptimConfig, value, prefix="optimizer ")
    raise ConfigError(f"optimizer settings must be a mapping such as {{'lr': 2e-4}} (got {value!r})")


#: The shapes a :class:`ScheduleConfig` can take.
SCHEDULE_KINDS = ("constant", "linear", "cosine")


def _opt_float(value: Any) -> Any:
    return float(value) if isinstance(value, int) and not isinstance(value, bool) else value


@attrs.frozen(kw_only=True)
class ScheduleConfig:
    """How one numeric hyper-parameter changes over the run (``TrainConfig.schedules``).

    The value at 0-based step ``t`` of a ``T``-step run, with ``w`` warm-up steps and ``D`` steps of
    change (``steps``, default the ``T - w`` steps after the warm-up):

    * warm-up, ``t < w``: linear from ``warmup_from`` to ``start``: ``warmup_from + (start - warmup_from) (t + 1) / w``;
    * then ``p = (t - w) / max(1, D - 1)``, clamped to [0, 1], and ``"constant"``: ``start``;
      ``"linear"``: ``start + (end - start) p``; ``"cosine"``: ``end + (start - end) (1 + cos(pi p)) / 2``.

    After ``D`` steps the value stays at ``end``. A string ``"KIND:START:END"`` (``"cosine:0.9:0.99"``)
    or ``"constant:VALUE"`` is accepted where a schedule is expected.

    Attributes:
        kind: ``"constant"``, ``"linear"`` or ``"cosine"``.
        start: The value after the warm-up.
        end: The value at the end of the change (default: ``start``).
        steps: Steps over which the value goes from ``start`` to ``end`` (default: the rest of the run).
        warmup: Steps of linear rise from ``warmup_from`` to ``start`` first (default 0).
        warmup_from: Where the warm-up starts (default 0).
    """

    kind: str = attrs.field(default="constant", validator=choice(*SCHEDULE_KINDS))
    start: float = attrs.field(converter=_opt_float, validator=number())
    end: float | None = attrs.field(default=None, converter=_opt_float, validator=optional(number()))
    steps: int | None = attrs.field(default=None, validator=optional(integer(1)))
    warmup: int = attrs.field(default=0, validator=integer(0))
    warmup_from: float = attrs.field(default=0.0, converter=_opt_float, validator=number())

    @property
    def final(self) -> float:
        """The value at the end of the change (``end``, or ``start`` when unset)."""
        return self.start if self.end is None else self.end

    def values(self) -> tuple[float, ...]:
        """Every value the schedule passes through at its corners (for range checks)."""
        return (self.start, self.final, *((self.warmup_from,) if self.warmup else ()))


def _to_schedule(target: str, value: Any) -> ScheduleConfig:
    example = "'cosine:0.9:0.99' or {'kind': 'cosine', 'start': 0.9, 'end': 0.99}"
    if isinstance(value, ScheduleConfig):
        return value
    if isinstance(value, str):
        parts = [p.strip() for p in value.split(":")]
        try:
            numbers = [float(p) for p in parts[1:]]
        except ValueError:
            numbers = []
        if len(parts) < 2 or len(numbers) != len(parts) - 1 or len(numbers) > 2:
            raise ConfigError(f"Schedule of {target!r} must be KIND:START[:END] with KIND one of "
                              f"{', '.join(SCHEDULE_KINDS)} (got {value!r}), e.g. {example}")
        value = {"kind": parts[0], "start": numbers[0], **({"end": numbers[1]} if len(numbers) == 2 else {})}
    if not isinstance(value, Mapping):
        raise ConfigError(f"Schedule of {target!r} must be a string or a mapping (got {value!r}), e.g. {example}")
    if "start" not in value:
        raise ConfigError(f"Schedule of {target!r} needs a 'start' value (got {dict(value)!r}), e.g. {example}")
    try:
        return _from_mapping(ScheduleConfig, value, prefix=f"schedule {target!r} ")
    except ConfigError as exc:
        if str(exc).startswith("Unknown schedule"):
            raise
        raise ConfigError(f"Schedule of {target!r}: {exc}") from None


def _to_schedules(value: Any) -> Any:
    if not isinstance(value, Mapping):
        return value  # the validator names the problem
    out = {}
    for target, spec in value.items():
        owner, dot, name = str(target).partition(".")
        if not (isinstance(target, str) and owner and dot and name):
            raise ConfigError(f"'schedules' keys name a hyper-parameter as OWNER.NAME, such as 'd_optim.beta2', "
                              f"'ema.half_life' or 'r1.gamma' (got {target!r}).")
        out[target] = _to_schedule(target, spec)
    return freeze(out)


@attrs.frozen(kw_only=True)
class TrainConfig:
    """Everything that defines a training run. All fields have defaults.

    Attributes:
        gen: Generator plugin name, default ``"mlp"``.
        disc: Discriminator plugin name, default ``"mlp"``.
        loss: Loss plugin name, default ``"bce"`` (non-saturating).
        tricks: Trick plugin names, applied in this order; a comma-separated
            string is accepted. Default none.
        gen_options, disc_options, loss_options, data_options: Keyword options
            for the chosen plugin (e.g. ``{"norm": "instance"}``).
        trick_options: Per-trick options, ``{"soft_labels": {"real_range": (0.8, 1.0)}}``.
        regularizers: Regularizer plugin names (penalties such as ``"r1"`` added
            to a network's loss); a comma-separated string is accepted. Default none.
        regularizer_options: Per-regularizer options, ``{"r1": {"gamma": 10.0}}``.
        data: Data set plugin name, default ``"mnist"``.
        data_root: Folder holding data files (default: ``$GANFORGE_DATA`` or ``./data``).
        split: ``"train"`` (default) or ``"test"``.
        conditional: Feed class labels to G and D, default False.
        image_size: Resize image data to this height and width (None: as stored).
        steps: Generator updates in the whole run, default 10,000.
        batch_size: Samples per batch, default 64.
        latent_dim: Size of the latent vector, default 100 (0 for a generator that translates a condition and
            draws no latents, as pix2pix's).
        seed: Random seed, default 0. Same seed, same run on CPU.
        device: ``"auto"`` (CUDA when available), ``"cpu"``, ``"cuda"``, ``"cuda:1"``, ``"mps"``.
        out_dir: Run directory; default ``runs/<gen>-<data>-<N>``, a fresh one.
        g_optim, d_optim: :class:`OptimConfig` for each network (learning
            rates, schedules; different rates for G and D make the two
            time-scale update rule, Heusel et al. 2017).
        ema_decay: Keep an exponential moving average of the generator's
            weights with this decay (e.g. 0.999; None: no average, the
            default). Sampling, evaluation and ``best.pt`` then use the
            averaged generator (``ema=False`` or ``--no-ema`` picks the raw one).
        ema_start: Steps before the average starts; until then it copies the
            generator, default 0.
        ema_warmup: Steps after ``ema_start`` over which the decay rises
            linearly from 0 to ``ema_decay``, default 0 (full decay at once).
        schedules: Hyper-parameters that change over the run, ``{NAME: schedule}`` with each schedule a
            :class:`ScheduleConfig` (or its mapping or ``"KIND:START:END"`` string). Names:
            ``g_optim.beta1``/``.beta2`` and ``d_optim.*`` (Adam's betas), ``ema.decay``,
            ``ema.half_life`` (in generator updates: the decay is ``0.5 ** (1 / half_life)``), and
            ``PLUGIN.OPTION`` for a loss, regularizer or trick option declared ``schedulable``
            (``r1.gamma``). Learning rates keep their own ``schedule`` in ``g_optim``/``d_optim``.
            Each value is a tensor on the device, set at the start of every step from the step
            count (capturable; a resumed run continues it exactly). Default none.
        precision: ``"fp32"`` (default), ``"bf16"`` or ``"fp16"`` (autocast; fp16 adds a GradScaler).
        cuda_graphs: ``"auto"`` (capture the step on CUDA when possible), ``"on"``, ``"off"``.
        compile: Wrap the models in ``torch.compile``, default False.
        data_placement: ``"auto"``, ``"device"`` (resident), ``"stream"`` (host
            memory, copied per batch) or ``"files"`` (read per sample by
            DataLoader workers; per-item data sets such as ``image-folder``).
        data_workers: DataLoader worker processes for ``"files"`` (None: the
            usable CPU cores divided among this machine's training
            processes, 1 to 8; 0: read in the training process).
        log_every: Steps between reading losses to the host and logging, default 100.
        sample_every: Steps between sample grids, default 1,000 (0: only at the end).
        checkpoint_every: Steps between checkpoints, default 1,000 (0: only at the end).
        keep_checkpoints: How many periodic checkpoints to keep, default 3.
        grad_clip: Clip each network's gradient norm to this value (None: no clipping).
        nan_policy: ``"stop"`` (default) ends the run with an error when a loss
            is NaN or infinite; ``"skip"`` skips such steps (checks every step,
            so the step is not graphed).
        progress: Show progress, default True: a bar on a terminal, a plain
            line every ``progress_seconds`` otherwise. False hides only that;
            the start, stop and resume messages are printed either way. Not
            part of the run's identity: a resume uses the default unless given.
        eval_every: Measure the generator with :func:`ganforge.metrics.evaluate`
            every this many steps (0: never, the default), log the metrics and keep
            ``checkpoints/best.pt``.
        eval_metric: The metric that picks the best checkpoint (default: the
            data's primary metric: reverse_kl, stacked_kl or fid).
        eval_samples: Samples per evaluation (default: the metric's standard count).
        tensorboard: Also log to TensorBoard under ``RUN_DIR/tensorboard``
            (needs ``pip install 'ganforge[tensorboard]'``), default False.
        overwrite: Allow writing into a directory holding another run, default False.
        strategy: ``"auto"`` (default: DistributedDataParallel when launched by
            torchrun, i.e. ``WORLD_SIZE > 1``), ``"ddp"`` (always) or ``"none"``
            (one process). ``batch_size`` is then the global batch. See docs/distributed.md.
        sync_batchnorm: Under DDP, turn BatchNorm layers into SyncBatchNorm
            (statistics over the global batch; CUDA only), default False.
        dist_timeout: Seconds a collective waits for the other ranks before the
            run fails with an error naming the likely dead rank, default 300.
        threads: CPU threads for PyTorch's operators on a CPU run: a number (used
            as given), ``"auto"`` (default: ``GANFORGE_THREADS``, a
            ``torch.set_num_threads`` call made before the Trainer,
            ``MKL_NUM_THREADS``/``OMP_NUM_THREADS``, on a resume the recorded
            count, else 1 -- the same count every run, never timed) or
            ``"measure"`` (time a few steps with 1, 2, 4, ... threads on a
            throwaway copy and keep the fastest: runs may then differ). See
            :mod:`ganforge.training.threads`. Ignored on GPUs.
        checkpoint_minutes: Also write a checkpoint when this many minutes have
            passed since the last one, default 10 (0: only every
            ``checkpoint_every`` steps). Checked on the host at each log
            (``log_every``), so a killed run loses at most about this much
            work plus one log interval.
        progress_seconds: Seconds between plain progress lines (step, rate,
            losses, time left) when stderr is not a terminal (a log file, CI),
            default 30. On a terminal a progress bar is shown instead.
    """

    gen: str = setting("mlp", validator=_name, resume="model", flag="--gen",
                       help="generator plugin (default {default})")
    disc: str = setting("mlp", validator=_name, resume="model", flag="--disc",
                        help="discriminator plugin (default {default})")
    loss: str = setting("bce", validator=_name, resume="optimizer", flag="--loss",
                        help="loss plugin: {default} (default), minimax, hinge, wgan, wgan_gp, lsgan or ragan")
    tricks: tuple[str, ...] = setting((), converter=_to_tricks, resume="tricks", flag="--tricks",
                                      help="comma-separated tricks, applied in order, e.g. soft_labels,instance_noise")
    gen_options: dict[str, Any] = setting(
        factory=dict, converter=_to_dict, validator=_options, resume="model", flag="--gen-option",
        example="norm=instance", help="set one generator option (repeatable), e.g. {example}")
    disc_options: dict[str, Any] = setting(
        factory=dict, converter=_to_dict, validator=_options, resume="model", flag="--disc-option",
        example="spectral_norm=true", help="set one discriminator option (repeatable), e.g. {example}")
    loss_options: dict[str, Any] = setting(
        factory=dict, converter=_to_dict, validator=_options, resume="optimizer", flag="--loss-option",
        example="lambda_gp=10", help="set one loss option (repeatable), e.g. {example}")
    trick_options: dict[str, dict[str, Any]] = setting(
        factory=dict, converter=_to_trick_options, validator=_options, resume="tricks", flag="--trick-option",
        metavar="TRICK.KEY=VALUE", example="soft_labels.real_range=[0.8,1]",
        help="set one trick option (repeatable), e.g. {example}")
    regularizers: tuple[str, ...] = setting(
        (), converter=_names("regularizers", "regularizer"), resume=None, flag="--regularizers",
        help="comma-separated regularizers (penalties on D such as r1, r2)")
    regularizer_options: dict[str, dict[str, Any]] = setting(
        factory=dict, converter=_to_trick_options, validator=_options, resume=None, flag="--regularizer-option",
        metavar="REG.KEY=VALUE", example="r1.gamma=10", help="set one regularizer option (repeatable), e.g. {example}")
    data: str = setting("mnist", validator=_name, resume="data", flag="--data",
                        help="data set plugin (default {default}; grid25 and ring8 need no files)")
    data_root: str | None = setting(None, converter=_to_path, validator=_opt_path, resume=True, flag="--data-root",
                                    help="folder holding data files (default $GANFORGE_DATA or ./data)")
    split: str = setting("train", validator=choice("train", "test"), resume="data", flag="--split", help="{choices}")
    data_options: dict[str, Any] = setting(
        factory=dict, converter=_to_dict, validator=_options, resume="data", flag="--data-option",
        example="std=0.05", help="set one data set option (repeatable), e.g. {example}")
    conditional: bool = setting(False, validator=boolean(), resume="model", flag="--conditional",
                                help="feed class labels to both networks")
    image_size: int | None = setting(None, validator=optional(integer(4)), resume="model", flag="--image-size",
                                     help="resize image data to this size (e.g. 32 for dcgan on MNIST)")
    steps: int = setting(10_000, validator=integer(1), resume=True, flag="--steps",
                         help="generator updates in the whole run (default {default})")
    batch_size: int = setting(64, validator=integer(1), resume="data", flag="--batch-size",
                              help="samples per batch (default {default})")
    latent_dim: int = setting(100, validator=integer(0), resume="model", flag="--latent-dim",
                              help="size of the latent vector (default {default}; 0 only for a generator that "
                                   "translates a condition, as pix2pix's: its dropout is the noise)")
    seed: int = setting(0, validator=integer(0, 2**63 - 1), resume="data", flag="--seed",  # torch seeds are 64-bit
                        help="random seed (default {default})")
    device: str = setting("auto", validator=_device, resume=True, flag="--device",
                          help="{default} (default), cpu, cuda, cuda:N or mps")
    out_dir: str | None = setting(None, converter=_to_path, validator=_opt_path, resume=None, flag="--out",
                                  help="run folder (default runs/<gen>-<data>-<N>)")
    g_optim: OptimConfig = setting(factory=OptimConfig, converter=_to_optim, resume="optimizer", flag="--g-optim",
                                   example="betas=[0,0.9]",
                                   help="set one optimizer setting of the generator (repeatable), e.g. {example}")
    d_optim: OptimConfig = setting(factory=OptimConfig, converter=_to_optim, resume="optimizer", flag="--d-optim",
                                   example="lr=4e-4",
                                   help="set one optimizer setting of the discriminator (repeatable), e.g. {example}")
    ema_decay: float | None = setting(
        None, validator=_opt_unit_open, resume=None, flag="--ema",
        help="keep an average of G's weights with this decay (e.g. 0.999) and sample from it")
    ema_start: int = setting(0, validator=integer(0), resume=None, flag="--ema-start",
                             help="steps before the average starts (it copies G until then; default {default})")
    ema_warmup: int = setting(0, validator=integer(0), resume=None, flag="--ema-warmup",
                              help="steps over which the average's decay rises from 0 (default {default})")
    schedules: dict[str, ScheduleConfig] = setting(
        factory=dict, converter=_to_schedules, validator=_options, resume=None, flag="--schedule",
        metavar="NAME=KIND:START:END", example="d_optim.beta2=cosine:0.9:0.99",
        help="schedule one hyper-parameter over the run (repeatable), e.g. {example}; names: g_optim/d_optim.beta1 "
             "and .beta2, ema.decay, ema.half_life, and plugin options marked schedulable (ganforge plugins NAME)")
    precision: str = setting("fp32", validator=choice("fp32", "bf16", "fp16"), resume=True, flag="--precision",
                             help="{choices}")
    cuda_graphs: str = setting("auto", validator=choice("auto", "on", "off"), resume=True, flag="--cuda-graphs",
                               help="{choices}")
    compile: bool = setting(False, validator=boolean(), resume=True, flag="--compile",
                            help="wrap the models in torch.compile")
    data_placement: str = setting("auto", validator=choice("auto", "device", "stream", "files"), resume=True,
                                  flag="--data-placement", help="{choices}")
    data_workers: int | None = setting(
        None, validator=optional(integer(0)), resume=True, flag="--data-workers",
        help="DataLoader workers for --data-placement files (default: CPU cores per process, 1-8)")
    log_every: int = setting(100, validator=integer(1), resume=True, flag="--log-every",
                             help="steps between log lines (default {default})")
    sample_every: int = setting(1000, validator=integer(0), resume=True, flag="--sample-every",
                                help="steps between sample grids (default {default}; 0: only at the end)")
    checkpoint_every: int = setting(1000, validator=integer(0), resume=True, flag="--checkpoint-every",
                                    help="steps between checkpoints (default {default}; 0: only at the end)")
    keep_checkpoints: int = setting(3, validator=integer(1), resume=True, flag="--keep-checkpoints",
                                    help="periodic checkpoints kept (default {default})")
    grad_clip: float | None = setting(None, validator=optional(_positive), resume=True, flag="--grad-clip",
                                      help="clip each network's gradient norm to this value")
    nan_policy: str = setting("stop", validator=choice("stop", "skip"), resume=True, flag="--nan-policy",
                              help="{default} (default): error on a NaN/Inf loss; skip: skip such steps")
    progress: bool = setting(
        True, validator=boolean(), resume=True, inherit=False, flag="--progress",
        help="show progress (default): a bar on a terminal, a line every --progress-seconds otherwise",
        off_help="hide the progress bar or lines (start, stop and resume messages still print)")
    tensorboard: bool = setting(
        False, validator=boolean(), resume=True, flag="--tensorboard",
        help="also log to TensorBoard in RUN_DIR/tensorboard (pip install 'ganforge[tensorboard]')")
    eval_every: int = setting(0, validator=integer(0), resume=True, flag="--eval-every",
                              help="evaluate every N steps into metrics.jsonl, keeping checkpoints/best.pt")
    eval_metric: str | None = setting(None, validator=_opt_metric, resume=None, flag="--eval-metric",
                                      help="metric for the best checkpoint (default: the data's primary metric)")
    eval_samples: int | None = setting(None, validator=optional(integer(2)), resume=True, flag="--eval-samples",
                                       help="samples per evaluation (default: the metric's standard count)")
    overwrite: bool = setting(False, validator=boolean(), resume=True, flag="--overwrite",
                              help="replace a run already in --out")
    strategy: str = setting("auto", validator=choice("auto", "ddp", "none"), resume=True, flag="--strategy",
                            help="{default} (default: DDP under torchrun), ddp or none")
    sync_batchnorm: bool = setting(False, validator=boolean(), resume=None, flag="--sync-batchnorm",
                                   help="under DDP, BatchNorm statistics over the global batch (CUDA only)")
    dist_timeout: float = setting(300.0, validator=_positive, resume=True, flag="--dist-timeout",
                                  help="seconds a collective waits for a dead or hung rank (default {default})")
    threads: int | str = setting(
        "auto", converter=_to_threads, validator=_threads, resume=True, flag="--threads",
        help="CPU threads: a number, auto (default: $GANFORGE_THREADS, $OMP_NUM_THREADS, a resumed run's recorded "
             "count, else 1; the same every run) or measure (time 1, 2, 4, ... and keep the fastest; runs may then "
             "differ)")
    checkpoint_minutes: float = setting(
        10.0, validator=_nonneg, resume=True, flag="--checkpoint-minutes",
        help="also checkpoint when this many minutes passed since the last one, checked at each log "
             "(default {default}; 0: off)")
    progress_seconds: float = setting(
        30.0, validator=_positive, resume=True, inherit=False, flag="--progress-seconds",
        help="seconds between progress lines when stderr is not a terminal (default {default})")

    @trick_options.validator
    def _check_trick_options(self, attr: attrs.Attribute, value: dict[str, Any]) -> None:
        _check_named_options(attr.name, value, self.tricks, "tricks")

    @regularizer_options.validator
    def _check_regularizer_options(self, attr: attrs.Attribute, value: dict[str, Any]) -> None:
        _check_named_options(attr.name, value, self.regularizers, "regularizers")

    # -- construction and serialisation ----------------------------------------

    def evolve(self, **changes: Any) -> TrainConfig:
        """A copy with ``changes`` applied; unknown field names raise :class:`ConfigError`."""
        _check_keys(type(self), changes)
        return attrs.evolve(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dict (tuples become lists)."""
        return json.loads(json.dumps(attrs.asdict(self)))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TrainConfig:
        """Build from a mapping, as :meth:`to_dict` or a TOML file gives it."""
        return _from_mapping(cls, data)

    @classmethod
    def from_toml(cls, path: str | os.PathLike) -> TrainConfig:
        """Load a TOML file whose top-level keys are this class's fields."""
        return cls.from_dict(load_toml(path))

    def save_json(self, path: str | os.PathLike) -> None:
        """Write the resolved configuration as JSON (atomically: a crash never leaves a torn file)."""
        text = json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n"
        atomic_write(path, lambda f: f.write(text), binary=False)


def setting_help(field: attrs.Attribute) -> str:
    """The one-line help of a :func:`setting`, its ``{default}``, ``{choices}`` and ``{example}`` filled in.

    ``{choices}`` lists a :func:`~ganforge.options.choice` field's values with the default marked:
    ``"fp32 (default), bf16 or fp16"``.
    """
    default = field.default.factory() if isinstance(field.default, attrs.Factory) else field.default  # type: ignore[arg-type]
    allowed = [str(a) + (" (default)" if a == default else "") for a in getattr(field.validator, "allowed", ())]
    choices = f"{', '.join(allowed[:-1])} or {allowed[-1]}" if len(allowed) > 1 else "".join(allowed)
    return field.metadata["help"].format(default=_shown(default), choices=choices,
                                         example=field.metadata.get("example", ""))


def _shown(value: Any) -> str:
    """A default as help texts write it: ``10`` for 10.0."""
    return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)


def _check_named_options(field: str, value: Mapping[str, Any], enabled: tuple[str, ...], kinds: str) -> None:
    for name, opts in value.items():
        if not isinstance(opts, Mapping):
            raise ConfigError(f"{field!r} for {name!r} must be a mapping (got {opts!r})")
        if name not in enabled:
            raise ConfigError(
                f"{field!r} sets options for {name!r}, which is not among the enabled {kinds} "
                f"{list(enabled)}; add it to {kinds!r}."
            )


def load_toml(path: str | os.PathLike) -> dict[str, Any]:
    """Read a TOML file, turning syntax errors into :class:`ConfigError` naming the file."""
    name = os.fspath(path)
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except FileNotFoundError:
        raise ConfigError(f"Config file {name} does not exist.") from None
    except IsADirectoryError:
        raise ConfigError(f"Config file {name} is a folder; pass a TOML file such as run.toml.") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"Config file {name} is not UTF-8 text (byte {exc.start}: {exc.reason}); TOML files are "
                          "UTF-8: save it as UTF-8.") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"Config file {name} is not valid TOML: {exc}") from None
    except OSError as exc:
        raise ConfigError(f"Cannot read config file {name}: {exc.strerror or exc}; check the path and its "
                          "permissions.") from None


def _check_keys(cls: type, data: Mapping[str, Any], prefix: str = "") -> None:
    fields = [f.name for f in attrs.fields(cls)]
    for key in data:
        if key not in fields:
            msg = f"Unknown {prefix}setting {key!r}."
            close = difflib.get_close_matches(str(key), fields, n=1)
            if close:
                msg += f" Did you mean {close[0]!r}?"
            msg += f" Known settings: {', '.join(fields)}."
            raise ConfigError(msg)


def _from_mapping(cls: type, data: Mapping[str, Any], prefix: str = "") -> Any:
    if not isinstance(data, Mapping):
        raise ConfigError(f"A {cls.__name__} needs a mapping of settings (got {data!r})")
    _check_keys(cls, data, prefix)
    try:
        return cls(**data)
    except ConfigError:
        raise
    except (TypeError, ValueError) as exc:  # attrs/converter type errors
        raise ConfigError(f"Invalid {prefix}settings: {exc}") from None
