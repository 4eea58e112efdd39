"""The search space of ``ganforge tune``, once read and checked: fixed settings, searched entries, study options.

:func:`~ganforge.tune.spacefile.load_space` builds a :class:`SearchSpace` from
a file; a :class:`Param` draws its value through any object with Optuna's
``suggest_float``/``suggest_int``/``suggest_categorical`` (this module needs
no Optuna).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Mapping
from typing import Any

import attrs

from ganforge.config import RUN_PLUGINS, TrainConfig
from ganforge.errors import ConfigError
from ganforge.options import boolean, choice, integer, number

#: The tables a space file may hold.
TABLES = ("fixed", "search", "tune", "enqueue")
#: The kinds of searched entry.
KINDS = ("float", "int", "categorical", "subset")
# The plugin fields, from the one table of a run's plugins (ganforge.config.RUN_PLUGINS):
#: TrainConfig fields naming one plugin, and the plugin kind.
PLUGIN_FIELDS = {p.field: p.kind for p in RUN_PLUGINS if not p.listed}
#: Option tables and the field naming their plugin.
OPTION_FIELDS = {p.options: p.field for p in RUN_PLUGINS if not p.listed}
#: TrainConfig fields listing plugins that are on (in order), their kind and their options field.
LIST_FIELDS = {p.field: (p.kind, p.options) for p in RUN_PLUGINS if p.listed}
#: Per-plugin option fields (``trick_options.TRICK.OPTION``) and the list field naming the plugins that are on.
NAMED_OPTIONS = {options: field for field, (_, options) in LIST_FIELDS.items()}
#: Fields ganforge tune sets itself for each trial.
RUNTIME_FIELDS = ("out_dir", "overwrite")
#: Pruners by name (Optuna classes in :mod:`optuna.pruners`).
PRUNERS = {
    "median": "MedianPruner",
    "percentile": "PercentilePruner",
    "threshold": "ThresholdPruner",
    "successive_halving": "SuccessiveHalvingPruner",
    "hyperband": "HyperbandPruner",
    "none": "NopPruner",
}
#: Samplers by name (Optuna classes in :mod:`optuna.samplers`).
SAMPLERS = {"tpe": "TPESampler", "random": "RandomSampler"}


def _is_scalar(value: Any) -> bool:
    return value is None or isinstance(value, (bool, int, float, str))


def plain(value: Any) -> Any:
    """``value`` with tuples as lists (so TOML, JSON and Python values compare equal)."""
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, Mapping):
        return {k: plain(v) for k, v in value.items()}
    return value


# -- the checks of a searched entry (each message is the problem; load_space adds the file and the entry) --

_RANGES = ("float", "int")


def _range_number(inst: Param, attr: attrs.Attribute, value: Any) -> None:
    """``low``, ``high`` and ``step`` of a float or int range: an integer for int, a finite number for float."""
    (integer() if inst.kind == "int" else number(what="a finite number"))(inst, attr, value)


def _range_end(inst: Param, attr: attrs.Attribute, value: Any) -> None:
    if inst.kind not in _RANGES:
        return
    if inst.low is None or inst.high is None:
        raise ConfigError(f"a {inst.kind} range needs 'low' and 'high'")
    _range_number(inst, attr, value)


def _step(inst: Param, attr: attrs.Attribute, value: Any) -> None:
    if value is None or inst.kind not in _RANGES:
        return
    _range_number(inst, attr, value)
    if not value > 0:
        raise ConfigError(f"'step' must be > 0 (got {value!r})")


def _choices(inst: Param, attr: attrs.Attribute, value: tuple[Any, ...]) -> None:
    if inst.kind in _RANGES:
        return
    if not value:
        raise ConfigError(f"'choices' must be a non-empty list (got {plain(list(value))!r})")
    if inst.kind == "subset":
        if inst.key not in LIST_FIELDS:
            raise ConfigError(f"a subset entry chooses which plugins are on: only "
                              f"{' and '.join(repr(f) for f in LIST_FIELDS)} take it; use a categorical entry here.")
        if not all(isinstance(c, str) and c for c in value) or len(set(value)) != len(value):
            raise ConfigError(f"a subset's choices must be distinct {LIST_FIELDS[inst.key][0]} names "
                              f"(got {plain(list(value))!r})")


def _labels(inst: Param, attr: attrs.Attribute, value: tuple[Any, ...]) -> None:
    if inst.kind == "categorical" and len(set(map(json.dumps, value))) != len(value):
        raise ConfigError(f"the choices must be distinct (got {plain(list(inst.choices))!r})")


def _default_labels(param: Param) -> tuple[Any, ...]:
    """What Optuna sees for each categorical choice: the value, or a list's JSON text."""
    if param.kind != "categorical":
        return ()
    return tuple(c if _is_scalar(c) else json.dumps(c) for c in param.choices)


@attrs.frozen
class Param:
    """One searched setting.

    Attributes:
        key: The dotted setting it sets: ``"loss"``, ``"g_optim.lr"``,
            ``"trick_options.soft_labels.real_range"``, ``"regularizer_options.r1.gamma"``.
        kind: ``"float"``, ``"int"``, ``"categorical"`` or ``"subset"``.
        low, high: The range of a float or int (inclusive).
        log: Draw a float or int on a log scale (``low`` must be > 0), default False.
        step: The spacing of a float or int range (None: continuous float, 1 for int).
        choices: The values of a categorical, or the items of a subset.
        labels: The values Optuna sees for each choice (lists are shown as JSON text).
    """

    key: str
    kind: str = attrs.field(validator=choice(*KINDS))
    low: float | int | None = attrs.field(default=None, validator=_range_end)
    high: float | int | None = attrs.field(default=None, validator=_range_end)
    log: bool = attrs.field(default=False, validator=boolean())
    step: float | int | None = attrs.field(default=None, validator=_step)
    choices: tuple[Any, ...] = attrs.field(default=(), validator=_choices)
    labels: tuple[Any, ...] = attrs.field(default=attrs.Factory(_default_labels, takes_self=True), validator=_labels)

    def __attrs_post_init__(self) -> None:
        if self.kind not in _RANGES:
            return
        if self.step is not None and self.log:
            raise ConfigError("'step' and 'log = true' cannot be combined; drop one.")
        if self.low > self.high:
            raise ConfigError(f"low ({self.low!r}) > high ({self.high!r}); swap them.")
        if self.log and not self.low > 0:
            raise ConfigError(f"a log range needs low > 0 (got {self.low!r})")

    @property
    def path(self) -> tuple[str, ...]:
        return tuple(self.key.split("."))

    def param_names(self) -> list[str]:
        """The Optuna parameter names of this entry (a subset has one on/off parameter per item)."""
        if self.kind == "subset":
            return [f"{self.key}.{item}" for item in self.choices]
        return [self.key]

    def suggest(self, trial: Any) -> Any:
        """Draw this setting's value through an Optuna trial (or anything with its ``suggest_*`` methods)."""
        if self.kind == "float":
            return trial.suggest_float(self.key, self.low, self.high, log=self.log, step=self.step)
        if self.kind == "int":
            return trial.suggest_int(self.key, self.low, self.high, log=self.log, step=self.step or 1)
        if self.kind == "categorical":
            label = trial.suggest_categorical(self.key, list(self.labels))
            return copy.deepcopy(self.choices[self.labels.index(label)])
        return [item for item, name in zip(self.choices, self.param_names())
                if trial.suggest_categorical(name, [False, True])]

    def first(self) -> Any:
        """A value from the space (``low``, the first choice, every subset item), for checking the space."""
        if self.kind in ("float", "int"):
            return self.low
        if self.kind == "categorical":
            return copy.deepcopy(self.choices[0])
        return list(self.choices)

    def to_params(self, value: Any) -> dict[str, Any]:
        """The Optuna parameters that give ``value``; raises ``ValueError`` when it is outside the space."""
        if self.kind in ("float", "int"):
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ValueError(f"must be a number from {self.low} to {self.high} (got {value!r})")
            if self.kind == "int" and not isinstance(value, int):
                raise ValueError(f"must be an integer from {self.low} to {self.high} (got {value!r})")
            if not self.low <= value <= self.high:
                raise ValueError(f"{value!r} is outside the range {self.low} to {self.high}")
            return {self.key: value}
        if self.kind == "categorical":
            for choice, label in zip(self.choices, self.labels):
                if _same(choice, value):
                    return {self.key: label}
            raise ValueError(f"{value!r} is not among the choices {plain(list(self.choices))}")
        if isinstance(value, str) or not isinstance(value, (list, tuple)):
            raise ValueError(f"must be a list of items from {list(self.choices)} (got {value!r})")
        unknown = [v for v in value if v not in self.choices]
        if unknown:
            raise ValueError(f"{unknown} are not among the items {list(self.choices)}")
        return {name: item in value for item, name in zip(self.choices, self.param_names())}

    def decode(self, params: Mapping[str, Any]) -> Any:
        """This entry's value in a trial's Optuna ``params`` (None when the trial did not draw it)."""
        if self.kind == "subset":
            names = self.param_names()
            if not any(n in params for n in names):
                return None
            return [item for item, name in zip(self.choices, names) if params.get(name)]
        if self.key not in params:
            return None
        if self.kind == "categorical" and params[self.key] in self.labels:
            return copy.deepcopy(self.choices[self.labels.index(params[self.key])])
        return params[self.key]

    def show(self, value: Any) -> str:
        """``value`` as a report shows it: floats to 4 significant digits, a subset joined by ``+``."""
        if value is None:
            return ""
        if self.kind == "subset":
            return "+".join(value) if value else "none"
        if isinstance(value, float):
            return f"{value:.4g}"
        if isinstance(value, (list, tuple, dict)):
            return json.dumps(plain(value))
        return str(value)


def check_pruner(name: Any, options: Any, error: Callable[[str], Exception]) -> None:
    """Check a pruner name and its options against the Optuna class's signature, when Optuna is installed."""
    import difflib
    import inspect

    if name not in PRUNERS:
        close = difflib.get_close_matches(str(name), list(PRUNERS), n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise error(f"unknown pruner {name!r}.{hint} Pruners: {', '.join(PRUNERS)}.")
    if not isinstance(options, Mapping):
        raise error(f"pruner_options must be a table (got {options!r})")
    try:
        import optuna
    except ImportError:
        return
    cls = getattr(optuna.pruners, PRUNERS[name])
    accepted = [p for p in inspect.signature(cls).parameters if p not in ("self", "wrapped_pruner")]
    for key in options:
        if key not in accepted:
            raise error(f"pruner_options: {PRUNERS[name]} takes {', '.join(accepted) or 'no options'} (got {key!r})")


def _pruner(inst: TuneOptions, attr: attrs.Attribute, value: Any) -> None:
    """The pruner and its options, checked together (a problem with either is the pruner's)."""
    check_pruner(inst.pruner, value, lambda msg: ConfigError(f"'pruner': {msg}"))


@attrs.frozen
class TuneOptions:
    """The ``[tune]`` table: how the study runs.

    Attributes:
        trials: Trials in the whole study, default 20 (``--trials`` overrides).
        workers: Trials run at once on this machine, default 1 (``--workers`` overrides).
        pruner: ``"median"`` (default), ``"percentile"``, ``"threshold"``,
            ``"successive_halving"``, ``"hyperband"`` or ``"none"``.
        pruner_options: Keyword arguments of the Optuna pruner; ``n_warmup_steps``
            and ``interval_steps`` count training steps.
        sampler: ``"tpe"`` (default) or ``"random"``.
        seed: Seeds the samplers, default 0 (each worker and each restart draws its own stream).
        heartbeat: Seconds between a running trial's heartbeats, default 60 (0: none); a
            trial silent for two intervals is marked failed and run again.
    """

    trials: int = attrs.field(default=20, validator=integer(1))
    workers: int = attrs.field(default=1, validator=integer(1))
    pruner: str = "median"
    pruner_options: dict[str, Any] = attrs.field(factory=dict, validator=_pruner)
    sampler: str = attrs.field(default="tpe", validator=choice(*SAMPLERS))
    seed: int = attrs.field(default=0, validator=integer(0))
    heartbeat: int = attrs.field(default=60, validator=integer(0))


@attrs.frozen
class SearchSpace:
    """A checked search space (see the module docstring for the file format).

    Attributes:
        source: The file it came from (``"<mapping>"`` for a dict), for messages.
        fixed: The fixed settings, as in a TOML config (``out_dir`` is set per trial).
        params: The searched entries, in the order they are drawn.
        options: The ``[tune]`` table.
        enqueue: Optuna parameters of the trials to run first.
        metric: The objective: ``eval_metric``, or the data's primary metric.
        direction: ``"minimize"`` or ``"maximize"``, from the metric.
    """

    source: str
    fixed: dict[str, Any]
    params: tuple[Param, ...]
    options: TuneOptions
    enqueue: tuple[dict[str, Any], ...]
    metric: str
    direction: str = attrs.field(validator=choice("minimize", "maximize"))

    def trial_config(self, pick: Callable[[Param], Any]) -> dict[str, Any]:
        """The settings of one trial: ``fixed`` plus ``pick(param)`` for each searched entry that applies.

        Plugin choices are drawn first; an option (fixed or searched) applies
        only when the chosen plugin accepts it, and a trick's (or regularizer's)
        options only when it is on, so such options are drawn only in the trials
        they affect.
        """
        from ganforge.registry import get_registry, plugin_options

        data = copy.deepcopy(self.fixed)
        registry = get_registry()
        options = [p for p in self.params if p.path[0] in OPTION_FIELDS or p.path[0] in NAMED_OPTIONS]
        for param in self.params:
            if param in options:
                continue
            value = pick(param)
            if param.kind == "subset":  # plugins listed in [fixed] are always on; the chosen ones follow them
                always = plugin_names(data.get(param.key, []))
                value = always + [v for v in value if v not in always]
            set_path(data, param.path, value)
        enabled = {field: plugin_names(data.get(field, [])) for field in LIST_FIELDS}
        for field, (_, options_field) in LIST_FIELDS.items():
            data[options_field] = {n: o for n, o in data.get(options_field, {}).items() if n in enabled[field]}
        accepts: dict[str, Callable[[str], bool]] = {}
        for field, plugin_field in OPTION_FIELDS.items():
            kind, name = PLUGIN_FIELDS[plugin_field], data.get(plugin_field, config_default(plugin_field))
            accepted = plugin_options(registry.get(kind, name).cls)
            accepts[field] = (lambda o: True) if accepted is None else accepted.__contains__
            if field in data:
                data[field] = {k: v for k, v in data[field].items() if accepts[field](k)}
        for param in options:
            field = param.path[0]
            if field in NAMED_OPTIONS:
                if param.path[1] not in enabled[NAMED_OPTIONS[field]]:
                    continue
            elif not accepts[field](param.path[1]):
                continue
            set_path(data, param.path, pick(param))
        return data

    def decode(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """Each searched entry's value in a trial's Optuna ``params`` (None where it was not drawn)."""
        return {p.key: p.decode(params) for p in self.params}

    def identity(self) -> dict[str, Any]:
        """What a study keeps fixed across runs of the command: the settings, the entries and the metric."""
        return json.loads(json.dumps({
            "fixed": self.fixed,
            "search": [attrs.asdict(p) for p in self.params],
            "metric": self.metric,
        }))


def config_default(field: str) -> Any:
    """TrainConfig's default for ``field``."""
    return getattr(TrainConfig(), field)


def _same(a: Any, b: Any) -> bool:
    """Equal as settings: lists and tuples alike, but ``True`` is not ``1``."""
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    return not isinstance(a, (list, tuple, Mapping)) and isinstance(a, bool) == isinstance(b, bool) and a == b


def plugin_names(value: Any) -> list[str]:
    """The plugin names a list field holds (a comma-separated string is accepted, as TrainConfig does)."""
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    return list(value or [])


def set_path(data: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    """Set ``data["a"]["b"] = value`` for the path ``("a", "b")``, making the tables on the way."""
    for part in path[:-1]:
        data = data.setdefault(part, {})
    data[path[-1]] = value
