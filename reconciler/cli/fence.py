"""`overseer fence confirm SERVER`: a person vouches that a dead server is off.

Pacemaker's `stonith_admin --confirm`: when a server's fence agent keeps
failing (its BMC is unreachable, the hypervisor is down too) its services
stay without an active, because nobody can prove the server will not run
them again. An operator who has made sure it is off (pulled its power, saw
it dead in the rack) says so here; the master then moves its services at
its next pass. Refused while the server is up (it holds a lease). The
confirmation counts for the server's current outage only: its next
registration deletes it, as it deletes every fence record.
"""
from __future__ import annotations

import time

import click

from overseer.desired.state import FenceOutcome, FenceRecord, HistoryEntry, HistoryKind

from .common import fail, global_options, open_store, store_errors


@click.group("fence")
def fence() -> None:
    """Fence agents: confirm by hand that a dead server is off."""


@fence.command("confirm")
@click.argument("server")
@global_options
@store_errors
def confirm(server: str) -> None:
    """Tell the master SERVER is powered off, so its services may move.

    Only once you have made sure it is: if it runs again without
    registering (a frozen host that thaws), its services run twice."""
    store = open_store()
    try:
        snap = store.snapshot(history=False)
        if server not in snap.desired.servers:
            fail(f"fence confirm: no server {server!r} in cluster {store.cluster} "
                 f"(servers: {', '.join(sorted(snap.desired.servers))})")
        now = time.time()
        waiting = snap.fences[server].services if server in snap.fences else ()
        record = FenceRecord(server, now, now, FenceOutcome.CONFIRMED, 0, 0,
                             "confirmed off by an operator", tuple(waiting), "operator")
        if not store.confirm_fence(record):
            fail(f"fence confirm: {server} is up (it holds a lease): nothing to confirm")
        for service in waiting:
            store.append_history(HistoryEntry(service, now, HistoryKind.FENCE,
                                              f"{server} confirmed off by an operator (overseer fence confirm)",
                                              server))
        click.echo(f"{server}: confirmed off; the master moves what waited for its fence"
                   + (f" ({', '.join(waiting)})" if waiting else ""))
    finally:
        store.close()


COMMANDS = [fence]
