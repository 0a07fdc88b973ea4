"""Operator controls: `switchover`, `pause`, `resume`, and `plan [--what-if down=SERVER]`.

These never write assignments themselves: they leave a request or a pause
mark in etcd and the master's planner acts on it, so every move still goes
through the one fenced writer. `switchover` waits for the outcome; a request
the master's planner would refuse on the snapshot at hand is refused here,
before anything is written or "requested" is printed. Pausing every service
at once asks first (or takes `--force`).
"""
from __future__ import annotations

import sys
import time
from dataclasses import replace
from datetime import datetime, timezone
from typing import Optional

import click

from overseer.desired.state import HistoryEntry, HistoryKind, SwitchoverRequest
from overseer.desired.store.store import Store

from ..planner import Assign, ClearSwitchover, FenceServer, Record
from ..what_if import succession, what_master_would_do, without_server
from .common import confirm_or_force, fail, global_options, open_store, service_doc, store_errors


def _store() -> Store:
    return open_store()


def _refusal(store: Store, service: str, since: float) -> Optional[str]:
    for entry in reversed(store.history(service, limit=20)):
        if entry.time >= since and entry.kind == HistoryKind.SWITCHOVER_REFUSED:
            return entry.message
    return None


@click.command("switchover")
@click.argument("service")
@click.option("--to", "target", default=None, help="server to move the active to (default: the best standby)")
@click.option("--at", "at", default=None, metavar="TIME",
              help="scheduled: carry it out at TIME (ISO 8601 with a zone, e.g. 2026-12-05T03:00+01:00)")
@click.option("--cancel", is_flag=True, help="withdraw SERVICE's pending or scheduled switchover")
@click.option("--force", is_flag=True,
              help="a replicated database: promote the target even past maxLagOnFailover, "
                   "without waiting for it to catch up (the rows it never received are lost)")
@click.option("--timeout", default=60.0, show_default=True, help="seconds to wait for the outcome")
@global_options
@store_errors
def switchover(service: str, target: Optional[str], at: Optional[str], cancel: bool, force: bool,
               timeout: float) -> None:
    """Planned, graceful move of SERVICE's active (demote, then promote)."""
    if cancel and (target is not None or at is not None or force):
        fail("switchover --cancel takes no --to, --at or --force", 2)
    when = parse_time(at) if at is not None else None   # a usage error before etcd is asked anything
    store = _store()
    snap = store.snapshot()
    doc = service_doc(snap, store.cluster, service, "switchover")
    if cancel:
        if service not in snap.switchovers:
            click.echo(f"{service}: no switchover pending")
            return
        store.cancel_switchover(service)
        click.echo(f"{service}: switchover cancelled")
        return
    if when is not None and when <= time.time():
        fail(f"switchover --at {at}: that moment has passed; leave --at out to switch over now", 2)
    if target is not None and target not in doc.spec.candidates:
        fail(f"switchover: {target} is not a candidate of {service} (candidates: {', '.join(doc.spec.candidates)})")
    if target is not None and target in snap.cordoned:
        fail(f"switchover: {target} is cordoned; `overseer uncordon {target}` first")
    if snap.is_paused(service):
        fail(f"switchover: {service} is paused; `overseer resume {service}` first")
    if snap.master is None and when is None:
        fail("switchover: no master is elected, nobody could carry it out; check `overseer status`")
    before = snap.assignments.get(service)
    if target is not None and before is not None and before.active == (target,):
        click.echo(f"{service}: already active on {target}")
        return
    refused = would_refuse(snap, SwitchoverRequest(service, target, time.time()), scheduled=when is not None)
    if refused:
        # recorded as the master records its refusals: the history says someone asked, and why not
        store.append_history(HistoryEntry(service, time.time(), HistoryKind.SWITCHOVER_REFUSED,
                                          f"switchover {refused}"))
        fail(f"{service}: switchover {refused}")
    asked = time.time()
    store.request_switchover(SwitchoverRequest(service, target, asked, when, force=force))
    if when is not None:
        click.echo(f"{service}: switchover scheduled for {format_time(when)}" + (f" to {target}" if target else "")
                   + f"; `overseer switchover {service} --cancel` withdraws it")
        return
    click.echo(f"{service}: switchover requested" + (f" to {target}" if target else ""))
    done, message = wait_for_switchover(store, service, asked, timeout)
    if not done:
        fail(message)
    click.echo(message)


def would_refuse(snap, request: SwitchoverRequest, scheduled: bool = False) -> Optional[str]:
    """The master's refusal of `request` on this snapshot ("refused: ..."), or None.

    The planner's own rule, run here: what it refuses now it refuses when the
    request arrives, unless the cluster changes meanwhile (the wait reports
    that case). A scheduled request is judged at its time, so only what no
    change of health can cure is refused in advance (an all-active service)."""
    doc = snap.desired.services.get(request.service)
    if doc is not None and doc.spec.mode == "all-active":
        return f"refused: {request.service} is all-active (every eligible candidate already runs it)"
    if scheduled or snap.master is None:
        return None
    asked = replace(snap, switchovers={**snap.switchovers, request.service: request})
    for action in what_master_would_do(asked, time.time()):
        if isinstance(action, ClearSwitchover) and action.service == request.service and action.refusal:
            return action.outcome
    return None


def wait_for_switchover(store: Store, service: str, asked: float, timeout: float) -> tuple[bool, str]:
    """(True, "SERVICE: active on X") once the master carried out the request
    made at `asked`; (False, why) when it refused or `timeout` passed (then the
    request is withdrawn, so it cannot happen later by surprise)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        snap = store.snapshot()
        if service not in snap.switchovers:
            refused = _refusal(store, service, asked)
            if refused:
                return False, f"{service}: {refused}"
            now = snap.assignments.get(service)
            return True, f"{service}: active on {', '.join(now.active) if now else '-'}"
        time.sleep(0.1)
    store.cancel_switchover(service)
    return False, f"{service}: switchover not finished within {timeout:g}s; request withdrawn (see `overseer status`)"


def parse_time(text: str) -> float:
    """ISO 8601 with a zone ('2026-12-05T03:00+01:00', '...Z') -> epoch seconds.
    A time without a zone is refused: the agents and the operator may not
    share one, and a switchover an hour off is worse than an error."""
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        fail(f"--at {text!r}: not an ISO 8601 time; write e.g. 2026-12-05T03:00+01:00", 2)
    if moment.tzinfo is None:
        fail(f"--at {text!r}: add the zone, e.g. {text}+00:00 or {text}Z", 2)
    return moment.timestamp()


def format_time(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def _set_paused(service: Optional[str], paused: bool, force: bool = True) -> None:
    store = _store()
    snap = store.snapshot()
    if service is not None and service not in snap.desired.services:
        fail(f"no service {service!r} in cluster {store.cluster}")
    if service is None and paused:
        confirm_or_force(f"pause every service of cluster {store.cluster}: no automatic failover anywhere "
                         f"until `overseer resume`", force, "pause")
    if service is None and not paused:
        for name in set(snap.paused):
            store.set_paused(name, False)
    else:
        store.set_paused(service or "*", paused)
    what = service or "all services"
    click.echo(f"{what}: {'paused: no automatic failover' if paused else 'resumed'}")


@click.command("pause")
@click.argument("service", required=False)
@click.option("--force", is_flag=True,
              help="pause every service without asking (needed when not on a terminal)")
@global_options
@store_errors
def pause(service: Optional[str], force: bool) -> None:
    """Maintenance: no automatic failover for SERVICE (or, asked first, all services)."""
    _set_paused(service, True, force)


@click.command("resume")
@click.argument("service", required=False)
@global_options
@store_errors
def resume(service: Optional[str]) -> None:
    """End maintenance for SERVICE (or every paused service)."""
    _set_paused(service, False)


def _describe(action) -> str:
    if isinstance(action, Assign):
        return (f"{action.service}: assign active={','.join(action.active) or '-'} "
                f"standby={','.join(action.standby) or '-'}\n    because {action.reason}")
    if isinstance(action, ClearSwitchover):
        return f"{action.service}: switchover {action.outcome}"
    if isinstance(action, Record):
        return ""
    if isinstance(action, FenceServer):
        return (f"{action.server}: run its fence agent (attempt {action.attempt}) before "
                f"{', '.join(action.services)} move\n    because {action.reason}")
    return repr(action)


@click.command("plan")
@click.option("--what-if", "what_if", default=None, metavar="down=SERVER",
              help="plan as if SERVER had died (nothing is written)")
@global_options
@store_errors
def plan_cmd(what_if: Optional[str]) -> None:
    """Print what the master would do now, or if a server died. Writes nothing."""
    server = _what_if_server(what_if) if what_if else None
    store = _store()
    snap = store.snapshot()
    now = time.time()
    if server is not None:
        if server not in snap.desired.servers:
            fail(f"--what-if: no server {server!r} (servers: {', '.join(sorted(snap.desired.servers))})")
        heir = succession(snap, server)
        snap = without_server(snap, server)
        click.echo(f"if {server} died now (and its lease and the failover margin had run out):")
        if heir is not None:
            click.echo(_election_words(heir, snap))
    actions = what_master_would_do(snap, now, down=server)
    lines = _plan_lines(actions, snap)
    click.echo("\n".join(lines) if lines else "  nothing would change")
    sys.stdout.flush()


def _what_if_server(what_if: str) -> str:
    kind, _, server = what_if.partition("=")
    if kind != "down" or not server:
        fail(f"--what-if {what_if!r}: write it as down=SERVER", 2)
    return server


def _election_words(heir, snap) -> str:
    if heir.new is None:
        return (f"{heir.old} is the master: no other server of the hierarchy is up, so no master would be "
                f"elected and nothing would move until one comes back")
    hierarchy = ", ".join(snap.desired.cluster.spec.hierarchy) if snap.desired.cluster else heir.new
    return (f"{heir.old} is the master: a new master would be elected, {heir.new} (the highest-ranked live "
            f"server of the hierarchy {hierarchy}; within {heir.within:g}s of the lease running out), "
            f"and it would do this:")


def _plan_lines(actions: list, snap) -> list[str]:
    """One line per decision; re-issuing an unchanged assignment under a new
    master's epoch (adoption) moves nothing, so those are counted, not listed."""
    adopted = [a for a in actions if isinstance(a, Assign) and a.reason.startswith("adopted by epoch")
               and (snap.assignments.get(a.service) is not None
                    and tuple(snap.assignments[a.service].active) == tuple(a.active))]
    lines = [line for line in map(_describe, (a for a in actions if a not in adopted)) if line]
    if adopted:
        lines.append(f"{len(adopted)} assignment(s) re-issued unchanged under the new master's epoch "
                     f"(adoption: nothing moves): {', '.join(a.service for a in adopted)}")
    return lines


COMMANDS = [switchover, pause, resume, plan_cmd]
