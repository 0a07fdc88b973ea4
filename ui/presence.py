"""When the board last saw each server alive: its lease, as the board's reads found it.

A server's lease is its liveness: `servers/<name>` lives on it, and etcd
deletes it when the agent stops renewing (leaseTTL after its last
keep-alive). Nothing else an agent writes is a heartbeat: checks and role
reports are written when they change, so a quiet, healthy server's newest
record may be hours old, and a dead one's records stay in etcd as it left
them.

`Sightings` is fed by the snapshot source at every successful read (the
live `SnapshotCache`, which reads whether anybody looks or not): a server
present in that read was alive then, and the first read that finds its
lease gone says when the board learnt it was down. A board started after a
server died has no such memory; `last_seen` then falls back to the newest
record that server wrote itself (a role report, a check result), which is
when it was last known alive, at the latest.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Iterable, Mapping, Optional

from overseer.desired.state import ClusterSnapshot


@dataclass(frozen=True)
class Seen:
    """What the board can say about one server's liveness."""
    up: bool                       # its lease is in the snapshot shown
    at: Optional[float]            # last moment known alive (None: never seen, no record)
    gone: Optional[float] = None   # first read that found its lease gone (None: unknown or up)
    how: str = "lease"             # lease | records | never: where `at` comes from

    @property
    def down_since(self) -> Optional[float]:
        """When it went down, as well as the board knows: the read that found it
        gone, else the last moment it was known alive."""
        return None if self.up else (self.gone or self.at)


class Sightings:
    """Per server: the last read that found its lease, and the first that did not."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._present: dict[str, float] = {}
        self._gone: dict[str, float] = {}

    def saw(self, servers: Iterable[str], at: float) -> None:
        """A read at `at` found the leases of exactly `servers`."""
        here = set(servers)
        with self._lock:
            for name in here:
                self._present[name] = at
                self._gone.pop(name, None)
            for name in self._present.keys() - here:
                self._gone.setdefault(name, at)

    def last(self) -> tuple[dict[str, float], dict[str, float]]:
        with self._lock:
            return dict(self._present), dict(self._gone)


def newest_records(snapshot: ClusterSnapshot, servers: set[str]) -> dict[str, float]:
    """Per server of `servers`: the newest time in a record it wrote itself
    (role reports, check results), in one pass over the snapshot."""
    newest: dict[str, float] = {}

    def note(server: str, t: float) -> None:
        if t and t > newest.get(server, 0.0):
            newest[server] = t

    if not servers:
        return newest
    for (server, _), report in snapshot.reports.items():
        if server in servers:
            note(server, report.time)
    for (server, _, _), obs in snapshot.observations.items():
        if server in servers:
            note(server, obs.time)
            for result in obs.results or ():
                note(server, result.t if hasattr(result, "t") else result[0])
    return newest


def last_seen(snapshot: ClusterSnapshot, sightings: Optional[Sightings],
              read_at: Optional[float], names: Iterable[str]) -> dict[str, Seen]:
    """Seen per server of `names`; `read_at` is when the snapshot was last confirmed current."""
    present, gone = sightings.last() if sightings is not None else ({}, {})
    names = list(names)
    records = newest_records(snapshot, {n for n in names if n not in snapshot.servers and n not in present})
    out: dict[str, Seen] = {}
    for name in names:
        if name in snapshot.servers:
            out[name] = Seen(up=True, at=read_at or present.get(name), how="lease")
            continue
        if name in present:
            out[name] = Seen(up=False, at=present[name], gone=gone.get(name), how="lease")
            continue
        record = records.get(name)
        out[name] = Seen(up=False, at=record, how="records" if record else "never")
    return out


def servers_of(snapshot: ClusterSnapshot) -> list[str]:
    """Every server the snapshot knows of: declared, live, or with records."""
    names: dict[str, None] = dict.fromkeys(snapshot.desired.servers)
    names.update(dict.fromkeys(snapshot.servers))
    names.update(dict.fromkeys(s for s, _ in snapshot.reports))
    return list(names)


def seen_map(snapshot: Optional[ClusterSnapshot], sightings: Optional[Sightings],
             read_at: Optional[float]) -> Mapping[str, Seen]:
    if snapshot is None:
        return {}
    return last_seen(snapshot, sightings, read_at, servers_of(snapshot))
