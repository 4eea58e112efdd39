"""Run configuration: frozen, validated attrs classes that serialise to JSON and load from TOML.

A bad value raises :class:`~ganforge.errors.ConfigError` naming the field,
the value and what is allowed::

    >>> TrainConfig(precision="fp8")
    Traceback (most recent call last):
    ...
    ganforge.errors.ConfigError: 'precision' must be one of ('fp32', 'bf16', 'fp16') (got 'fp8')
"""

from __future__ import annotations

import difflib
import json
import os
import sys
from collections.abc import Mapping
from typing import Any

import attrs

from ganforge.errors import ConfigError
from ganforge.io.atomic import atomic_write

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


# -- validators ----------------------------------------------------------------


def _one_of(*allowed: Any):
    def check(inst: Any, attr: attrs.Attribute, value: Any) -> None:
        if value not in allowed:
            raise ConfigError(f"{attr.name!r} must be one of {allowed} (got {value!r})")

    return check


def _int(minimum: int, maximum: int | None = None):
    def check(inst: Any, attr: attrs.Attribute, value: Any) -> None:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{attr.name!r} must be an integer >= {minimum} (got {value!r})")
        if value < minimum:
            raise ConfigError(f"{attr.name!r} must be an integer >= {minimum} (got {value!r})")
        if maximum is not None and value > maximum:
            raise ConfigError(f"{attr.name!r} must be an integer from {minimum} to {maximum} (got {value!r})")

    return check


def _positive_float(inst: Any, attr: attrs.Attribute, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ConfigError(f"{attr.name!r} must be a number > 0 (got {value!r})")
    if value == float("inf"):
        raise ConfigError(f"{attr.name!r} must be finite (got {value!r})")


def _nonneg_float(inst: Any, attr: attrs.Attribute, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
        raise ConfigError(f"{attr.name!r} must be a number >= 0 (got {value!r})")
    if value == float("inf"):
        raise ConfigError(f"{attr.name!r} must be finite (got {value!r})")


def _name(inst: Any, attr: attrs.Attribute, value: Any) -> None:
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{attr.name!r} must be a plugin name such as 'mlp' (got {value!r})")


def _opt_str(inst: Any, attr: attrs.Attribute, value: Any) -> None:
    if value is not None and not isinstance(value, str):
        raise ConfigError(f"{attr.name!r} must be a path or None (got {value!r})")


def _opt_positive_float(inst: Any, attr: attrs.Attribute, value: Any) -> None:
    if value is not None:
        _positive_float(inst, attr, value)


def _opt_image_size(inst: Any, attr: attrs.Attribute, value: Any) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 4):
        raise ConfigError(f"{attr.name!r} must be None or an integer >= 4 (got {value!r})")


def _bool(inst: Any, attr: attrs.Attribute, value: Any) -> None:
    if not isinstance(value, bool):
        raise ConfigError(f"{attr.name!r} must be true or false (got {value!r})")


def _device(inst: Any, attr: attrs.Attribute, value: Any) -> None:
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{attr.name!r} must be a device such as 'auto', 'cpu', 'cuda' or 'cuda:1' (got {value!r})")


def _opt_metric(inst: Any, attr: attrs.Attribute, value: Any) -> None:
    if value is not None and (not isinstance(value, str) or not value):
        raise ConfigError(f"{attr.name!r} must be a metric name such as 'fid' or 'reverse_kl', or None "
                          f"(got {value!r})")


def _opt_unit_open(inst: Any, attr: attrs.Attribute, value: Any) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < 1):
        raise ConfigError(f"{attr.name!r} must be None or a number between 0 and 1, exclusive (got {value!r})")


def _to_threads(value: Any) -> Any:
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    if isinstance(value, str) and value.strip().lower() in ("auto", "measure"):
        return value.strip().lower()
    return value


def _threads(inst: Any, attr: attrs.Attribute, value: Any) -> None:
    if value in ("auto", "measure"):
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{attr.name!r} must be 'auto', 'measure' or an integer >= 1 (got {value!r})")


def _options(inst: Any, attr: attrs.Attribute, value: Any) -> None:
    if not isinstance(value, Mapping) or not all(isinstance(k, str) for k in value):
        raise ConfigError(f"{attr.name!r} must be a mapping of option names to values (got {value!r})")


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


def _betas(inst: Any, attr: attrs.Attribute, value: Any) -> None:
    ok = isinstance(value, tuple) and len(value) == 2 and all(
        isinstance(b, (int, float)) and 0 <= b < 1 for b in value
    )
    if not ok:
        raise ConfigError(f"{attr.name!r} must be a pair of numbers in [0, 1) (got {value!r})")


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

    name: str = attrs.field(default="adam", validator=_one_of("adam", "adamw", "sgd", "rmsprop"))
    lr: float = attrs.field(default=2e-4, validator=_positive_float)
    betas: tuple[float, float] = attrs.field(default=(0.5, 0.999), converter=_to_pair, validator=_betas)
    momentum: float = attrs.field(default=0.0, validator=_nonneg_float)
    weight_decay: float = attrs.field(default=0.0, validator=_nonneg_float)
    schedule: str = attrs.field(default="constant", validator=_one_of("constant", "linear", "cosine"))
    final_lr: float = attrs.field(default=0.0, validator=_nonneg_float)
    warmup: int = attrs.field(default=0, validator=_int(0))

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
        latent_dim: Size of the latent vector, default 100.
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

    gen: str = attrs.field(default="mlp", validator=_name)
    disc: str = attrs.field(default="mlp", validator=_name)
    loss: str = attrs.field(default="bce", validator=_name)
    tricks: tuple[str, ...] = attrs.field(default=(), converter=_to_tricks)
    gen_options: dict[str, Any] = attrs.field(factory=dict, converter=_to_dict, validator=_options)
    disc_options: dict[str, Any] = attrs.field(factory=dict, converter=_to_dict, validator=_options)
    loss_options: dict[str, Any] = attrs.field(factory=dict, converter=_to_dict, validator=_options)
    trick_options: dict[str, dict[str, Any]] = attrs.field(
        factory=dict, converter=_to_trick_options, validator=_options
    )
    regularizers: tuple[str, ...] = attrs.field(default=(), converter=_names("regularizers", "regularizer"))
    regularizer_options: dict[str, dict[str, Any]] = attrs.field(
        factory=dict, converter=_to_trick_options, validator=_options
    )
    data: str = attrs.field(default="mnist", validator=_name)
    data_root: str | None = attrs.field(default=None, converter=_to_path, validator=_opt_str)
    split: str = attrs.field(default="train", validator=_one_of("train", "test"))
    data_options: dict[str, Any] = attrs.field(factory=dict, converter=_to_dict, validator=_options)
    conditional: bool = attrs.field(default=False, validator=_bool)
    image_size: int | None = attrs.field(default=None, validator=_opt_image_size)
    steps: int = attrs.field(default=10_000, validator=_int(1))
    batch_size: int = attrs.field(default=64, validator=_int(1))
    latent_dim: int = attrs.field(default=100, validator=_int(1))
    seed: int = attrs.field(default=0, validator=_int(0, 2**63 - 1))  # torch seeds are 64-bit
    device: str = attrs.field(default="auto", validator=_device)
    out_dir: str | None = attrs.field(default=None, converter=_to_path, validator=_opt_str)
    g_optim: OptimConfig = attrs.field(factory=OptimConfig, converter=_to_optim)
    d_optim: OptimConfig = attrs.field(factory=OptimConfig, converter=_to_optim)
    ema_decay: float | None = attrs.field(default=None, validator=_opt_unit_open)
    ema_start: int = attrs.field(default=0, validator=_int(0))
    ema_warmup: int = attrs.field(default=0, validator=_int(0))
    precision: str = attrs.field(default="fp32", validator=_one_of("fp32", "bf16", "fp16"))
    cuda_graphs: str = attrs.field(default="auto", validator=_one_of("auto", "on", "off"))
    compile: bool = attrs.field(default=False, validator=_bool)
    data_placement: str = attrs.field(default="auto", validator=_one_of("auto", "device", "stream", "files"))
    data_workers: int | None = attrs.field(default=None, validator=attrs.validators.optional(_int(0)))
    log_every: int = attrs.field(default=100, validator=_int(1))
    sample_every: int = attrs.field(default=1000, validator=_int(0))
    checkpoint_every: int = attrs.field(default=1000, validator=_int(0))
    keep_checkpoints: int = attrs.field(default=3, validator=_int(1))
    grad_clip: float | None = attrs.field(default=None, validator=_opt_positive_float)
    nan_policy: str = attrs.field(default="stop", validator=_one_of("stop", "skip"))
    progress: bool = attrs.field(default=True, validator=_bool)
    tensorboard: bool = attrs.field(default=False, validator=_bool)
    eval_every: int = attrs.field(default=0, validator=_int(0))
    eval_metric: str | None = attrs.field(default=None, validator=_opt_metric)
    eval_samples: int | None = attrs.field(default=None, validator=attrs.validators.optional(_int(2)))
    overwrite: bool = attrs.field(default=False, validator=_bool)
    strategy: str = attrs.field(default="auto", validator=_one_of("auto", "ddp", "none"))
    sync_batchnorm: bool = attrs.field(default=False, validator=_bool)
    dist_timeout: float = attrs.field(default=300.0, validator=_positive_float)
    threads: int | str = attrs.field(default="auto", converter=_to_threads, validator=_threads)
    checkpoint_minutes: float = attrs.field(default=10.0, validator=_nonneg_float)
    progress_seconds: float = attrs.field(default=30.0, validator=_positive_float)

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
