"""`overseer restart SERVICE [--server S]`: restart in place, as `patronictl restart`.

Stops and starts SERVICE where it is active, without a move: the command
leaves a request in etcd (`control/restart/<service>`, naming the server) and
the agent of that server carries it out (reconciler/agent/service_worker.py)
and deletes it with a `restart` history entry; the command waits for that
(`--timeout`) and prints the entry. Refused before anything is written when
the service is not active on that server, when an all-active service runs on
several servers and --server does not say which, when the server is down, or
when a restart is already pending. A request not carried out in time is
withdrawn, so it cannot happen later by surprise.
"""
from __future__ import annotations

import time
from typing import Optional

import click

from overseer.desired.state import HistoryKind, RestartRequest
from overseer.desired.store.store import Store

from .common import fail, global_options, open_store, service_doc, store_errors


def _server(snap, service: str, server: Optional[str]) -> str:
    assignment = snap.assignments.get(service)
    active = list(assignment.active) if assignment else []
    if not active:
        fail(f"restart: {service} is active nowhere; nothing to restart in place")
    if server is None:
        if len(active) > 1:
            fail(f"restart: {service} is active on {', '.join(active)}; say which with --server", 2)
        server = active[0]
    elif server not in active:
        fail(f"restart: {service} is not active on {server} (active: {', '.join(active)})")
    if server not in snap.servers:
        fail(f"restart: {server} is down (no lease); its agent cannot restart anything")
    if service in snap.restarts:
        fail(f"restart: a restart of {service} on {snap.restarts[service].server} is already pending")
    return server


def wait_for_restart(store: Store, request: RestartRequest, timeout: float) -> tuple[bool, str]:
    """(True, the agent's history line) once it carried the request out; (False, why) otherwise."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        snap = store.snapshot(history=False)
        if snap.restarts.get(request.service) != request:
            for entry in reversed(store.history(request.service, limit=20)):
                if entry.kind == HistoryKind.RESTART and entry.time >= request.requested:
                    return entry.message.startswith(f"{request.server}: restarted in place"), entry.message
            return False, f"{request.service}: the restart request was withdrawn before its agent took it up"
        time.sleep(0.1)
    if store.finish_restart(request):
        return False, (f"{request.service}: not restarted on {request.server} within {timeout:g}s; request "
                       f"withdrawn (is its agent running? see `overseer status {request.service}`)")
    return wait_for_restart(store, request, 5.0)   # taken up just now: its outcome follows


@click.command("restart")
@click.argument("service")
@click.option("--server", default=None, metavar="SERVER",
              help="where to restart it (default: where it is active; needed when that is several servers)")
@click.option("--timeout", default=120.0, show_default=True, help="seconds to wait for the agent to finish")
@global_options
@store_errors
def restart(service: str, server: Optional[str], timeout: float) -> None:
    """Stop and start SERVICE where it is active, without moving it."""
    store = open_store()
    try:
        snap = store.snapshot(history=False)
        service_doc(snap, store.cluster, service, "restart")
        where = _server(snap, service, server)
        request = RestartRequest(service, where, time.time())
        store.request_restart(request)
        click.echo(f"{service}: restart in place on {where} requested")
        done, message = wait_for_restart(store, request, timeout)
    finally:
        store.close()
    if not done:
        fail(message)
    click.echo(message)


COMMANDS = [restart]
