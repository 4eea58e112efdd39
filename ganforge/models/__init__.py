"""Builtin generators and discriminators, registered through the plugin hooks."""

from __future__ import annotations

from ganforge.hookspecs import hookimpl
from ganforge.models.mlp import MLPDiscriminator, MLPGenerator


@hookimpl
def ganforge_register_generators():
    return [MLPGenerator]


@hookimpl
def ganforge_register_discriminators():
    return [MLPDiscriminator]
