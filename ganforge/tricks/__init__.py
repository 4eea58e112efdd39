"""Builtin tricks (soumith/ganhacks), registered through the plugin hooks."""

from __future__ import annotations

from ganforge.hookspecs import hookimpl
from ganforge.tricks.soft_labels import SoftLabels

BUILTIN_TRICKS = [SoftLabels]


@hookimpl
def ganforge_register_tricks():
    return list(BUILTIN_TRICKS)
