"""Export a trial's settings as a TOML file that ``ganforge train --config`` runs as is."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ganforge.config import TrainConfig

#: Settings left out of an exported configuration: where the trial ran, and how it was run by tune.
NOT_EXPORTED = ("out_dir", "overwrite", "progress")
_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


def _key(key: str) -> str:
    return key if _BARE_KEY.match(key) else json.dumps(key)


def _value(value: Any) -> str:
    """One TOML value (inline tables for mappings inside arrays)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        text = repr(value)
        return text if any(c in text for c in ".en") else text + ".0"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)  # JSON's escapes are valid in TOML basic strings
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    if isinstance(value, Mapping):
        items = [f"{_key(k)} = {_value(v)}" for k, v in value.items() if v is not None]
        return "{ " + ", ".join(items) + " }" if items else "{}"
    raise TypeError(f"cannot write {type(value).__name__} {value!r} as TOML")


def dumps_toml(data: Mapping[str, Any], header: str = "") -> str:
    """``data`` as TOML: plain values first, then a ``[table]`` per non-empty mapping (recursively).

    None values are left out (TOML has no null; every TrainConfig field that
    may be None defaults to None).
    """
    lines = [f"# {line}" if line else "#" for line in header.splitlines()]
    if lines:
        lines.append("")

    def emit(table: Mapping[str, Any], prefix: str) -> None:
        nested = []
        for key, value in table.items():
            if value is None:
                continue
            if isinstance(value, Mapping) and value:
                nested.append((key, value))
            else:
                lines.append(f"{_key(key)} = {_value(value)}")
        for key, value in nested:
            name = f"{prefix}{_key(key)}"
            lines.append("")
            lines.append(f"[{name}]")
            emit(value, name + ".")

    emit(data, "")
    return "\n".join(lines) + "\n"


def exported_settings(config: Mapping[str, Any], device: str | None = None) -> dict[str, Any]:
    """A trial's settings (``TrainConfig.to_dict()``) as ``ganforge train`` should get them.

    Leaves out :data:`NOT_EXPORTED` and None values; ``device`` replaces the
    device a worker was given (None: the space's own, kept as it is).
    """
    out = {k: v for k, v in config.items() if k not in NOT_EXPORTED and v is not None}
    if device is not None:
        out["device"] = device
    return out


def write_config_toml(config: Mapping[str, Any], path: str | Path, header: str = "", device: str | None = None) -> Path:
    """Write a trial's settings as a TOML configuration; checks that it reads back as the same TrainConfig.

    Returns:
        The path written.
    """
    import sys

    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover
        import tomli as tomllib

    settings = exported_settings(config, device)
    text = dumps_toml(settings, header)
    if TrainConfig.from_dict(tomllib.loads(text)) != TrainConfig.from_dict(settings):  # pragma: no cover
        raise AssertionError(f"the TOML written for {path} does not read back as the same configuration")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path
