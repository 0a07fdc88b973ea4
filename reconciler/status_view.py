"""The status view: one ClusterSnapshot turned into the `overseer status --json` shape.

Pure functions, no I/O: the CLI (`overseer status`), the board and the JSON API
all render what `build_status` returns, so they can never disagree. The keys of
docs/interfaces.md (cluster, generation, master, servers, services and their
fields) are a contract; extra keys may be added, none renamed.

How a service's `status` is decided (worst wins: fail > warn > unknown > ok):

1. Paused services (by name or `*`) with no active are `warn`: nothing runs and
   nothing will move it, which a human should see, but it is intended.
2. A service that is not paused and has no active server is `fail`.
3. Otherwise the worst over its active servers of:
   * every check declared in the Service document (and any other check that
     reported for the service): the observation's status, `unknown` when that
     server has not reported it yet;
   * `fail` when the active server holds no live lease (`up: false`): its
     observations can no longer be trusted;
   * `fail` when the agent reported that acting on the assignment failed.
   Non-critical checks count too, but at most as `warn`: a failing one makes
   the tile amber, never red. It never moves the service (the planner ignores
   it), so it is something to look at, not an outage.
4. If that is `ok`, the service is `warn` when its standby side is degraded:
   a standby server is down, or its server health is `fail`, or (warm standby
   only, a cold standby runs nothing to check) a critical check there is
   `fail`; or an active-standby service has no standby although it has more
   candidates than actives.

`unknown` is returned when no check has reported on the actives yet.

`failures` lists the service's remembered failures (fail counts) per server
with the absolute time each expires (`expires`) and whether the count marks
the server (`marked`: at or over migrationThreshold, so it ranks below
unmarked candidates). Given `now`, counts already expired are left out.

`lastHook` is the newest role-change hook outcome (history kind `hook`):
`time`, `server`, `message`, and `ok` (false for failed or timed out).

`vip` is the service's floating IP as declared (`address`, `interface`,
`arpCount`), or null; it is held by the servers in `active`.

`activeSince` is when the current active set began: the newest placement,
failover, switchover or demote in the history the snapshot holds (null when
none is there, e.g. trimmed away); `lastChange` the newest history entry of
any kind (null: none). Epoch seconds, like every time here.

Per server, `fenceAgent` says whether its document configures a fence agent,
and `fence` is the latest fence of it in its current outage (`fence/<server>`:
`outcome` pending, ok, failed or confirmed, `attempt`, `message`, `started`,
`time`, `services` waiting, `by`), or null.
"""
from __future__ import annotations

from typing import Any, Iterable, Optional

from overseer.desired.state import ClusterSnapshot, HistoryKind, Observation, as_plain
from overseer.reconciler.planner.memory import live_count, policy

# `starting` (a check in its start-up grace) is news, not trouble: between ok and unknown
SEVERITY = {"ok": 0, "starting": 0.5, "unknown": 1, "warn": 2, "fail": 3}


def worst(statuses: Iterable[str], default: str = "unknown") -> str:
    """The most severe status; `default` for an empty sequence."""
    result: Optional[str] = None
    for status in statuses:
        if result is None or SEVERITY.get(status, 1) > SEVERITY.get(result, 1):
            result = status
    return default if result is None else result


def local_shared_failure_domain(desired, service: str) -> bool:
    """True when a service with 2+ candidates has them all in one non-empty domain."""
    doc = desired.services.get(service)
    if doc is None or len(doc.spec.candidates) < 2:
        return False
    domains = {_domain(desired, name) for name in doc.spec.candidates}
    return len(domains) == 1 and "" not in domains


def _planner_rule():
    # The planner owns placement; when it exposes its own rule, use that one so
    # the board warns exactly where the planner sees the problem.
    try:
        from overseer.reconciler import planner  # type: ignore[attr-defined]
    except ImportError:
        return None
    return getattr(planner, "shared_failure_domain", None)


def shared_failure_domain(desired, service: str) -> bool:
    rule = _planner_rule()
    if rule is None:
        return local_shared_failure_domain(desired, service)
    return bool(rule(desired, service))


def _domain(desired, server: str) -> str:
    doc = desired.servers.get(server)
    return doc.spec.failureDomain if doc is not None else ""


def build_status(snapshot: ClusterSnapshot, now: Optional[float] = None) -> dict[str, Any]:
    """The whole `overseer status --json` document for one snapshot."""
    desired = snapshot.desired
    master = snapshot.master
    by_service = index_observations(snapshot)  # one pass, not one scan per service
    rule = _planner_rule() or local_shared_failure_domain
    return {
        "cluster": snapshot.cluster,
        "generation": desired.generation,
        "revision": snapshot.revision,
        "master": {"server": master.server, "epoch": master.epoch} if master else None,
        "servers": build_servers(snapshot),
        "services": {name: build_service(snapshot, name, by_service.get(name, {}), rule, now)
                     for name in sorted(desired.services)},
    }


def index_observations(snapshot: ClusterSnapshot) -> dict[str, dict[str, dict[str, Observation]]]:
    """service -> server -> check -> Observation."""
    index: dict[str, dict[str, dict[str, Observation]]] = {}
    for (server, service, check), obs in snapshot.observations.items():
        index.setdefault(service, {}).setdefault(server, {})[check] = obs
    return index


def build_servers(snapshot: ClusterSnapshot) -> dict[str, dict[str, Any]]:
    desired = snapshot.desired
    master = snapshot.master.server if snapshot.master else None
    hierarchy = list(desired.cluster.spec.hierarchy) if desired.cluster else []
    # Hierarchy order first, then servers only some other source knows about.
    names = hierarchy + sorted((set(desired.servers) | set(snapshot.servers)) - set(hierarchy))
    servers = {}
    for name in names:
        live = snapshot.servers.get(name)
        doc = desired.servers.get(name)
        servers[name] = {
            "up": live is not None,
            "health": live.health if live is not None else "unknown",
            "rank": desired.rank(name) if name in hierarchy else (live.rank if live else -1),
            "failureDomain": doc.spec.failureDomain if doc else "",
            "address": (doc.spec.address if doc else "") or (live.address if live else ""),
            "master": name == master,
            "cordoned": name in snapshot.cordoned,
            "message": live.message if live is not None else "",
            "version": live.version if live is not None else "",
            "fenceAgent": bool(doc and doc.spec.fence),
            "fence": as_plain(snapshot.fences[name]) if name in snapshot.fences else None,
        }
    return servers


def service_checks(snapshot: ClusterSnapshot, service: str) -> dict[str, dict[str, Observation]]:
    """server -> check -> Observation for one service (declared checks first)."""
    found: dict[str, dict[str, Observation]] = {}
    for (server, svc, check), obs in snapshot.observations.items():
        if svc == service:
            found.setdefault(server, {})[check] = obs
    return found


def build_service(snapshot: ClusterSnapshot, name: str,
                  observed: Optional[dict[str, dict[str, Observation]]] = None,
                  shared_rule=None, now: Optional[float] = None) -> dict[str, Any]:
    doc = snapshot.desired.services[name]
    assignment = snapshot.assignments.get(name)
    active = list(assignment.active) if assignment else []
    standby = list(assignment.standby) if assignment else []
    observed = service_checks(snapshot, name) if observed is None else observed
    declared = [check.name for check in doc.spec.checks]
    checks = {}
    critical = {check.name: check.critical for check in doc.spec.checks}
    # every candidate, reported or not: an operator sees what will be checked where
    for server in _servers_of(doc.spec.candidates, active, standby, observed):
        per_server = observed.get(server, {})
        names = declared + sorted(set(per_server) - set(declared))
        checks[server] = {check: _check_json(per_server.get(check), critical.get(check, True))
                          for check in names}
    paused = snapshot.is_paused(name)
    return {
        "status": service_status(snapshot, name, active, standby, observed, declared),
        "paused": paused,
        "active": active,
        "standby": standby,
        "epoch": assignment.epoch if assignment else 0,
        "reason": assignment.reason if assignment else "",
        "mode": doc.spec.mode,
        "candidates": list(doc.spec.candidates),
        "sharedFailureDomain": (bool(shared_rule(snapshot.desired, name)) if shared_rule
                                else shared_failure_domain(snapshot.desired, name)),
        "checks": checks,
        "roles": _roles(snapshot, name, candidates=[*active, *standby, *doc.spec.candidates]),
        "failures": failures_json(snapshot, name, now),
        "lastHook": last_hook(snapshot, name),
        "vip": doc.spec.vip.model_dump() if doc.spec.vip is not None else None,
        "relations": {"requires": list(doc.spec.requires), "colocateWith": doc.spec.colocateWith},
        "switchover": switchover_json(snapshot, name),
        **service_times(snapshot, name),
    }


# history kinds the master writes when the active set changes (planner Record)
ACTIVE_SET_CHANGES = frozenset({HistoryKind.PLACEMENT, HistoryKind.FAILOVER, HistoryKind.SWITCHOVER,
                                HistoryKind.DEMOTE})


def service_times(snapshot: ClusterSnapshot, name: str) -> dict[str, Optional[float]]:
    """{activeSince, lastChange} of the module docstring."""
    entries = snapshot.history.get(name, ())
    moved = [e.time for e in entries if e.kind in ACTIVE_SET_CHANGES]
    return {"activeSince": max(moved) if moved else None,
            "lastChange": max((e.time for e in entries), default=None)}


def switchover_json(snapshot: ClusterSnapshot, name: str) -> Optional[dict[str, Any]]:
    """The pending operator switchover: {to, requested, at} (`at` null: as soon
    as the master gets to it; a time: scheduled with `switchover --at`)."""
    request = snapshot.switchovers.get(name)
    if request is None:
        return None
    return {"to": request.to, "requested": request.requested, "at": request.at}


def last_hook(snapshot: ClusterSnapshot, name: str) -> Optional[dict[str, Any]]:
    """The newest notification hook outcome in the service's history, or None.

    A failed or timed-out hook moved nothing, but somebody was not told:
    `status` and the board show it until a newer hook succeeds."""
    entries = [e for e in snapshot.history.get(name, ()) if e.kind == HistoryKind.HOOK]
    if not entries:
        return None
    newest = max(entries, key=lambda e: e.time)
    # the runner writes "hook EVENT (KIND) on SERVER: ok" or "...: failed ..." (reconciler/hooks/runner.py)
    outcome = newest.message.partition(": ")[2]
    return {"time": newest.time, "server": newest.server, "message": newest.message,
            "ok": outcome == "ok" or outcome.startswith("ok ")}


def failures_json(snapshot: ClusterSnapshot, name: str, now: Optional[float] = None) -> dict[str, dict]:
    """server -> its remembered failures of the service (see the module docstring)."""
    doc = snapshot.desired.services[name]
    threshold, timeout = policy(snapshot.desired, doc)
    out = {}
    for server in dict.fromkeys([*doc.spec.candidates, *snapshot.servers]):
        record = snapshot.failures.get((server, name))
        if record is None or record.count <= 0:
            continue
        count = record.count if now is None else live_count(record, timeout, now)
        if count:
            out[server] = {"count": count, "last": record.last, "expires": record.last + timeout,
                           "message": record.message, "marked": count >= threshold}
    return out


def _roles(snapshot: ClusterSnapshot, name: str, candidates: list[str]) -> dict[str, dict]:
    # Look reports up by key: scanning every report per service is quadratic.
    roles = {}
    for server in dict.fromkeys([*candidates, *snapshot.servers]):
        report = snapshot.reports.get((server, name))
        if report is not None:
            roles[server] = {"role": report.role, "outcome": report.outcome,
                             "message": report.message, "epoch": report.epoch}
    return roles


def _servers_of(candidates, active, standby, observed) -> list[str]:
    order: list[str] = []
    for server in [*active, *standby, *candidates, *sorted(observed)]:
        if server not in order:
            order.append(server)
    return order


def _check_json(obs: Optional[Observation], critical: bool = True) -> dict[str, Any]:
    if obs is None:
        return {"status": "unknown", "value": None, "message": "no result yet", "critical": critical}
    return {"status": obs.status, "value": obs.value, "message": obs.message,
            "critical": obs.critical, "since": obs.since, "time": obs.time}


def service_status(snapshot: ClusterSnapshot, name: str, active: list[str], standby: list[str],
                   observed: dict[str, dict[str, Observation]], declared: list[str]) -> str:
    """The rule of the module docstring."""
    if not active:
        return "warn" if snapshot.is_paused(name) else "fail"
    statuses: list[str] = []
    for server in active:
        per_server = observed.get(server, {})
        if server not in snapshot.servers:
            statuses.append("fail")
        report = snapshot.reports.get((server, name))
        if report is not None and report.outcome == "failed":
            statuses.append("fail")
        statuses.extend(_counted(per_server[c]) if c in per_server else "unknown" for c in declared)
        statuses.extend(_counted(obs) for c, obs in per_server.items() if c not in declared)
    status = worst(statuses)
    if status == "ok" and standby_degraded(snapshot, name, active, standby, observed):
        return "warn"
    return status


def _counted(obs: Observation) -> str:
    """What a check adds to its service's status: a non-critical one at most `warn`."""
    return "warn" if obs.status == "fail" and not obs.critical else obs.status


def standby_degraded(snapshot: ClusterSnapshot, name: str, active: list[str], standby: list[str],
                     observed: dict[str, dict[str, Observation]]) -> bool:
    doc = snapshot.desired.services[name]
    if doc.spec.mode == "all-active":
        return False
    if not standby:
        return len(doc.spec.candidates) > len(active)
    for server in standby:
        live = snapshot.servers.get(server)
        if live is None or live.health == "fail":
            return True
        if doc.spec.standby == "warm" and any(
                obs.critical and obs.status == "fail" for obs in observed.get(server, {}).values()):
            return True
    return False


def service_detail(snapshot: ClusterSnapshot, name: str, now: Optional[float] = None) -> dict[str, Any]:
    """`build_service` plus recent results per check and history, newest first.

    Raises KeyError naming the service when the desired state has no such service.
    """
    if name not in snapshot.desired.services:
        raise KeyError(name)
    observed = service_checks(snapshot, name)
    detail = build_service(snapshot, name, observed, now=now)
    detail["name"] = name
    for server, per_check in detail["checks"].items():
        for check, row in per_check.items():
            obs = observed.get(server, {}).get(check)
            row["results"] = [list(r) for r in obs.results] if obs else []
    detail["history"] = history_json(snapshot, name)
    return detail


def history_json(snapshot: ClusterSnapshot, service: Optional[str] = None) -> list[dict[str, Any]]:
    """History entries newest first: one service's, or every service's merged."""
    if service is not None:
        entries = list(snapshot.history.get(service, ()))
    else:
        entries = [e for per in snapshot.history.values() for e in per]
    entries.sort(key=lambda e: e.time, reverse=True)
    return [{"service": e.service, "time": e.time, "kind": e.kind, "message": e.message,
             "server": e.server, "epoch": e.epoch} for e in entries]
