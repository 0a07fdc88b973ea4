"""What a service tile says: its state, and in one line what is wrong and since when.

The status view (reconciler/status_view.py) grades a service; the tile adds
what an operator needs to act without opening the service page, from the
same snapshot: which server is the trouble and since when ("pbx1 down
12 s"), the last move ("moved to pbx2 at 10:51:08"), and whether a red
status is in fact a planned move in progress.

Rules, first match wins for the problem line:

1. **switching over**: the assignment comes from an operator's switchover
   (its reason, or the newest history entry, says so), not every active
   reports it serves this assignment yet, and none failed. A switchover
   passes through "no active" while the old active demotes; that is the
   plan, not an outage: the tile is `switching`, never red.
2. paused with no active: "paused, nothing active since ...".
3. no active: "no active for 12 s", and the candidates that are down.
4. an active server whose lease is gone: "pbx1 down 12 s" (its last
   reports are stale: they are never shown as live).
5. an active whose agent reported that acting failed: its message
   ("pbx2: process exited while active: killed by SIGKILL, 12 s ago").
6. the worst check on an active: "pbx2/alive FAIL for 12 s: process gone".
7. the standby side (amber): a standby down, unhealthy or failing, or no
   standby and why the other candidates are not.

Pure: unit-tested without Flask (tests/ui/test_tiles.py).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping, Optional

from overseer.desired.state import ClusterSnapshot, HistoryEntry

from .ages import Line, Since, clock
from .presence import Seen

RECENT_MOVE = 3600.0     # a move older than this is history, not news on the tile
MOVES = ("failover", "switchover", "placement", "demote")
LABELS = {"ok": "OK", "warn": "WARN", "fail": "FAIL", "unknown": "UNKNOWN", "switching": "SWITCHING OVER",
          "starting": "STARTING"}   # starting: a check in its start-up grace, no verdict yet
# header words per tile state, in the order the header says them
COUNT_WORDS = (("ok", "healthy"), ("warn", "degraded"), ("fail", "failing"),
               ("switching", "switching over"), ("starting", "starting"), ("unknown", "unknown"))
ALWAYS_COUNTED = ("ok", "warn", "fail")
REASON_CHARS = 90


@dataclass(frozen=True)
class Tile:
    state: str                  # ok | warn | fail | unknown | switching (a CSS class)
    problem: Line = ()          # what is wrong and since when; () on a green tile
    moved: Line = ()            # the last move, when recent
    moved_until: float = math.inf   # when `moved` stops being news (the page's validity)
    down_actives: tuple = ()    # actives whose lease is gone: their reports are stale
    quiet: tuple = ()           # actives whose checks the tile leaves out: down (stale), or
                                # their agent reported it failed (the problem line says why)

    @property
    def label(self) -> str:
        return LABELS.get(self.state, "UNKNOWN")

    @property
    def headline(self) -> Line:
        """The one line: the problem, then the last move."""
        if self.problem and self.moved:
            return (*self.problem, "; ", *self.moved)
        return self.problem or self.moved


def tile(snapshot: ClusterSnapshot, name: str, svc: Mapping[str, Any],
         seen: Mapping[str, Seen], now: float) -> Tile:
    """`svc` is the service's entry of build_status."""
    status = svc["status"]
    moved, until = last_move(snapshot, name, now)
    down = tuple(s for s in svc["active"] if _down(seen, s))
    failed = tuple(s for s in svc["active"] if s not in down and _failed(snapshot, name, s))
    planned = switching(snapshot, name, svc)
    if planned is not None:
        return Tile("switching", planned, (), math.inf, down, down + failed)   # the line says the move
    if status == "ok":
        return Tile("ok", (), moved, until, down, down + failed)
    return Tile(status if status in LABELS else "unknown", problem(snapshot, name, svc, seen),
                moved, until, down, down + failed)


def _failed(snapshot: ClusterSnapshot, name: str, server: str) -> bool:
    report = snapshot.reports.get((server, name))
    return report is not None and report.outcome == "failed"


def _down(seen: Mapping[str, Seen], server: str) -> bool:
    return server in seen and not seen[server].up


def _history(snapshot: ClusterSnapshot, name: str) -> list[HistoryEntry]:
    return sorted(snapshot.history.get(name, ()), key=lambda e: e.time)


def last_move(snapshot: ClusterSnapshot, name: str, now: float) -> tuple[Line, float]:
    """"moved to pbx2 at 10:51:08 (failover, 12 s ago)" for a move within RECENT_MOVE."""
    for entry in reversed(_history(snapshot, name)):
        if entry.kind not in MOVES or not entry.server or entry.message.startswith("initial placement"):
            continue
        if entry.time < now - RECENT_MOVE:
            break
        # a handover's first step names the server it demotes, not where the service goes
        words = "demoting " if entry.kind == "demote" or "→ demoting" in entry.message else "moved to "
        return ((f"{words}{entry.server} at {clock(entry.time)} ({entry.kind}, ", Since(entry.time, "ago"), ")"),
                entry.time + RECENT_MOVE)
    return (), math.inf


def _served(snapshot: ClusterSnapshot, name: str, server: str, assignment) -> Optional[bool]:
    """True: it reports active under this assignment; False: it reported failing; None: not yet."""
    report = snapshot.reports.get((server, name))
    if report is None or report.epoch != assignment.epoch or (report.assigned and report.assigned < assignment.time):
        return None
    if report.outcome == "failed":
        return False
    return True if report.role == "active" and report.outcome == "ok" else None


def switching(snapshot: ClusterSnapshot, name: str, svc: Mapping[str, Any]) -> Optional[Line]:
    """Rule 1: the problem line of a switchover in progress, or None."""
    assignment = snapshot.assignments.get(name)
    if assignment is None or svc["paused"] or svc["status"] == "ok":
        return None
    history = _history(snapshot, name)
    newest = history[-1] if history else None
    by_history = (newest is not None and newest.kind == "switchover"
                  and newest.time >= assignment.time and not newest.message.startswith("switchover refused"))
    if not (assignment.reason.startswith("switchover") or by_history):
        return None
    served = [_served(snapshot, name, s, assignment) for s in assignment.active]
    if False in served or (served and all(served)):
        return None   # a failed promote is a failure; a served one is no longer switching
    started = _switch_started(snapshot, name, history, assignment.time)
    target = _target(snapshot, name, assignment, history)
    return (f"switching over{' to ' + target if target else ''} (planned), started ", Since(started, "ago"))


def _switch_started(snapshot, name, history, fallback: float) -> float:
    request = snapshot.switchovers.get(name)
    if request is not None and request.requested:
        return request.requested
    # the first entry of this switchover: the newest run of switchover entries
    started = fallback
    for entry in reversed(history):
        if entry.kind != "switchover":
            break
        started = entry.time
    return min(started, fallback)


def _target(snapshot, name, assignment, history) -> str:
    request = snapshot.switchovers.get(name)
    if request is not None and request.to:
        return request.to
    if assignment.active:
        return ", ".join(assignment.active)
    for entry in reversed(history):
        if entry.kind == "switchover" and "→" in entry.message:
            # "switchover requested: pbx1 → pbx2 → demoting; ..."
            return entry.message.split("→")[1].split(";")[0].strip()
    return ""


def problem(snapshot: ClusterSnapshot, name: str, svc: Mapping[str, Any],
            seen: Mapping[str, Seen]) -> Line:
    """Rules 2-7: what makes a tile that is not green so, and since when."""
    assignment = snapshot.assignments.get(name)
    since = assignment.time if assignment is not None and assignment.time else None
    if not svc["active"]:
        head = "paused, nothing active" if svc["paused"] else "no active"
        line: Line = (head, *((" for ", Since(since)) if since else ()))
        down = [s for s in svc["candidates"] if _down(seen, s)]
        if down:
            return (*line, "; ", *_join([_down_words(s, seen[s]) for s in down]))
        if assignment is not None and assignment.reason and not svc["paused"]:
            return (*line, ": ", _cut(assignment.reason))
        return line
    for server in svc["active"]:
        if _down(seen, server):
            return (*_down_words(server, seen[server]), " (its last reports are stale)")
    for server in svc["active"]:
        report = snapshot.reports.get((server, name))
        if report is not None and report.outcome == "failed":
            paused = "; paused: nothing moves it" if svc["paused"] else ""
            return (f"{server}: {_cut(report.message or 'acting on its assignment failed')} (",
                    Since(report.time, "ago"), f"){paused}")
    check = _worst_check(svc)
    if check is not None:
        return check
    return _standby_side(snapshot, name, svc, seen, since)


def _down_words(server: str, seen: Seen) -> Line:
    if seen.down_since is None:
        return (f"{server} down (never seen by this board)",)
    return (f"{server} down ", Since(seen.down_since))


def _join(lines: list[Line]) -> Line:
    out: list = []
    for i, line in enumerate(lines):
        out.extend((", ",) * bool(i) + tuple(line))
    return tuple(out)


def _cut(text: str) -> str:
    return text if len(text) <= REASON_CHARS else text[:REASON_CHARS - 1] + "…"


SEVERITY = {"fail": 3, "warn": 2, "unknown": 1}


def _worst_check(svc: Mapping[str, Any]) -> Optional[Line]:
    worst, found = 0, None
    for server in svc["active"]:
        for check, row in svc["checks"].get(server, {}).items():
            rank = SEVERITY.get(row["status"], 0)
            if row["status"] == "fail" and row.get("critical") is False:
                rank = SEVERITY["warn"]
            if rank > worst:
                worst, found = rank, (server, check, row)
    if found is None:
        return None
    server, check, row = found
    label = LABELS.get(row["status"], "UNKNOWN")
    if row.get("since"):
        line: Line = (f"{server}/{check} {label} for ", Since(row["since"]))
    else:
        line = (f"{server}/{check} {label}",)
    return (*line, f": {_cut(row['message'])}") if row.get("message") else line


def _standby_side(snapshot: ClusterSnapshot, name: str, svc: Mapping[str, Any],
                  seen: Mapping[str, Seen], since: Optional[float]) -> Line:
    for server in svc["standby"]:
        if _down(seen, server):
            return ("standby ", *_down_words(server, seen[server]))
        live = snapshot.servers.get(server)
        if live is not None and live.health == "fail":
            return (f"standby {server}: server health FAIL{': ' + _cut(live.message) if live.message else ''}",)
        for check, row in svc["checks"].get(server, {}).items():
            if row["status"] == "fail" and row.get("critical", True):
                return (f"standby {server}/{check} FAIL", *((" for ", Since(row["since"])) if row.get("since") else ()))
    if not svc["standby"]:
        others = [s for s in svc["candidates"] if s not in svc["active"]]
        why = _join([_not_standby(snapshot, svc, s, seen) for s in others])
        head: Line = ("no standby", *((" for ", Since(since)) if since else ()))
        return (*head, "; ", *why) if why else head
    return ("degraded",)


def _not_standby(snapshot: ClusterSnapshot, svc: Mapping[str, Any], server: str,
                 seen: Mapping[str, Seen]) -> Line:
    if _down(seen, server):
        return _down_words(server, seen[server])
    if server in snapshot.cordoned:
        return (f"{server} cordoned",)
    failures = svc["failures"].get(server)
    if failures and failures.get("marked"):
        return (f"{server} has {failures['count']} remembered failures",)
    live = snapshot.servers.get(server)
    if live is not None and live.health == "fail":
        return (f"{server} health FAIL",)
    return (f"{server} not eligible",)


def counts(tiles: Mapping[str, Tile]) -> list[tuple[str, int, str]]:
    """The header's counts: (state, count, words), e.g. (ok, 3, healthy)."""
    found: dict[str, int] = {}
    for t in tiles.values():
        found[t.state] = found.get(t.state, 0) + 1
    return [(state, found.get(state, 0), words) for state, words in COUNT_WORDS
            if state in ALWAYS_COUNTED or found.get(state)]


def tiles(snapshot: ClusterSnapshot, status: Mapping[str, Any], seen: Mapping[str, Seen],
          now: float) -> dict[str, Tile]:
    return {name: tile(snapshot, name, svc, seen, now) for name, svc in status["services"].items()}
