"""Reading and checking a ``ganforge tune`` search space: a TOML file (or mapping) of fixed and searched settings.

A space file has up to four tables::

    [fixed]                      # any TrainConfig field, as in 'ganforge train --config'
    data = "grid25"
    steps = 2000
    eval_every = 250

    [search]                     # one entry per searched setting
    "g_optim.lr" = { type = "float", low = 1e-5, high = 1e-3, log = true }
    loss = { type = "categorical", choices = ["bce", "minimax"] }
    tricks = { type = "subset", choices = ["soft_labels", "instance_noise"] }
    "trick_options.soft_labels.real_range" = { type = "categorical", choices = [[0.7, 1.0], [0.9, 1.0]] }

    [tune]                       # the study: trials, workers, pruner, sampler, seed, heartbeat
    trials = 20
    pruner = "median"

    [[enqueue]]                  # settings to try first (e.g. the current defaults as a baseline)
    "g_optim.lr" = 2e-4

Everything is checked by :func:`load_space` before a trial starts; each
problem is one :class:`~ganforge.errors.ConfigError` naming the file and
the entry. Reading a space needs no Optuna (checking a pruner's options
uses it when installed).
"""

from __future__ import annotations

import copy
import difflib
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs

from ganforge.config import OptimConfig, TrainConfig, load_toml
from ganforge.errors import ConfigError, GanforgeError
from ganforge.tune.space import (  # noqa: F401  (check_pruner: also ganforge.tune.spacefile's, as before)
    KINDS,
    LIST_FIELDS,
    NAMED_OPTIONS,
    OPTION_FIELDS,
    PLUGIN_FIELDS,
    RUNTIME_FIELDS,
    TABLES,
    Param,
    SearchSpace,
    TuneOptions,
    check_pruner,
    config_default,
    plain,
    plugin_names,
    set_path,
)

_SPEC_KEYS = {
    "float": ("type", "low", "high", "log", "step"),
    "int": ("type", "low", "high", "log", "step"),
    "categorical": ("type", "choices"),
    "subset": ("type", "choices"),
}


class _Where:
    """Builds the one-line errors: ``FILE: [table] 'entry': problem``."""

    def __init__(self, source: str):
        self.source = source

    def error(self, table: str, entry: str | None, problem: str) -> ConfigError:
        at = f"[{table}] {entry!r}" if entry is not None else f"[{table}]"
        return ConfigError(f"{self.source}: {at}: {problem}")


def load_space(source: str | os.PathLike | Mapping[str, Any]) -> SearchSpace:
    """Read and check a search space: a TOML file's path, or the same structure as a mapping.

    Raises:
        ConfigError: for the first problem found, naming the file and the entry:
            an unknown setting or plugin name (with close matches), a range with
            low > high, a metric the data set does not measure, ...
    """
    if isinstance(source, Mapping):
        raw, name = dict(source), "<mapping>"
    else:
        raw, name = load_toml(source), os.fspath(source)
    where = _Where(name)
    for table in raw:
        if table not in TABLES:
            close = difflib.get_close_matches(str(table), TABLES, n=1)
            hint = f" Did you mean [{close[0]}]?" if close else ""
            raise ConfigError(f"{name}: unknown table [{table}].{hint} A space file holds [fixed] (TrainConfig "
                              f"settings), [search], [tune] and [[enqueue]].")
    fixed = _check_fixed(raw.get("fixed", {}), where)
    search = _flatten(raw.get("search", {}), where)
    params = tuple(_sort_params([_check_param(key, spec, fixed, where) for key, spec in search.items()]))
    _check_plugins(fixed, params, where)
    metric, direction = _check_metric(fixed, params, where)
    options = _check_tune(raw.get("tune", {}), where)
    enqueue = tuple(_check_enqueue(raw.get("enqueue", []), params, where))
    space = SearchSpace(name, fixed, params, options, enqueue, metric, direction)
    _check_probe(space, where)
    return space


def _flatten(search: Any, where: _Where, prefix: str = "") -> dict[str, Any]:
    """``{"g_optim": {"lr": {...}}}`` and ``{"g_optim.lr": {...}}`` alike become ``{"g_optim.lr": {...}}``."""
    if not isinstance(search, Mapping):
        raise where.error("search", prefix or None, "must be a table of entries such as "
                          "'\"g_optim.lr\" = { type = \"float\", low = 1e-5, high = 1e-3, log = true }'")
    out: dict[str, Any] = {}
    for key, spec in search.items():
        full = f"{prefix}{key}"
        if isinstance(spec, Mapping) and "type" not in spec:
            out.update(_flatten(spec, where, full + "."))
        else:
            out[full] = spec
    return out


def _check_fixed(fixed: Any, where: _Where) -> dict[str, Any]:
    from ganforge.registry import get_registry

    if not isinstance(fixed, Mapping):
        raise where.error("fixed", None, f"must be a table of TrainConfig settings (got {fixed!r})")
    fixed = plain(dict(fixed))
    for key in fixed:
        if key in RUNTIME_FIELDS:
            raise where.error("fixed", key, f"ganforge tune sets {key} itself (each trial runs in "
                                            "OUT/trials/trial-NNNN); remove it.")
    # Options of tricks (regularizers) that only the search turns on are checked with the search.
    base = dict(fixed)
    for field, (_, options_field) in LIST_FIELDS.items():
        if isinstance(fixed.get(options_field), Mapping):
            on = plugin_names(fixed.get(field, []))
            base[options_field] = {n: o for n, o in fixed[options_field].items() if n in on}
    try:
        config = TrainConfig.from_dict(base)
    except ConfigError as exc:
        raise where.error("fixed", None, str(exc)) from None
    if not config.eval_every:
        raise where.error("fixed", "eval_every", "ganforge tune measures each trial as it trains: set eval_every "
                                                 "to the steps between evaluations, e.g. a tenth of steps.")
    if "steps" in fixed and config.eval_every > config.steps:
        raise where.error("fixed", "eval_every", f"{config.eval_every} is more than steps ({config.steps}): the "
                                                 "trials would never be measured; lower it.")
    registry = get_registry()
    for field, kind in PLUGIN_FIELDS.items():
        if field in fixed:
            _lookup(registry, kind, fixed[field], where, "fixed", field)
    for field, (kind, _) in LIST_FIELDS.items():
        for name in getattr(config, field):
            _lookup(registry, kind, name, where, "fixed", field)
    return fixed


def _lookup(registry: Any, kind: str, name: Any, where: _Where, table: str, entry: str) -> Any:
    try:
        return registry.get(kind, name)
    except GanforgeError as exc:
        raise where.error(table, entry, str(exc)) from None


def _check_path(key: str, where: _Where) -> tuple[str, ...]:
    """The entry's path, checked against TrainConfig's fields (plugin names and options are checked later)."""
    path = tuple(key.split("."))
    fields = [f.name for f in attrs.fields(TrainConfig)]
    if path[0] not in fields:
        close = difflib.get_close_matches(path[0], fields, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise where.error("search", key, f"unknown setting {path[0]!r}.{hint} Entries name a TrainConfig "
                                         "field, e.g. 'loss', 'g_optim.lr', 'gen_options.hidden'.")
    if path[0] in RUNTIME_FIELDS:
        raise where.error("search", key, f"ganforge tune sets {path[0]} itself; it cannot be searched.")
    if path[0] in ("g_optim", "d_optim"):
        optim = [f.name for f in attrs.fields(OptimConfig)]
        if len(path) != 2 or path[1] not in optim:
            close = difflib.get_close_matches(path[-1], optim, n=1) if len(path) > 1 else []
            hint = f" Did you mean '{path[0]}.{close[0]}'?" if close else ""
            raise where.error("search", key, f"{path[0]} settings are {', '.join(optim)}: write "
                                             f"'{path[0]}.NAME'.{hint}")
    elif path[0] in OPTION_FIELDS:
        if len(path) != 2:
            raise where.error("search", key, f"write '{path[0]}.OPTION' for one option of the "
                                             f"{PLUGIN_FIELDS[OPTION_FIELDS[path[0]]]}.")
    elif path[0] in NAMED_OPTIONS:
        if len(path) != 3:
            kind = LIST_FIELDS[NAMED_OPTIONS[path[0]]][0]
            raise where.error("search", key, f"write '{path[0]}.{kind.upper()}.OPTION', e.g. "
                                             "'trick_options.soft_labels.real_range'.")
    elif len(path) != 1:
        raise where.error("search", key, f"{path[0]!r} has no sub-settings; write {path[0]!r}.")
    return path


def _check_param(key: str, spec: Any, fixed: dict[str, Any], where: _Where) -> Param:
    """One ``[search]`` entry as a :class:`Param` (whose validators check its range or choices)."""
    path = _check_path(key, where)
    if not isinstance(spec, Mapping):
        raise where.error("search", key, "must be a table such as { type = \"categorical\", choices = [...] } "
                                         f"(got {spec!r}); fixed values go in [fixed].")
    kind = spec.get("type")
    if kind not in KINDS:
        raise where.error("search", key, f"'type' must be one of {', '.join(KINDS)} (got {kind!r})")
    for name in spec:
        if name not in _SPEC_KEYS[kind]:
            raise where.error("search", key, f"a {kind} entry takes {', '.join(_SPEC_KEYS[kind])} (got {name!r})")
    node: Any = fixed
    for part in path:
        node = node.get(part) if isinstance(node, Mapping) else None
    if node is not None and not (kind == "subset" and key in LIST_FIELDS):
        raise where.error("search", key, "is also set in [fixed]; keep it in one table.")
    if kind in ("float", "int"):
        values = {name: spec.get(name) for name in ("low", "high", "step")}
        values["log"] = spec.get("log", False)
    else:
        choices = spec.get("choices")
        if not isinstance(choices, list):
            raise where.error("search", key, f"'choices' must be a non-empty list (got {choices!r})")
        values = {"choices": tuple(plain(choices))}
    try:
        param = Param(key, kind, **values)
    except ConfigError as exc:
        raise where.error("search", key, str(exc)) from None
    for value in (param.low, param.high) if kind in ("float", "int") else param.choices if kind == "categorical" else ():
        _check_value(fixed, param, value, where)
    return param


def _check_value(fixed: dict[str, Any], param: Param, value: Any, where: _Where) -> None:
    """Check one value of a plain setting (or of g_optim/d_optim) with TrainConfig's own validators."""
    skip = (*OPTION_FIELDS, *NAMED_OPTIONS, *LIST_FIELDS, *PLUGIN_FIELDS)
    if param.path[0] in skip:
        return  # plugin names and options are checked against the registry
    data = {k: v for k, v in fixed.items() if k not in (*NAMED_OPTIONS, *LIST_FIELDS)}
    set_path(data, param.path, copy.deepcopy(value))
    try:
        TrainConfig.from_dict(data)
    except ConfigError as exc:
        raise where.error("search", param.key, f"value {value!r}: {exc}") from None


def _sort_params(params: list[Param]) -> list[Param]:
    """Plugin choices first (they decide which options apply), then other settings, then options."""
    def rank(p: Param) -> int:
        if p.path[0] in PLUGIN_FIELDS or p.path[0] in LIST_FIELDS:
            return 0
        return 2 if p.path[0] in OPTION_FIELDS or p.path[0] in NAMED_OPTIONS else 1
    return sorted(params, key=rank)


def _candidates(field: str, fixed: dict[str, Any], params: tuple[Param, ...]) -> list[Any]:
    """The values ``field`` can take in a trial: the searched choices, else the fixed value or the default."""
    for p in params:
        if p.key == field:
            return list(p.choices)
    return [fixed.get(field, config_default(field))]


def _check_plugins(fixed: dict[str, Any], params: tuple[Param, ...], where: _Where) -> None:
    from ganforge.registry import get_registry, plugin_options

    registry = get_registry()
    for p in params:
        if p.key in PLUGIN_FIELDS:
            for choice in p.choices:
                _lookup(registry, PLUGIN_FIELDS[p.key], choice, where, "search", p.key)
        elif p.key in LIST_FIELDS:
            kind = LIST_FIELDS[p.key][0]
            for choice in p.choices:
                names = [choice] if p.kind == "subset" else plugin_names(choice) if isinstance(choice, (str, list)) else None
                if names is None or not all(isinstance(n, str) for n in names):
                    raise where.error("search", p.key, f"each choice must be a list of {kind} names (got {choice!r})")
                for name in names:
                    _lookup(registry, kind, name, where, "search", p.key)
    possible: dict[str, set[str]] = {field: set(plugin_names(fixed.get(field, []))) for field in LIST_FIELDS}
    for p in params:
        if p.key in LIST_FIELDS:
            possible[p.key] |= set(p.choices) if p.kind == "subset" else {n for c in p.choices for n in plugin_names(c)}
    # Options, fixed or searched: each must fit at least one plugin the space can choose.
    option_entries = [("search", p.key, p.path) for p in params
                      if p.path[0] in OPTION_FIELDS or p.path[0] in NAMED_OPTIONS]
    for field in OPTION_FIELDS:
        for option in fixed.get(field, {}) or {}:
            option_entries.append(("fixed", f"{field}.{option}", (field, option)))
    for options_field in NAMED_OPTIONS:
        for name, opts in (fixed.get(options_field) or {}).items():
            if not isinstance(opts, Mapping):
                raise where.error("fixed", f"{options_field}.{name}", f"must be a table of options (got {opts!r})")
            for option in opts:
                option_entries.append(("fixed", f"{options_field}.{name}.{option}", (options_field, name, option)))
    for table, key, path in option_entries:
        if path[0] in NAMED_OPTIONS:
            field = NAMED_OPTIONS[path[0]]
            kind = LIST_FIELDS[field][0]
            info = _lookup(registry, kind, path[1], where, table, key)
            if path[1] not in possible[field]:
                raise where.error(table, key, f"{kind} {path[1]!r} is never on in this space; add it to "
                                              f"'{field}' ([fixed] or [search]).")
            infos = [info]
        else:
            plugin_field = OPTION_FIELDS[path[0]]
            infos = [_lookup(registry, PLUGIN_FIELDS[plugin_field], name, where, table, key)
                     for name in _candidates(plugin_field, fixed, params)]
        accepted = [plugin_options(i.cls) for i in infos]
        if not any(a is None or path[-1] in a for a in accepted):
            known = sorted({o for a in accepted if a for o in a})
            close = difflib.get_close_matches(path[-1], known, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            names = ", ".join(f"{i.kind} '{i.name}'" for i in infos)
            raise where.error(table, key, f"unknown option {path[-1]!r} for {names}.{hint} Accepted options: "
                                          f"{', '.join(known) if known else '(none)'}.")


def _check_metric(fixed: dict[str, Any], params: tuple[Param, ...], where: _Where) -> tuple[str, str]:
    """The objective (``eval_metric`` or each data set's primary metric) and its direction; it must be measured."""
    from ganforge.metrics import HIGHER_IS_BETTER, LOWER_IS_BETTER, measured_metrics
    from ganforge.metrics.support import support_for
    from ganforge.registry import get_registry

    known = sorted(LOWER_IS_BETTER | HIGHER_IS_BETTER)
    metric = fixed.get("eval_metric")
    if metric is not None and metric not in known:
        close = difflib.get_close_matches(str(metric), known, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise where.error("fixed", "eval_metric", f"unknown metric {metric!r}.{hint} Metrics: {', '.join(known)}.")
    registry = get_registry()
    chosen = None
    for name in _candidates("data", fixed, params):
        try:
            dataset = registry.create("dataset", name, root=fixed.get("data_root"), split=fixed.get("split", "train"),
                                      **(fixed.get("data_options") or {}))
            measured = measured_metrics(dataset)
            wanted = metric or support_for(dataset).primary_metric()
        except GanforgeError as exc:
            raise where.error("fixed", "data", str(exc)) from None
        if wanted not in measured:
            raise where.error("fixed", "eval_metric", f"{wanted!r} is not measured on {name!r}; choose one of "
                                                      f"{', '.join(measured)}.")
        if chosen is not None and wanted != chosen:
            raise where.error("fixed", "eval_metric", f"the searched data sets have different primary metrics "
                                                      f"({chosen}, {wanted}); set eval_metric to one both measure.")
        chosen = wanted
    assert chosen is not None
    return chosen, "maximize" if chosen in HIGHER_IS_BETTER else "minimize"


def _check_tune(table: Any, where: _Where) -> TuneOptions:
    """The ``[tune]`` table as :class:`TuneOptions` (whose validators check the values, the pruner's too)."""
    if not isinstance(table, Mapping):
        raise where.error("tune", None, f"must be a table (got {table!r})")
    fields = [f.name for f in attrs.fields(TuneOptions)]
    for key in table:
        if key not in fields:
            close = difflib.get_close_matches(str(key), fields, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise where.error("tune", key, f"unknown setting.{hint} [tune] takes {', '.join(fields)}.")
    try:
        return TuneOptions(**{k: plain(v) for k, v in table.items()})
    except ConfigError as exc:  # "'trials' must be ...": the entry, then the problem
        entry, problem = re.match(r"^'(\w+)':? (.*)$", str(exc), flags=re.S).groups()  # type: ignore[union-attr]
        raise where.error("tune", entry, problem) from None


def _check_enqueue(entries: Any, params: tuple[Param, ...], where: _Where) -> list[dict[str, Any]]:
    if isinstance(entries, Mapping):
        entries = [entries]
    if not isinstance(entries, list):
        raise where.error("enqueue", None, "must be an array of tables: write [[enqueue]] above each one.")
    by_key = {p.key: p for p in params}
    out = []
    for i, entry in enumerate(entries):
        if not isinstance(entry, Mapping):
            raise where.error("enqueue", None, f"entry {i + 1} must be a table (got {entry!r})")
        flat: dict[str, Any] = {}
        for key, value in entry.items():
            if isinstance(value, Mapping):  # dotted TOML keys: g_optim.lr = 1e-3
                flat.update({f"{key}.{k}": v for k, v in _flatten_values(value).items()})
            else:
                flat[key] = value
        result: dict[str, Any] = {}
        for key, value in flat.items():
            if key not in by_key:
                close = difflib.get_close_matches(key, list(by_key), n=1)
                hint = f" Did you mean {close[0]!r}?" if close else ""
                raise where.error("enqueue", key, f"entry {i + 1} sets a setting that is not searched.{hint} "
                                                  f"Searched: {', '.join(by_key) or '(none)'}.")
            try:
                result.update(by_key[key].to_params(plain(value)))
            except ValueError as exc:
                raise where.error("enqueue", key, f"entry {i + 1}: {exc}") from None
        out.append(result)
    return out


def _flatten_values(table: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in table.items():
        if isinstance(value, Mapping):
            out.update(_flatten_values(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def _check_probe(space: SearchSpace, where: _Where) -> None:
    """Build the settings of one trial and let the Trainer check them (names, options) without training."""
    from ganforge.trainer import Trainer

    data = space.trial_config(lambda p: p.first())
    try:
        Trainer(TrainConfig.from_dict(data))
    except GanforgeError as exc:
        raise ConfigError(f"{where.source}: the settings do not fit together: {exc}") from None


def source_name(source: str | os.PathLike | Mapping[str, Any]) -> str:
    """A short name for a space: the file's stem, or ``"space"`` for a mapping."""
    return "space" if isinstance(source, Mapping) else Path(source).stem
