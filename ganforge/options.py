"""Plugin options: declared once, validated in one place, listed and recorded with the run.

A plugin declares its options as an attrs class named ``Options`` inside the
plugin class, one :func:`option` per setting with its default, its check and a
one-line help text::

    import ganforge
    from ganforge.options import number, option, options

    class InstanceNoise(ganforge.Trick):
        name = "my_noise"

        @options
        class Options:
            std: float = option(0.1, validator=number(0.0), help="Noise standard deviation.")

        def disc_input(self, x, real):
            return x + self.options.std * torch.randn_like(x)

The interface's constructor builds ``self.options`` from the keyword arguments
(``InstanceNoise(std=0.2)``), so a plugin without more to set up needs no
``__init__`` of its own; one that has more calls ``super().__init__(**options)``
(models: ``super().__init__(spec, **options)``) first.

ganforge uses the declaration to check option names and values before anything
is built (:func:`build_options`; an error names the plugin, the option, the
value and what is allowed), to record every option's value, defaults included,
in ``config.json`` and checkpoints (:func:`resolve_options`), and to list the
options with their types, defaults and help (``ganforge plugins NAME``,
:func:`describe_options`).

Plugins written before ``Options`` existed, whose constructors take keyword
arguments with defaults, keep working: their options are read from the
constructor's signature and documented by the "Options:" section of the class
docstring; their values are checked by the plugin itself.
"""

from __future__ import annotations

import difflib
import inspect
import math
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import attrs

from ganforge.errors import ConfigError

__all__ = [
    "OptionInfo",
    "boolean",
    "build_options",
    "choice",
    "describe_options",
    "either",
    "integer",
    "mapping",
    "number",
    "option",
    "options",
    "optional",
    "pair",
    "plugin_label",
    "resolve_options",
    "sequence_of",
    "signature_options",
    "text",
    "to_tuple",
]

Validator = Callable[[Any, "attrs.Attribute[Any]", Any], None]


# -- declaring --------------------------------------------------------------------------------


def option(default: Any = attrs.NOTHING, *, help: str, validator: Validator | Sequence[Validator] | None = None,
           converter: Callable[[Any], Any] | None = None, factory: Callable[[], Any] | None = None,
           schedulable: bool = False) -> Any:
    """One plugin option: its default, its check(s), an optional converter and a one-line ``help``.

    ``converter`` runs before the validators (e.g. :func:`to_tuple` so that a
    JSON list and a tuple are the same value). Use ``factory`` for mutable
    defaults.

    ``schedulable=True`` lets a run change a number over training
    (``TrainConfig.schedules``, ``--schedule NAME.OPTION=cosine:A:B``): the
    option's value on ``self.options`` is then a 0-d tensor on the training
    device that ganforge rewrites at the start of every step. Declare it only
    for an option the plugin reads at each use in tensor arithmetic (``gamma *
    penalty``): never copied in ``__init__``, never in ``float()``, ``if`` or a
    Python formula, which would read a stale value or synchronise the host.
    """
    if not isinstance(help, str) or not help.strip():
        raise TypeError("option() needs a non-empty help text")
    metadata = {"help": help.strip(), **({"schedulable": True} if schedulable else {})}
    kwargs: dict[str, Any] = {"validator": validator, "converter": converter, "metadata": metadata}
    if factory is not None:
        kwargs["factory"] = factory
    else:
        kwargs["default"] = default
    return attrs.field(**kwargs)


def options(cls: type) -> type:
    """Class decorator for a plugin's ``Options``: a frozen, keyword-only attrs class.

    Every field must be declared with :func:`option` (so it has a help text) and
    have a default, so a plugin can always be built without options.
    """
    built = attrs.frozen(kw_only=True)(cls)
    for field in attrs.fields(built):
        if "help" not in field.metadata:
            raise TypeError(f"{cls.__qualname__}.{field.name} must be declared with ganforge.options.option(...)")
        if field.default is attrs.NOTHING:
            raise TypeError(f"{cls.__qualname__}.{field.name} needs a default")
    built.__ganforge_options__ = True
    return built


# -- validators and converters ----------------------------------------------------------------
# One set for plugin options and for TrainConfig's fields (ganforge.config uses them too): attrs' own
# validators, each wrapped so that a refused value raises ConfigError("'name' must be ... (got value)")
# (build_options adds which plugin). ``what`` replaces the "must be ..." phrase where a field says it better.


def _fail(attr: attrs.Attribute, what: str, value: Any) -> None:
    raise ConfigError(f"{attr.name!r} must be {what} (got {value!r})")


def _wrapped(what: str, *checks: Validator, bools: bool = True) -> Validator:
    """A validator running attrs' ``checks`` in turn; any refusal becomes one ConfigError saying ``what``.

    ``bools=False`` refuses True and False (a bool is an int to ``instance_of``).
    """

    def check(inst: Any, attr: attrs.Attribute, value: Any) -> None:
        if not bools and isinstance(value, bool):
            _fail(attr, what, value)
        for one in checks:
            try:
                one(inst, attr, value)
            except _NotFinite:
                raise ConfigError(f"{attr.name!r} must be finite (got {value!r})") from None
            except (TypeError, ValueError):  # attrs' refusals, and an item's ConfigError inside a list or pair
                _fail(attr, what, value)

    return check


def _bounds(low: Any, high: Any, low_open: bool, high_open: bool) -> list[Validator]:
    v = attrs.validators
    out = []
    if low is not None:
        out.append(v.gt(low) if low_open else v.ge(low))
    if high is not None:
        out.append(v.lt(high) if high_open else v.le(high))
    return out


class _NotFinite(ValueError):
    """An infinite number where a finite one is needed: said as such, not as a range."""


def _finite(inst: Any, attr: attrs.Attribute, value: Any) -> None:
    if math.isinf(value):
        raise _NotFinite(value)


def _not_nan(inst: Any, attr: attrs.Attribute, value: Any) -> None:
    if math.isnan(value):
        raise ValueError(value)


def number(low: float | None = None, high: float | None = None, *, low_open: bool = False,
           high_open: bool = False, finite: bool = True, what: str | None = None) -> Validator:
    """A real number in ``[low, high]`` (ends excluded with ``low_open``/``high_open``; None: unbounded).

    An infinite value, when ``finite``, is refused as "must be finite".
    """
    if what is None:
        parts = []
        if low is not None:
            parts.append(f"{'>' if low_open else '>='} {low:g}")
        if high is not None:
            parts.append(f"{'<' if high_open else '<='} {high:g}")
        what = "a number" + (f" {' and '.join(parts)}" if parts else "")
    checks = [attrs.validators.instance_of((int, float)), _not_nan]
    if finite:
        checks.append(_finite)
    return _wrapped(what, *checks, *_bounds(low, high, low_open, high_open), bools=False)


def integer(low: int | None = None, high: int | None = None, *, what: str | None = None) -> Validator:
    """An integer (not a bool) in ``[low, high]``."""
    if what is None:
        if low is not None and high is not None:
            what = f"an integer from {low} to {high}"
        elif low is not None:
            what = f"an integer >= {low}"
        elif high is not None:
            what = f"an integer <= {high}"
        else:
            what = "an integer"
    return _wrapped(what, attrs.validators.instance_of(int), *_bounds(low, high, False, False), bools=False)


def choice(*allowed: Any) -> Validator:
    """One of ``allowed``; a near miss is named ("did you mean 'hinge'?")."""
    inside = attrs.validators.in_(allowed)

    def check(inst: Any, attr: attrs.Attribute, value: Any) -> None:
        try:
            inside(inst, attr, value)
        except (TypeError, ValueError):
            close = difflib.get_close_matches(str(value), [str(a) for a in allowed], n=1)
            hint = f"; did you mean {close[0]!r}?" if close and close[0] != str(value) else ""
            raise ConfigError(f"{attr.name!r} must be one of {', '.join(repr(a) for a in allowed)} "
                              f"(got {value!r}){hint}") from None

    check.allowed = allowed  # type: ignore[attr-defined]  # the command line lists them in its help
    return check


def boolean() -> Validator:
    """True or False."""
    return _wrapped("true or false", attrs.validators.instance_of(bool))


def text(what: str | None = None, *, empty: bool = False) -> Validator:
    """A string, non-empty unless ``empty``; ``what`` says which (``"a plugin name such as 'mlp'"``)."""
    checks = [attrs.validators.instance_of(str)] + ([] if empty else [attrs.validators.min_len(1)])
    return _wrapped(what or ("a string" if empty else "a non-empty string"), *checks)


def mapping(what: str = "a mapping of names to values") -> Validator:
    """A mapping whose keys are strings."""
    return _wrapped(what, attrs.validators.deep_mapping(attrs.validators.instance_of(str),
                                                        mapping_validator=attrs.validators.instance_of(Mapping)))


def optional(validator: Validator, *, what: str | None = None) -> Validator:
    """None, or a value ``validator`` accepts (``what``: the whole phrase, default "None or ...")."""
    inner = attrs.validators.optional(validator)

    def check(inst: Any, attr: attrs.Attribute, value: Any) -> None:
        try:
            inner(inst, attr, value)
        except ConfigError as exc:
            if what is not None:
                _fail(attr, what, value)
            raise ConfigError(str(exc).replace(" must be ", " must be None or ", 1)) from None

    return check


def either(*validators: Validator, what: str) -> Validator:
    """A value that one of ``validators`` accepts (``what`` names them all for the message)."""

    def check(inst: Any, attr: attrs.Attribute, value: Any) -> None:
        for one in validators:
            try:
                one(inst, attr, value)
                return
            except ConfigError:
                continue
        _fail(attr, what, value)

    return check


def sequence_of(item: Validator, what: str, *, min_len: int = 1, max_len: int | None = None) -> Validator:
    """A tuple of ``min_len`` to ``max_len`` items each accepted by ``item``; ``what`` names an item for messages."""
    length = f"{min_len}" if max_len == min_len else f"{min_len} or more" if max_len is None else f"{min_len} to {max_len}"
    v = attrs.validators
    checks = [v.instance_of(tuple), v.min_len(min_len)] + ([v.max_len(max_len)] if max_len is not None else [])
    return _wrapped(f"a list of {length} {what}", *checks, v.deep_iterable(item))


def pair(low: float | None = None, high: float | None = None, *, ordered: bool = True, low_open: bool = False,
         high_open: bool = False) -> Validator:
    """A pair ``(a, b)`` of numbers within ``[low, high]`` (open ends as in :func:`number`), ``a <= b`` when ``ordered``."""
    inner = number(low, high, low_open=low_open, high_open=high_open)
    bounds = "" if low is None and high is None else f" in {'(' if low_open else '['}" \
                                                      f"{'-inf' if low is None else f'{low:g}'}, " \
                                                      f"{'inf' if high is None else f'{high:g}'}{')' if high_open else ']'}"
    v = attrs.validators
    items = _wrapped(f"a pair (low, high) of numbers{bounds}" if ordered else f"a pair of numbers{bounds}",
                     v.instance_of(tuple), v.min_len(2), v.max_len(2), v.deep_iterable(inner))

    def check(inst: Any, attr: attrs.Attribute, value: Any) -> None:
        items(inst, attr, value)
        if ordered and value[0] > value[1]:
            _fail(attr, "a pair with low <= high", value)

    return check


def to_tuple(value: Any) -> Any:
    """Lists (from JSON, TOML or the command line) become tuples; other values pass unchanged."""
    if isinstance(value, list):
        return tuple(to_tuple(v) for v in value)
    return value


# -- using the declarations ---------------------------------------------------------------------

#: Constructor arguments that a plugin may take without their being options (a data set's run settings: the one
#: home of this fact; ``Dataset._ganforge_run_args`` and ``registry.DATASET_ARGS`` are this tuple).
RUN_ARGS = ("root", "split")
_RUN_ARGS = RUN_ARGS


def plugin_label(cls: type) -> str:
    """``"trick 'soft_labels'"``: the kind and name of a plugin class, for messages."""
    kind = getattr(cls, "_ganforge_kind", "plugin")
    return f"{kind} {getattr(cls, 'name', '') or cls.__qualname__!r}" if getattr(cls, "name", "") \
        else f"{kind} class {cls.__qualname__}"


def declared(cls: type) -> type | None:
    """The plugin's ``Options`` class, or None when its options are its constructor's keyword arguments.

    A subclass of a plugin that declares ``Options`` inherits them, unless it
    defines a constructor of its own with named keyword arguments (and no
    ``**options``): then, as before ``Options`` existed, those arguments are its
    options (a third-party subclass of a builtin model keeps working).
    """
    owner = next((k for k in cls.__mro__ if "Options" in vars(k)), None)
    if owner is None:
        return None
    opts = vars(owner)["Options"]
    if not (isinstance(opts, type) and getattr(opts, "__ganforge_options__", False)):
        return None
    for klass in cls.__mro__[: cls.__mro__.index(owner)]:
        init = vars(klass).get("__init__")
        if init is None:
            continue
        params = list(inspect.signature(init).parameters.values())[1:]
        if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
            continue
        if any(p.name not in ("spec", *_RUN_ARGS) for p in params):
            return None
    return opts


def signature_options(cls: type) -> dict[str, Any] | None:
    """Options of a plugin without ``Options``: its constructor's keyword arguments and defaults.

    None when the constructor takes ``**kwargs`` of its own (any option accepted).
    """
    sig = inspect.signature(cls.__init__)
    out: dict[str, Any] = {}
    params = list(sig.parameters.values())[1:]  # self
    for p in params:
        if p.kind is inspect.Parameter.VAR_KEYWORD:
            if getattr(cls.__init__, "_ganforge_interface_init", False):
                continue  # the interface's own **options: the plugin takes none
            return None
        if p.kind in (inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD):
            if p.default is not inspect.Parameter.empty:
                out[p.name] = p.default
    return out


def accepted_options(cls: type) -> dict[str, Any] | None:
    """Every option ``cls`` accepts, with its default (None: it accepts any keyword)."""
    opts = declared(cls)
    if opts is not None:
        return {f.name: _default(f) for f in attrs.fields(opts)}
    return signature_options(cls)


def _default(field: attrs.Attribute) -> Any:
    default = field.default
    if isinstance(default, attrs.Factory):  # type: ignore[arg-type]
        default = default.factory()
    return field.converter(default) if field.converter is not None else default


def check_option_names(cls: type, given: Mapping[str, Any]) -> None:
    """Raise :class:`ConfigError` for option names ``cls`` does not accept, suggesting close ones."""
    accepted = accepted_options(cls)
    if accepted is None:
        return
    run_args = getattr(cls, "_ganforge_run_args", ())  # a data set's root and split are the run's settings
    for key in given:
        if key not in accepted and key not in run_args:
            msg = f"Unknown option {key!r} for {plugin_label(cls)}."
            close = difflib.get_close_matches(str(key), list(accepted), n=1)
            if close:
                msg += f" Did you mean {close[0]!r}?"
            msg += f" Accepted options: {', '.join(sorted(accepted)) if accepted else '(none)'}."
            msg += f" Run 'ganforge plugins {getattr(cls, 'name', '')}' to see them."
            raise ConfigError(msg)


def build_options(cls: type, given: Mapping[str, Any]) -> Any:
    """``cls.Options(**given)``, with every error a :class:`ConfigError` naming the plugin.

    Returns None for a plugin that declares no ``Options`` (it must then take
    no options through the interface's constructor).
    """
    opts = declared(cls)
    if opts is None:
        parent = next((vars(k)["Options"] for k in cls.__mro__ if "Options" in vars(k)), None)
        if getattr(parent, "__ganforge_options__", False):
            # A subclass with a constructor of its own passes its parent's options up: build those.
            return _build(parent, cls, given)
        if given:
            raise TypeError(f"{cls.__name__} takes no options, got {sorted(given)}")
        return None
    check_option_names(cls, given)
    return _build(opts, cls, given)


def _build(opts: type, cls: type, given: Mapping[str, Any]) -> Any:
    unknown = [k for k in given if k not in {f.name for f in attrs.fields(opts)}]
    if unknown:
        raise ConfigError(f"Unknown option {unknown[0]!r} for {plugin_label(cls)}.")
    try:
        return opts(**given)
    except ConfigError as exc:
        raise ConfigError(f"Option of {plugin_label(cls)}: {exc}") from None
    except (TypeError, ValueError) as exc:  # a converter that could not convert
        raise ConfigError(f"Option of {plugin_label(cls)}: {exc}") from None


def resolve_options(cls: type, given: Mapping[str, Any]) -> dict[str, Any]:
    """Every option's value for a plugin built with ``given``: defaults filled in, converted and checked.

    This is what a run records (``config.json``, checkpoints) and rebuilds the
    plugin from on resume, so a plugin release that changes a default does not
    change a saved run. For a plugin without ``Options``, the constructor's
    defaults are filled in and the values are checked when it is built.
    """
    opts = declared(cls)
    if opts is not None:
        built = build_options(cls, given)
        return {f.name: getattr(built, f.name) for f in attrs.fields(opts)}
    check_option_names(cls, given)
    defaults = signature_options(cls)
    return dict(given) if defaults is None else {**defaults, **given}


@attrs.frozen
class OptionInfo:
    """One option as ``ganforge plugins NAME`` lists it.

    Attributes:
        name: The keyword.
        type: Its type, as written in the declaration (``"float"``, ``"tuple[int, ...]"``), or ``""``.
        default: Its default value.
        help: One line saying what it does.
        schedulable: True when a run may schedule it (``TrainConfig.schedules``, see :func:`option`).
    """

    name: str
    type: str
    default: Any
    help: str
    schedulable: bool = False

    def to_json(self) -> dict[str, Any]:
        """A JSON-serialisable record (tuples become lists)."""
        record = {"name": self.name, "type": self.type, "default": _jsonable(self.default), "help": self.help}
        return {**record, "schedulable": True} if self.schedulable else record


def _jsonable(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return repr(value)


def _type_name(annotation: Any) -> str:
    if annotation is None or annotation is inspect.Parameter.empty:
        return ""
    if isinstance(annotation, str):
        return annotation
    return getattr(annotation, "__name__", None) or str(annotation).replace("typing.", "")


_OPTIONS_SECTION = re.compile(r"^(\s*)Options:\s*$")


def docstring_options(cls: type) -> dict[str, str]:
    """The "Options:" section of ``cls``'s docstring: ``{option: first sentence of its description}``."""
    doc = inspect.getdoc(cls) or ""
    lines = doc.splitlines()
    out: dict[str, str] = {}
    inside, indent, current = False, None, None
    for line in lines:
        if not inside:
            inside = bool(_OPTIONS_SECTION.match(line))
            continue
        if not line.strip():
            continue
        this_indent = len(line) - len(line.lstrip())
        if this_indent == 0:
            break  # the next section
        entry = re.match(r"^\s*(\w+)\s*(?:\([^)]*\))?:\s*(.*)$", line)
        if entry and (indent is None or this_indent <= indent):
            indent = this_indent
            current = entry.group(1)
            out[current] = entry.group(2).strip()
        elif current is not None:
            out[current] = (out[current] + " " + line.strip()).strip()
    return {k: _first_sentence(v) for k, v in out.items()}


def _first_sentence(text: str) -> str:
    text = " ".join(text.split())
    match = re.match(r"^(.+?\.)(\s|$)", text)
    return match.group(1) if match else text


def describe_options(cls: type) -> list[OptionInfo]:
    """Every option ``cls`` accepts with its type, default and help, in declaration order."""
    opts = declared(cls)
    if opts is not None:
        return [OptionInfo(f.name, _type_name(f.type), _default(f), f.metadata["help"], bool(f.metadata.get("schedulable")))
                for f in attrs.fields(opts)]
    defaults = signature_options(cls) or {}
    helps = docstring_options(cls)
    params = inspect.signature(cls.__init__).parameters
    return [OptionInfo(name, _type_name(params[name].annotation), default, helps.get(name, ""))
            for name, default in defaults.items()]
