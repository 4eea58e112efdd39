"""What a plugin must provide, checked when the registry is built rather than at step 1.

Three checks, each raising :class:`~ganforge.errors.PluginContractError` with a
message that names the plugin, its distribution, the class and the fix:

* :func:`check_hook_names` -- every function of a plugin named ``ganforge_*``
  (or marked with ``@ganforge.hookimpl``) is a known hook, and a function
  named like a hook carries the marker (without it pluggy never calls it).
* :func:`hook_classes` -- a registration hook returned a list of classes.
* :func:`check_class` -- a registered class defines what its kind needs
  (:data:`REQUIRED`); :func:`check_instance` checks what only a built plugin
  shows (a discriminator's ``head``).
"""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Iterable, Mapping
from typing import Any

from torch import nn

from ganforge import hookspecs
from ganforge.errors import PluginContractError
from ganforge.interfaces import PLUGIN_KINDS

#: The hooks ganforge defines (functions of :mod:`ganforge.hookspecs` with the hookspec marker).
HOOK_NAMES: tuple[str, ...] = tuple(sorted(
    name for name, value in vars(hookspecs).items()
    if callable(value) and hasattr(value, f"{hookspecs.PROJECT_NAME}_spec")
))
HOOK_PREFIX = f"{hookspecs.PROJECT_NAME}_"


def qualified(cls: type) -> str:
    """``module.QualName`` of a class, for messages."""
    return f"{cls.__module__}.{cls.__qualname__}"


def overrides(cls: type, base: type, attr: str) -> bool:
    """True when ``cls`` defines ``attr`` or inherits it from a class other than ``base`` (and ``base``'s bases)."""
    for klass in cls.__mro__:
        if attr in vars(klass):
            return klass not in base.__mro__
    return False


# -- what each kind must define ---------------------------------------------------------------
# Each entry: (test on the class, what is missing, how to fix it). A test returns True when the
# class is complete in that respect.

_DISC_HEAD_FIX = "self.head = nn.Linear(F, 1)"


def _flag(cls: type, attr: str) -> bool | None:
    """A class flag's value; None when it is computed per instance (a property)."""
    value = inspect.getattr_static(cls, attr, False)
    return None if isinstance(value, property) else bool(value)


def _dataset_gaps(cls: type) -> list[tuple[str, str]]:
    base = PLUGIN_KINDS["dataset"]
    has = {attr: overrides(cls, base, attr) for attr in ("sample_shape", "load", "sample", "num_items", "load_item")}
    gaps = []
    if not has["sample_shape"]:
        gaps.append(("the sample_shape property", "define it to return the shape of one sample, e.g. (1, 28, 28)"))
    distribution, per_item = _flag(cls, "is_distribution"), _flag(cls, "per_item")
    forms = {
        "finite": has["load"],
        "distribution": has["sample"],
        "per_item": has["num_items"] and has["load_item"],
    }
    if distribution and not forms["distribution"]:
        gaps.append(("sample(n, device)", "a data set with is_distribution = True draws its samples with it; "
                                          "define it to return (samples, labels) on the device"))
    elif per_item and not forms["per_item"]:
        missing = " and ".join(f"{m}()" for m in ("num_items", "load_item") if not has[m])
        gaps.append((missing, "a data set with per_item = True is read one sample at a time: define num_items() "
                              "(the number of samples) and load_item(index) (one sample and its label)"))
    elif distribution is False and per_item is False and not forms["finite"]:
        gaps.append(("load()", "define load() returning (samples, labels), or set is_distribution = True and define "
                               "sample(n, device), or set per_item = True and define num_items() and "
                               "load_item(index)"))
    elif (distribution is None or per_item is None) and not any(forms.values()):
        gaps.append(("load(), sample() or num_items()/load_item()", "define the methods of one data set form "
                     "(see ganforge.Dataset)"))
    return gaps


def _gaps(kind: str, cls: type) -> list[tuple[str, str]]:
    """``(what is missing, how to fix it)`` for each part of its kind's contract ``cls`` lacks."""
    base = PLUGIN_KINDS[kind]
    if kind == "generator":
        if not overrides(cls, base, "forward"):
            return [("forward(z, labels=None)", "define it to return samples of shape (B, *spec.data_shape)")]
    elif kind == "discriminator":
        if not (overrides(cls, base, "features") or overrides(cls, base, "forward")):
            return [("features(x, labels=None) or forward(x, labels=None)",
                     f"define features() returning (B, F) features and set {_DISC_HEAD_FIX} in __init__, or "
                     "define forward() returning one logit per sample")]
    elif kind == "loss":
        gaps = []
        if not any(overrides(cls, base, m) for m in ("criterion", "d_loss", "discriminator_loss")):
            gaps.append(("a discriminator loss", "define criterion(logits, targets) (the logit form; d_loss() sums "
                                                 "it over the real and the fake batch) or discriminator_loss(ctx) "
                                                 "(the context form)"))
        if not any(overrides(cls, base, m) for m in ("g_loss", "generator_loss")):
            gaps.append(("a generator loss", "define g_loss(fake_logits, real_targets, fake_targets) (the logit "
                                             "form) or generator_loss(ctx) (the context form)"))
        return gaps
    elif kind == "regularizer":
        if not overrides(cls, base, "penalty"):
            return [("penalty(ctx)", "define it to return the weighted penalty, a scalar tensor")]
    elif kind == "dataset":
        return _dataset_gaps(cls)
    return []  # tricks: every event has a do-nothing default


#: What each kind requires, in words (``ganforge plugins`` and the docs show it).
REQUIRED: dict[str, str] = {
    "generator": "forward(z, labels=None)",
    "discriminator": "features(x, labels=None) and self.head, or forward(x, labels=None)",
    "loss": "criterion(logits, targets) or d_loss(...) or discriminator_loss(ctx); and g_loss(...) or "
            "generator_loss(ctx)",
    "regularizer": "penalty(ctx)",
    "trick": "nothing (every event has a default)",
    "dataset": "sample_shape; and load(), or is_distribution = True with sample(n, device), or per_item = True "
               "with num_items() and load_item(index)",
}


def capital_first(text: str) -> str:
    """``text`` with its first letter upper-cased (``str.capitalize`` would lower the rest)."""
    return text[:1].upper() + text[1:]


def check_class(kind: str, cls: type, name: str, source: str) -> None:
    """Raise :class:`PluginContractError` when ``cls``, registered by ``source`` as ``kind`` ``name``, is incomplete.

    Args:
        kind: The plugin kind (``"generator"``, ...).
        cls: The registered class (a subclass of the kind's interface).
        name: The name it is registered under.
        source: ``"plugin 'x' (distribution y 1.0)"``, as :attr:`ganforge.registry.PluginInfo.source`.
    """
    gaps = _gaps(kind, cls)
    if gaps:
        problems = "; ".join(f"it lacks {what}: {fix}" for what, fix in gaps)
        raise PluginContractError(
            f"{capital_first(source)} registers {kind} '{name}' (class {qualified(cls)}), which is incomplete: "
            f"{problems}."
        )


def check_instance(kind: str, obj: Any, name: str, source: str) -> None:
    """Raise :class:`PluginContractError` for what only a built plugin shows: a discriminator without ``head``."""
    if kind == "discriminator" and not overrides(type(obj), PLUGIN_KINDS[kind], "forward"):
        if not isinstance(getattr(obj, "head", None), nn.Module):
            raise PluginContractError(
                f"Discriminator '{name}' (class {qualified(type(obj))}, {source}) defines features() but its "
                f"__init__ set no self.head, the module mapping the features to one logit: set "
                f"{_DISC_HEAD_FIX} (F: the width of the features), or define forward()."
            )


def hook_classes(result: Any, hook: str, source: str) -> list[Any]:
    """The classes a registration hook returned, as a list; :class:`PluginContractError` for anything but a list.

    None (the hook registers nothing) gives an empty list; a tuple is accepted too.
    """
    if result is None:
        return []
    if isinstance(result, (list, tuple)):
        return list(result)
    if isinstance(result, type):
        raise PluginContractError(
            f"{capital_first(source)} returned the class {qualified(result)} from {hook}(), not a list: a registration "
            f"hook returns a list of classes; write 'return [{result.__name__}]'."
        )
    shown = repr(result)
    shown = shown if len(shown) <= 60 else shown[:57] + "..."
    raise PluginContractError(
        f"{capital_first(source)} returned {type(result).__name__} {shown} from {hook}(): a registration hook returns "
        "a list of classes (or None to register nothing)."
    )


def _routine(plugin: Any, attr: str) -> bool:
    try:
        value = inspect.getattr_static(plugin, attr)
    except AttributeError:
        return False
    if isinstance(value, (staticmethod, classmethod)):
        value = value.__func__
    return inspect.isroutine(value)


def check_hook_names(pm: Any, plugin: Any, source: str, names: Iterable[str] | None = None) -> None:
    """Raise :class:`PluginContractError` for a hook-like function of ``plugin`` that ganforge would never call.

    Two cases: a function named ``ganforge_*`` (or marked ``@ganforge.hookimpl``,
    possibly with ``specname=``) that matches no hook, and a function named
    exactly like a hook but without the ``@ganforge.hookimpl`` marker. Both are
    ignored silently by pluggy.

    Args:
        pm: The pluggy plugin manager (it parses the markers).
        plugin: The plugin object (a module, class or instance).
        source: ``"plugin 'x' (distribution y 1.0)"`` for messages.
        names: The hooks that exist (default :data:`HOOK_NAMES`).
    """
    hooks = tuple(names) if names is not None else HOOK_NAMES
    for attr in dir(plugin):
        if not _routine(plugin, attr):
            continue
        opts = pm.parse_hookimpl_opts(plugin, attr)
        marked = isinstance(opts, Mapping)
        hook = (opts.get("specname") if marked else None) or attr
        if not marked and not attr.startswith(HOOK_PREFIX):
            continue
        if hook in hooks:
            if not marked:
                raise PluginContractError(
                    f"{capital_first(source)} defines {attr}() without the @ganforge.hookimpl decorator, so ganforge "
                    f"never calls it: decorate it with @ganforge.hookimpl."
                )
            continue
        close = difflib.get_close_matches(hook, hooks, n=1, cutoff=0.6)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        if hook != attr:
            raise PluginContractError(
                f"{capital_first(source)} defines {attr}() marked @ganforge.hookimpl(specname={hook!r}), but "
                f"ganforge has no hook {hook!r}, so it is never called.{hint} The hooks are: {', '.join(hooks)}."
            )
        raise PluginContractError(
            f"{capital_first(source)} defines {attr}(), which is named like a ganforge hook but matches none, so "
            f"it is never called.{hint} The hooks are: {', '.join(hooks)}. Rename it to the hook it implements "
            f"(a helper's name must not start with {HOOK_PREFIX!r})."
        )
