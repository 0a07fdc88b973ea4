"""Probes, one module per check `type`; `PROBES` maps the type to its coroutine.

Import only this mapping and `ProbeContext`/`ProbeResult`: the modules are
internal. Every probe is `async def probe(check, ctx) -> ProbeResult` and
honours `ctx.timeout` itself.

A probe's module is imported the first time a check of its type runs: an
agent whose services check processes and ports never loads the AMI, SIP or
database probes (memory beside the PBX counts; bench/idle.py).
"""
from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Iterator

from ._common import Probe, ProbeContext, ProbeResult

_MODULES = {
    "process": "process",
    "memory": "memory",
    "threads": "threads",
    "disk": "disk",
    "tcp": "tcp",
    "http": "http",
    "asterisk-ami": "asterisk_ami",
    "asterisk-channels": "asterisk_channels",
    "sip-options": "sip_options",
    "postgres-replication": "postgres_replication",
    "mysql-replication": "mysql_replication",
    "command": "command",
}


class _Probes(Mapping):
    """check type -> probe coroutine, importing the probe's module on first use."""

    def __init__(self) -> None:
        self._loaded: dict[str, Probe] = {}

    def __getitem__(self, kind: str) -> Probe:
        probe = self._loaded.get(kind)
        if probe is None:
            module = _MODULES[kind]    # KeyError for an unknown type, as a dict would
            probe = importlib.import_module(f"{__name__}.{module}").probe
            self._loaded[kind] = probe
        return probe

    def __iter__(self) -> Iterator[str]:
        return iter(_MODULES)

    def __len__(self) -> int:
        return len(_MODULES)


PROBES: Mapping[str, Probe] = _Probes()

__all__ = ["PROBES", "Probe", "ProbeContext", "ProbeResult"]
