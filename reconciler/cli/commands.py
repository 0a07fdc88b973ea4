"""Registers every sub-command module on the `cli` group.

A module that is missing (not written yet) must not break the others.
"""
from __future__ import annotations

import importlib

from .main import cli

MODULES = ("docs", "status", "agent", "control", "drain", "failures", "serve", "demo")

for _name in MODULES:
    try:
        _module = importlib.import_module(f"{__package__}.{_name}")
    except ModuleNotFoundError as exc:
        if exc.name != f"{__package__}.{_name}":
            raise
        continue
    for _command in getattr(_module, "COMMANDS", ()):
        cli.add_command(_command)
