"""`overseer cordon SERVER`, `uncordon SERVER` and `drain SERVER`, as kubectl's.

A cordon is a mark in etcd (`control/cordon/<server>`), like a pause: the
planner places nothing new on a cordoned server, except as the last resort
that keeps a service from having no active at all (it says so in the
reason). Actives already there stay. `drain` cordons, then moves every
active-standby service active on the server away with a fenced switchover,
`--limit` at a time (default one), and waits for each, as `kubectl drain`
evicts and waits. A service it cannot move (no other eligible candidate,
paused, all-active) is named and the exit status is 1; the cordon stays.
`--ignore-all-active`, as kubectl's `--ignore-daemonsets`: all-active
services run on every eligible candidate by design, so they are named and
left running there without failing the drain.
"""
from __future__ import annotations

import time

import click

from overseer.desired.state import SwitchoverRequest
from overseer.desired.store.store import Store

from .common import fail, global_options, open_store, store_errors
from .control import wait_for_switchover


def _server(store: Store, server: str, command: str):
    snap = store.snapshot()
    if server not in snap.desired.servers:
        fail(f"{command}: no server {server!r} in cluster {store.cluster} "
             f"(servers: {', '.join(sorted(snap.desired.servers)) or 'none'})")
    return snap


@click.command("cordon")
@click.argument("server")
@global_options
@store_errors
def cordon(server: str) -> None:
    """Place nothing new on SERVER (its actives stay; see `drain`)."""
    _set_cordoned(server, True)


@click.command("uncordon")
@click.argument("server")
@global_options
@store_errors
def uncordon(server: str) -> None:
    """Let the planner place services on SERVER again."""
    _set_cordoned(server, False)


def _set_cordoned(server: str, cordoned: bool) -> None:
    store = open_store()
    _server(store, server, "cordon" if cordoned else "uncordon")
    if store.set_cordoned(server, cordoned):
        click.echo(f"{server}: {'cordoned' if cordoned else 'uncordoned'}")
    else:
        click.echo(f"{server}: {'already cordoned' if cordoned else 'was not cordoned'}")


def _movable(snap, server: str, ignore_all_active: bool = False) -> tuple[list[str], list[str], list[str]]:
    """(services to switch over, lines saying why others stay, all-active
    services left running by --ignore-all-active) for `server`."""
    move, stay, ignored = [], [], []
    for name, assignment in sorted(snap.assignments.items()):
        doc = snap.desired.services.get(name)
        if doc is None or server not in assignment.active:
            continue
        if doc.spec.mode == "all-active" and ignore_all_active:
            ignored.append(name)
        elif doc.spec.mode == "all-active":
            stay.append(f"{name}: all-active, runs on every eligible candidate; not moved "
                        f"(remove {server} from its candidates to stop it there)")
        elif snap.is_paused(name):
            stay.append(f"{name}: paused, left active on {server} (`overseer resume {name}` first)")
        else:
            move.append(name)
    return move, stay, ignored


@click.command("drain")
@click.argument("server")
@click.option("--limit", default=1, show_default=True, type=click.IntRange(1),
              help="switchovers under way at once")
@click.option("--timeout", default=60.0, show_default=True, help="seconds to wait for each switchover")
@click.option("--ignore-all-active", is_flag=True,
              help="leave all-active services running on SERVER instead of failing "
                   "(as kubectl drain --ignore-daemonsets)")
@global_options
@store_errors
def drain(server: str, limit: int, timeout: float, ignore_all_active: bool) -> None:
    """Cordon SERVER and move its actives away, one fenced switchover at a time."""
    store = open_store()
    snap = _server(store, server, "drain")
    if store.set_cordoned(server, True):
        click.echo(f"{server}: cordoned")
    move, stay, ignored = _movable(snap, server, ignore_all_active)
    for name in ignored:
        click.echo(f"{name}: all-active, left running on {server} (--ignore-all-active)")
    if move and snap.master is None:
        fail(f"drain: no master is elected, nobody could move {', '.join(move)}; check `overseer status`")
    failed = list(stay)
    for line in stay:
        click.echo(line)
    for start in range(0, len(move), limit):
        batch = move[start:start + limit]
        asked = time.time()
        for name in batch:
            store.request_switchover(SwitchoverRequest(name, None, asked))
            click.echo(f"{name}: moving away from {server}")
        for name in batch:
            done, message = wait_for_switchover(store, name, asked, timeout)
            click.echo(message)
            if not done:
                failed.append(message)
            elif server in store.snapshot().assignments[name].active:
                failed.append(f"{name}: still active on {server}")
    if failed:
        fail(f"drain: {server} cordoned, but {len(failed)} service(s) still active there: "
             + "; ".join(failed))
    if ignored:
        click.echo(f"{server}: drained but for all-active {', '.join(ignored)}")
    else:
        click.echo(f"{server}: drained" + ("" if move else " (no actives here)"))


COMMANDS = [cordon, uncordon, drain]
