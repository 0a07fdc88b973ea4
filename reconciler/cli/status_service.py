"""`overseer status SERVICE`: one service in full, as `kubectl describe` shows one object.

Everything the board's service page shows, from the same `service_detail`
document: actives and standbys, when the active set began and last changed,
the last decision, per server its role (assigned, and what its agent
reported, with the report's age), lease and health, every check with its
status, value, message and age, remembered failures, pending switchover or
restart, floating IP, last hook, and the recent history, newest first.
"""
from __future__ import annotations

import time
from typing import Optional

from .status import LABELS, _remembered
from .table import ago, table, when

HISTORY_SHOWN = 15


def _role(server: str, detail: dict) -> str:
    if server in detail["active"]:
        return "active"
    return "standby" if server in detail["standby"] else "-"


def _value(v) -> str:
    if v is None:
        return "-"
    return f"{v:g}" if isinstance(v, float) else str(v)


def render_service(detail: dict, snap, now: Optional[float] = None) -> str:
    now = time.time() if now is None else now
    name = detail["name"]
    out = [f"Service:       {name}",
           f"Status:        {LABELS.get(detail['status'], detail['status'])}"
           + ("  (paused: no automatic failover)" if detail["paused"] else ""),
           f"Mode:          {detail['mode']}, candidates {', '.join(detail['candidates'])}",
           f"Active:        {', '.join(detail['active']) or 'none'}",
           f"Standby:       {', '.join(detail['standby']) or 'none'}",
           f"Active since:  {when(detail.get('activeSince'), now)}",
           f"Last change:   {when(detail.get('lastChange'), now)}",
           f"Epoch:         {detail['epoch']}",
           f"Last decision: {detail['reason'] or '-'}"]
    if detail.get("vip"):
        vip = detail["vip"]
        out.append(f"Floating IP:   {vip['address']} on {vip['interface']}, held by "
                   f"{', '.join(detail['active']) or 'nobody'}")
    if detail.get("switchover"):
        sw = detail["switchover"]
        out.append("Switchover:    " + (f"to {sw['to']} " if sw["to"] else "")
                   + (f"scheduled for {when(sw['at'], now)}" if sw["at"] else "pending"))
    restart = snap.restarts.get(name) if hasattr(snap, "restarts") else None
    if restart is not None:
        out.append(f"Restart:       asked {ago(restart.requested, now)}, on {restart.server}")
    if detail.get("lastHook"):
        hook = detail["lastHook"]
        out.append(f"Last hook:     {hook['message']} ({ago(hook['time'], now)})")
    if detail.get("sharedFailureDomain"):
        out.append("Warning:       every candidate is in one failure domain")
    out += ["", "SERVERS", *_servers(detail, snap, now), "", "CHECKS", *_checks(detail, now)]
    remembered = _remembered(detail, now)
    if remembered != "-":
        out += ["", "REMEMBERED FAILURES", f"  {remembered}"]
    out += ["", f"HISTORY (newest first, {HISTORY_SHOWN} at most; `overseer history {name}` for more)"]
    out += _history(detail["history"][:HISTORY_SHOWN], now) or ["  no transitions recorded"]
    return "\n".join(out)


def _servers(detail: dict, snap, now: float) -> list[str]:
    rows = [["SERVER", "ASSIGNED", "REPORTED", "OUTCOME", "REPORT AGE", "LEASE", "HEALTH", "MESSAGE"]]
    for server in dict.fromkeys([*detail["active"], *detail["standby"], *detail["candidates"]]):
        report = snap.reports.get((server, detail["name"]))
        live = snap.servers.get(server)
        rows.append([server, _role(server, detail), report.role if report else "-",
                     report.outcome if report else "-", ago(report.time, now) if report else "-",
                     "up" if live else "DOWN", LABELS.get(live.health, live.health) if live else "-",
                     (report.message if report else "") or "-"])
    return ["  " + line for line in table(rows)]


def _checks(detail: dict, now: float) -> list[str]:
    rows = [["SERVER", "CHECK", "STATUS", "VALUE", "SINCE", "REPORTED", "MESSAGE"]]
    for server, checks in detail["checks"].items():
        for check, row in checks.items():
            rows.append([server, check + ("" if row.get("critical", True) else " (non-critical)"),
                         LABELS.get(row["status"], row["status"]), _value(row.get("value")),
                         ago(row.get("since"), now), ago(row.get("time"), now), row.get("message") or "-"])
    return ["  " + line for line in table(rows)] if len(rows) > 1 else ["  no check has reported yet"]


def _history(entries: list[dict], now: float) -> list[str]:
    rows = [["TIME", "AGE", "KIND", "SERVER", "WHAT AND WHY"]]
    for e in entries:
        rows.append([time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(e["time"])), ago(e["time"], now),
                     e["kind"], e["server"] or "-", e["message"]])
    return ["  " + line for line in table(rows)] if len(rows) > 1 else []
