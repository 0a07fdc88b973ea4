"""`overseer cleanup SERVICE [--server S]`: forget remembered failures.

Like `crm_resource --cleanup` or FreePBX HA's "Clear Error": the fail counts
of the service (on one server, or on every candidate) are deleted, so those
servers rank as healthy candidates again at once. The master is not asked:
the counts are facts its planner reads on the next pass.
"""
from __future__ import annotations

import time
from typing import Optional

import click

from overseer.desired.state import HistoryEntry, HistoryKind

from .common import fail, global_options, open_store, service_doc, store_errors


@click.command("cleanup")
@click.argument("service")
@click.option("--server", default=None, help="forget failures on this server only (default: every server)")
@global_options
@store_errors
def cleanup(service: str, server: Optional[str]) -> None:
    """Forget SERVICE's remembered failures (fail counts), on one server or all."""
    store = open_store()
    snap = store.snapshot()
    doc = service_doc(snap, store.cluster, service, "cleanup")
    if server is not None and server not in snap.desired.servers:
        fail(f"cleanup: no server {server!r} in cluster {store.cluster} "
             f"(servers: {', '.join(sorted(snap.desired.servers))})")
    servers = [server] if server else sorted({srv for srv, svc in snap.failures if svc == service}
                                             | set(doc.spec.candidates))
    cleared = store.delete_failures(service, servers)
    if cleared:
        store.append_history(HistoryEntry(service, time.time(), HistoryKind.CLEANUP,
                                          f"fail counts cleared on {', '.join(cleared)}"))
        click.echo(f"{service}: fail counts cleared on {', '.join(cleared)}")
    else:
        click.echo(f"{service}: no remembered failures" + (f" on {server}" if server else ""))


COMMANDS = [cleanup]
