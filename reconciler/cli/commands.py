"""Where each sub-command lives, loaded when it is invoked.

Every process is one command, so it imports only that command's module: an
agent never loads the YAML loader, the board or the demo (megabytes of a
long-running process's memory); `--help` lists all of them from this table.
A module that is missing (not written yet) must not break the others.
"""
from __future__ import annotations

import importlib
from typing import Optional

import click

# command name -> module under overseer.reconciler.cli (its COMMANDS hold it)
WHERE = {
    "validate": "docs", "apply": "docs", "diff": "docs", "get": "docs", "sync": "docs",
    "status": "status", "history": "history",
    "agent": "agent",
    "switchover": "control", "pause": "control", "resume": "control", "plan": "control",
    "restart": "restart",
    "cordon": "drain", "uncordon": "drain", "drain": "drain",
    "cleanup": "failures",
    "fence": "fence",
    "ui": "serve",
    "demo": "demo",
}


def load(name: str) -> Optional[click.Command]:
    module_name = WHERE.get(name)
    if module_name is None:
        return None
    try:
        module = importlib.import_module(f"{__package__}.{module_name}")
    except ModuleNotFoundError as exc:
        if exc.name != f"{__package__}.{module_name}":
            raise
        return None
    return next((c for c in getattr(module, "COMMANDS", ()) if c.name == name), None)
