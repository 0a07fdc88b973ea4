"""Probes, one module per check `type`; `PROBES` maps the type to its coroutine.

Import only this mapping and `ProbeContext`/`ProbeResult`: the modules are
internal. Every probe is `async def probe(check, ctx) -> ProbeResult` and
honours `ctx.timeout` itself.
"""
from __future__ import annotations

from . import (
    asterisk_ami, asterisk_channels, command, disk, http, memory, mysql_replication,
    postgres_replication, process, sip_options, tcp, threads,
)
from ._common import Probe, ProbeContext, ProbeResult

PROBES: dict[str, Probe] = {
    "process": process.probe,
    "memory": memory.probe,
    "threads": threads.probe,
    "disk": disk.probe,
    "tcp": tcp.probe,
    "http": http.probe,
    "asterisk-ami": asterisk_ami.probe,
    "asterisk-channels": asterisk_channels.probe,
    "sip-options": sip_options.probe,
    "postgres-replication": postgres_replication.probe,
    "mysql-replication": mysql_replication.probe,
    "command": command.probe,
}

__all__ = ["PROBES", "Probe", "ProbeContext", "ProbeResult"]
