"""Helpers shared by the subcommands: reading ``KEY=VALUE`` values, checking numbers and output paths."""

from __future__ import annotations

import ast
import json
from pathlib import Path
from typing import Any

from ganforge.errors import ConfigError


def parse_value(text: str) -> Any:
    """Read a command-line value: JSON or a Python literal when it parses as one, else the string."""
    for parse in (json.loads, ast.literal_eval):
        try:
            return parse(text)
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            continue
    return text


def parse_assignment(flag: str, text: str, example: str = "norm=instance") -> tuple[str, Any]:
    """Split ``KEY=VALUE``; raise :class:`ConfigError` naming the flag and an ``example`` otherwise."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"{flag} takes KEY=VALUE (got {text!r}), e.g. {flag} {example}")
    return key.strip(), parse_value(value)


def check_out(out: str | None, example: str) -> None:
    """Raise :class:`ConfigError` when ``--out`` was given as an empty string (it would mean the working folder)."""
    if out is not None and not str(out).strip():
        raise ConfigError(f"--out is empty: name the file to write, e.g. {example}, or leave --out out for the "
                          "default in the run folder.")


def out_path(out: str | None, trainer_or_dir: Any, default: str, suffixes: tuple[str, ...] = (".png",)) -> Path:
    """The file a command writes: ``out``, or ``default`` inside the run folder; its folder is created.

    Raises:
        ConfigError: when the file's suffix is not one of ``suffixes``.
    """
    check_out(out, f"--out out{suffixes[0]}")
    if out is not None:
        path = Path(out)
    else:
        run_dir = getattr(trainer_or_dir, "run_dir", trainer_or_dir)
        path = Path(run_dir) / default
    if path.suffix.lower() not in suffixes:
        raise ConfigError(f"--out must name a {' or '.join(suffixes)} file (got {str(path)!r})")
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def positive(flag: str, value: int | None) -> None:
    """Raise :class:`ConfigError` unless ``value`` is None or an integer >= 1."""
    if value is not None and value < 1:
        raise ConfigError(f"{flag} must be an integer >= 1 (got {value})")
