"""The service page's per-server rows: assigned role, and whether what it shows is stale.

A server whose lease is gone cannot vouch for anything it wrote: its role
report and check results stay in etcd as it left them ("active",
"supervised child running"), while the master already moved the service.
So each server's rows say three things that must agree: the role the
master assigns it now, what its agent last reported (marked stale, with its
age, when its lease is gone), and how long ago that was.

Pure: unit-tested without Flask (tests/ui/test_detail_rows.py).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Optional

from .ages import Line, Since
from .presence import Seen


@dataclass(frozen=True)
class ServerRow:
    server: str
    assigned: str          # active | standby | not assigned: what the master says now
    up: bool               # its lease is live: what it reports can be trusted as current
    seen: Optional[Seen]

    @property
    def role_words(self) -> str:
        return self.assigned if self.up else f"{self.assigned} (down)"


@dataclass(frozen=True)
class AgentRow:
    server: str
    line: Line
    stale: bool


def assigned_role(detail: Mapping[str, Any], server: str) -> str:
    if server in detail["active"]:
        return "active"
    if server in detail["standby"]:
        return "standby"
    return "not assigned"


def server_rows(detail: Mapping[str, Any], seen: Mapping[str, Seen]) -> dict[str, ServerRow]:
    """One per server of the checks table and the agent list."""
    names = dict.fromkeys([*detail["checks"], *detail["roles"]])
    return {s: ServerRow(s, assigned_role(detail, s), seen[s].up if s in seen else False, seen.get(s))
            for s in names}


def check_age(row: Mapping[str, Any], up: bool) -> Line:
    """A stale check row says when it was reported: "last reported 12 s ago"."""
    if up or not row.get("time"):
        return ()
    return ("stale: last reported ", Since(row["time"], "ago"))


def agent_rows(detail: Mapping[str, Any], rows: Mapping[str, ServerRow], reports: Mapping) -> list[AgentRow]:
    """"pbx1: last reported active (ok, epoch 89) — start + promote done; stale:
    lease gone, reported 12 s ago; assigned now: not assigned". `reports` are
    the snapshot's ServiceReports of this service, by server."""
    out = []
    for server, role in detail["roles"].items():
        row = rows[server]
        report = reports.get(server)
        said = f"{role['role']} ({role['outcome']}, epoch {role['epoch']})"
        message = f" — {role['message']}" if role["message"] else ""
        if row.up:
            differs = "" if role["role"] == row.assigned else f"; assigned now: {row.assigned}"
            out.append(AgentRow(server, (f"{server}: {said}{message}{differs}",), stale=False))
            continue
        when: Line = (", reported ", Since(report.time, "ago")) if report is not None and report.time else ()
        out.append(AgentRow(server, (f"{server}: last reported {said}{message}; stale: lease gone", *when,
                                     f"; assigned now: {row.assigned}"), stale=True))
    return out
