"""The one place runtime state meets etcd: presence, election, observations,
assignments, history and operator controls.

Every shared change the master makes is a transaction guarded by its epoch
(the `master` key's create_revision); a lost guard raises StaleEpoch, so a
deposed master learns it on its first write. Reads come back as frozen records
(desired/state.py); callers never see etcd types.
"""
from __future__ import annotations

import json
import logging
import time
from typing import Callable, Iterable, Optional, Sequence

from ..state import (
    Assignment, ClusterSnapshot, FailCount, FenceRecord, HistoryEntry, MasterRecord, Observation, ServerRecord,
    RestartRequest, ServiceReport, SwitchoverRequest,
)
from . import staged
from .chunks import MAX_OPS, chunked
from .etcd_types import Meta
from .client import ClusterNotFound, EtcdConfig, ServerReturned, StaleEpoch, call, connect
from .keys import ROOT, Keys
from .own_reports import OwnReports, ReportWrites
from .leases import LeaseChannel, LeaseLost, close_quietly  # noqa: F401  (LeaseLost: callers import it from here)
from .snapshot import build_snapshot
from .watch import PrefixWatcher

log = logging.getLogger(__name__)


def discover_clusters(client, cfg: EtcdConfig) -> list[str]:
    names = set()
    for _, meta in call(client.get_prefix, cfg, ROOT, keys_only=True):
        parts = meta.key.decode(errors="replace")[len(ROOT):].split("/")
        if len(parts) >= 3 and parts[1] == "desired" and parts[2] == "Cluster":
            names.add(parts[0])
    return sorted(names)


def resolve_cluster(client, cfg: EtcdConfig, cluster: Optional[str]) -> str:
    if cluster:
        return cluster
    names = discover_clusters(client, cfg)
    if len(names) == 1:
        return names[0]
    if not names:
        raise ClusterNotFound(f"no cluster in etcd at {cfg.describe()}: run `overseer apply -f FILE` first")
    raise ClusterNotFound(f"several clusters in etcd ({', '.join(names)}): choose one with --cluster")


class Store(LeaseChannel):
    def __init__(self, cfg: EtcdConfig, cluster: Optional[str] = None, client=None,
                 watcher: Callable[..., PrefixWatcher] = PrefixWatcher, lease_client=None, connector=None):
        self.cfg = cfg
        self.client = client or connect(cfg)
        self._watcher = watcher  # the simulator passes its own (same constructor)
        self.cluster = resolve_cluster(self.client, cfg, cluster)
        self.keys = Keys(self.cluster)
        self._watchers: list[PrefixWatcher] = []
        self._reports = OwnReports()   # the agent's own role reports as it last knew them in etcd
        super().__init__(lease_client, connector)

    def _call(self, fn, *args, **kwargs):
        return call(fn, self.cfg, *args, _client=self.client, **kwargs)

    @property
    def _tx(self):
        return self.client.transactions

    def close(self) -> None:
        for watcher in self._watchers:
            watcher.cancel()
        for client in (self._lease_client, self.client):
            if client is not None:
                close_quietly(client)

    # --- reading ----------------------------------------------------------

    def snapshot(self, history: bool = True) -> ClusterSnapshot:
        """The whole cluster at one revision. Without `history` the history
        keys are not read at all (agents never need them, and with many
        services they are most of the bytes). While a large apply is written,
        the desired documents are those before it (staged.py)."""
        root = self.keys.root
        if history:
            response = self._call(self.client.get_prefix_response, root)
            kvs, revision = list(response.kvs), response.header.revision
        else:
            hist = self.keys.history_prefix()
            before = self._call(self.client.get_range_response, root, hist)
            revision = before.header.revision
            after = self._call(self.client.get_range_response, hist[:-1] + chr(ord("/") + 1),
                               root[:-1] + chr(ord("/") + 1), revision=revision)
            kvs = [*before.kvs, *after.kvs]
        base = staged.base_revision(kvs, self.keys)
        if base is not None:
            committed = staged.read_base(self.client, self.cfg, self.keys, base)
            if committed is not None:
                desired = self.keys.desired_prefix().encode()
                kvs = [kv for kv in kvs if not kv.key.startswith(desired)] + list(committed.kvs)
        return build_snapshot(self.keys, [(kv.value, Meta(kv, None)) for kv in kvs], revision)

    def revision(self) -> int:
        """etcd's current revision, from a count-only read of one key: the cheap
        way to learn that nothing changed (any write anywhere moves it)."""
        return self._call(self.client.get_response, self.keys.master(), count_only=True).header.revision

    def watch(self, on_change: Callable[[], None],
              unused: Optional[Callable[[bytes], bool]] = None) -> Callable[[], None]:
        """Call `on_change` after every change under the cluster (and after a
        reconnect, when events may have been missed). Returns cancel.
        `unused(key)` True for every key of a batch skips that batch: a
        consumer that re-reads the cluster on a change it cannot use only
        costs itself and etcd (a bystander agent during a failover of 300)."""
        def changed(keys: Optional[list[bytes]] = None) -> None:
            if unused is not None and keys and all(unused(k) for k in keys):
                return
            on_change()
        watcher = self._watcher(self.client, self.keys.root, changed, self.cfg)
        watcher.start()
        self._watchers.append(watcher)
        return watcher.cancel

    def get_master(self) -> Optional[MasterRecord]:
        value, meta = self._call(self.client.get, self.keys.master())
        if value is None:
            return None
        return MasterRecord(server=value.decode(errors="replace"), epoch=meta.create_revision,
                            lease=meta.lease_id)

    def history(self, service: str, limit: int = 100) -> list[HistoryEntry]:
        items = self._call(self.client.get_prefix, self.keys.history_prefix(service),
                           sort_order="descend", sort_target="key", limit=limit)
        entries = []
        for value, meta in items:
            try:
                entries.append(HistoryEntry.from_json(value))
            except (ValueError, TypeError) as exc:
                log.error("%s in etcd does not parse, ignored: %s", meta.key.decode(errors="replace"), exc)
        return entries[::-1]

    # --- presence (the lease calls themselves: leases.py) ----------------

    def put_server(self, record: ServerRecord, lease_id: int) -> None:
        """Publish `servers/<name>`; in the same transaction forget any fence
        of the outage it ends, so a `fence/<name>` that exists always speaks
        of the outage going on now (FenceRecord)."""
        self._call(self.client.transaction, compare=[],
                   success=[self._tx.put(self.keys.server(record.name), record.to_json(), lease=lease_id),
                            self._tx.delete(self.keys.fence(record.name))], failure=[])

    # --- election ---------------------------------------------------------

    def campaign(self, server: str, lease_id: int) -> Optional[MasterRecord]:
        """Create `master` if absent, on our lease. Returns our record if we won."""
        key = self.keys.master()
        ok, responses = self._call(
            self.client.transaction,
            compare=[self._tx.create(key) == 0],
            success=[self._tx.put(key, server, lease=lease_id), self._tx.get(key)],
            failure=[self._tx.get(key)],
        )
        rows = responses[-1]
        if not rows:
            return None
        value, meta = rows[0]
        holder = MasterRecord(server=value.decode(errors="replace"), epoch=meta.create_revision,
                              lease=meta.lease_id)
        return holder if ok and holder.server == server else None

    def resign(self, master: MasterRecord) -> bool:
        key = self.keys.master()
        ok, _ = self._call(
            self.client.transaction,
            compare=[self._tx.create(key) == master.epoch, self._tx.value(key) == master.server],
            success=[self._tx.delete(key)], failure=[],
        )
        return ok

    def epoch_is(self, epoch: int) -> bool:
        """True if `master` still has this create_revision (the fencing check)."""
        key = self.keys.master()
        ok, _ = self._call(self.client.transaction,
                           compare=[self._tx.create(key) == epoch], success=[], failure=[])
        return ok

    def assignments_current(self, assignments: Sequence[Assignment]) -> list[bool]:
        """The agent's fence before acting, for each assignment: `master` still
        has its epoch AND `assign/<service>` still holds exactly it. One
        transaction per epoch (and per MAX_OPS services) compares the master's
        epoch and reads the assignments at that same revision: after a
        failover one agent asks this for hundreds of services at once."""
        current = [False] * len(assignments)
        by_epoch: dict[int, list[int]] = {}
        for i, a in enumerate(assignments):
            by_epoch.setdefault(a.epoch, []).append(i)
        for epoch, indices in by_epoch.items():
            for start in range(0, len(indices), MAX_OPS):
                chunk = indices[start:start + MAX_OPS]
                ok, responses = self._call(
                    self.client.transaction, compare=[self._tx.create(self.keys.master()) == epoch],
                    success=[self._tx.get(self.keys.assign(assignments[i].service)) for i in chunk], failure=[])
                if ok:
                    for i, found in zip(chunk, responses):
                        current[i] = bool(found) and found[0][0] == assignments[i].to_json().encode()
        return current

    # --- the master's fenced writes ---------------------------------------

    def _fenced(self, epoch: int, ops: list, what: str, gone: tuple[str, ...] = ()) -> None:
        compare = [self._tx.create(self.keys.master()) == epoch]
        # A server the decision took for dead must still have no record: one
        # that registered again meanwhile may be taking up its old assignment
        # (simulator seed 7029: a restarted agent promoted the assignment the
        # master was just moving away from it on a stale snapshot).
        compare += [self._tx.version(self.keys.server(s)) == 0 for s in gone]
        ok, _ = self._call(self.client.transaction, compare=compare, success=ops, failure=[])
        if not ok:
            if gone and self.epoch_is(epoch):
                raise ServerReturned(f"{what}: {', '.join(gone)} registered again since the"
                                     " snapshot this decision took them for gone in; write refused")
            raise StaleEpoch(f"{what}: epoch {epoch} is no longer the master's; write refused")

    def write_decisions(self, epoch: int, assignments: Iterable[Assignment] = (),
                        history: Iterable[HistoryEntry] = (),
                        cleared_switchovers: Iterable[str] = (),
                        gone: Optional[dict[str, tuple[str, ...]]] = None) -> None:
        """Assignments, their history entries and finished switchover requests,
        each transaction guarded by `epoch`.

        Each service's writes go together in one transaction, and as many
        services as fit in etcd's per-transaction limits (chunks.py) share one.
        A large pass is thus several transactions: each is refused once the
        epoch is gone (StaleEpoch, nothing more written), and the ones already
        written are whole per-service decisions of a then-current master, which
        the next pass plans from like any other assignment.

        `gone` names, per service, the servers its decision took for dead:
        its transaction also requires that none of them registered again
        (ServerReturned otherwise). Services are chunked by what they assume."""
        groups: dict[str, list] = {}
        for a in assignments:
            groups.setdefault(a.service, []).append(self._tx.put(self.keys.assign(a.service), a.to_json()))
        used: set[str] = set()
        for h in history:
            ns = _ns(h.time)
            while self.keys.history(h.service, ns) in used:
                ns += 1  # two entries in one instant keep both, in order
            used.add(self.keys.history(h.service, ns))
            groups.setdefault(h.service, []).append(self._tx.put(self.keys.history(h.service, ns), h.to_json()))
        for s in cleared_switchovers:
            groups.setdefault(s, []).append(self._tx.delete(self.keys.switchover(s)))
        gone = gone or {}
        by_guard: dict[tuple[str, ...], list] = {}
        for service, ops in groups.items():
            by_guard.setdefault(tuple(sorted(gone.get(service, ()))), []).append(ops)
        for guard, guarded in by_guard.items():
            for ops in chunked(guarded):
                self._fenced(epoch, ops, "write assignments", guard)

    def write_fence(self, epoch: int, record: FenceRecord, history: Iterable[HistoryEntry] = ()) -> None:
        """The master's fence attempt or its outcome, with its history entries,
        guarded by `epoch` and by the server still having no record: a server
        that registered again is not fenced, and its outage's record is gone."""
        ops = [self._tx.put(self.keys.fence(record.server), record.to_json())]
        ops += self._history_ops(history)
        self._fenced(epoch, ops, f"fence of {record.server}", (record.server,))

    def confirm_fence(self, record: FenceRecord) -> bool:
        """`overseer fence confirm`: False (nothing written) while the server is up."""
        ok, _ = self._call(self.client.transaction,
                           compare=[self._tx.version(self.keys.server(record.server)) == 0],
                           success=[self._tx.put(self.keys.fence(record.server), record.to_json())], failure=[])
        return ok

    def _history_ops(self, history: Iterable[HistoryEntry]) -> list:
        used: set[str] = set()
        ops = []
        for h in history:
            ns = _ns(h.time)
            while self.keys.history(h.service, ns) in used:
                ns += 1
            used.add(self.keys.history(h.service, ns))
            ops.append(self._tx.put(self.keys.history(h.service, ns), h.to_json()))
        return ops

    def trim_history(self, service: str, keep: int) -> int:
        """Keep the newest `keep` entries: one read of keep+1 keys, one range delete."""
        newest = self._call(self.client.get_prefix_response, self.keys.history_prefix(service),
                            keys_only=True, sort_order="descend", sort_target="key", limit=keep + 1)
        if len(newest.kvs) <= keep:
            return 0
        # everything from the prefix up to and including the (keep+1)-th newest key
        last_doomed = newest.kvs[-1].key
        _, responses = self._call(
            self.client.transaction, compare=[],
            success=[self._tx.delete(self.keys.history_prefix(service), last_doomed + b"\0")], failure=[])
        return responses[0].deleted

    # --- agents' reports ----------------------------------------------------

    def _own_key(self, record: Observation | ServiceReport | FailCount) -> str:
        """Where an agent's own record lives (`actual/<server>/<service>/...`)."""
        if isinstance(record, Observation):
            return self.keys.actual(record.server, record.service, record.check)
        if isinstance(record, ServiceReport):
            return self.keys.report(record.server, record.service)
        return self.keys.failures(record.server, record.service)

    def put_observation(self, obs: Observation) -> None:
        self._call(self.client.put, self._own_key(obs), obs.to_json())

    def put_report(self, report: ServiceReport) -> None:
        self.put_reports(self.report_writes([report]))

    def put_failcount(self, record: FailCount) -> None:
        self._call(self.client.put, self._own_key(record), record.to_json())

    def put_many(self, records: Sequence[Observation | ServiceReport | FailCount]) -> None:
        """Several of the agent's own records in as few transactions as etcd
        accepts (chunks.py): after a failover hundreds of reports are due at
        once, and one round trip each took a second."""
        for ops in chunked([[self._tx.put(self._own_key(r), r.to_json())] for r in records]):
            self._call(self.client.transaction, compare=[], success=ops, failure=[])

    def report_writes(self, reports: Sequence[ServiceReport]) -> ReportWrites:
        """Role reports with what this agent last knew at their keys, taken
        now, before the call (own_reports.py). No I/O."""
        return self._reports.prepare([(self._own_key(r), r.to_json()) for r in reports])

    def put_reports(self, writes: ReportWrites) -> None:
        """Role reports that never land over a newer one of ours; ReportMoved
        (nothing of a chunk written) when a key held another value."""
        self._reports.put(lambda **txn: self._call(self.client.transaction, **txn), self._tx, writes)

    def delete_failures(self, service: str, servers: Iterable[str]) -> list[str]:
        """`overseer cleanup`: forget the service's fail counts on these servers;
        returns the servers that had one."""
        found = []
        for server in servers:
            if self._call(self.client.delete, self.keys.failures(server, service)):
                found.append(server)
        return found

    def delete_actual(self, server: str, service: Optional[str] = None) -> None:
        prefix = self.keys.actual_prefix(server) + (f"{service}/" if service else "")
        self._call(self.client.delete_prefix, prefix)

    def append_history(self, entry: HistoryEntry) -> None:
        self._call(self.client.put, self.keys.history(entry.service, _ns(entry.time)), entry.to_json())

    # --- operator controls ------------------------------------------------

    def set_paused(self, service: str, paused: bool) -> None:
        key = self.keys.pause(service)
        if paused:
            self._call(self.client.put, key, json.dumps({"time": time.time()}))
        else:
            self._call(self.client.delete, key)

    def set_cordoned(self, server: str, cordoned: bool) -> bool:
        """`overseer cordon` / `uncordon`; True when this changed anything."""
        key = self.keys.cordon(server)
        if cordoned:
            ok, _ = self._call(self.client.transaction, compare=[self._tx.version(key) == 0],
                               success=[self._tx.put(key, json.dumps({"time": time.time()}))], failure=[])
            return ok
        return bool(self._call(self.client.delete, key))

    def request_switchover(self, request: SwitchoverRequest) -> None:
        self._call(self.client.put, self.keys.switchover(request.service), request.to_json())

    def cancel_switchover(self, service: str) -> None:
        self._call(self.client.delete, self.keys.switchover(service))

    def request_restart(self, request: RestartRequest) -> None:
        self._call(self.client.put, self.keys.restart(request.service), request.to_json())

    def finish_restart(self, request: RestartRequest, entry: Optional[HistoryEntry] = None) -> bool:
        """Delete this very request (not a newer one made meanwhile) and record
        its outcome, in one transaction; False when it was no longer there."""
        key = self.keys.restart(request.service)
        ops = [self._tx.delete(key)] + (self._history_ops([entry]) if entry else [])
        ok, _ = self._call(self.client.transaction, compare=[self._tx.value(key) == request.to_json()],
                           success=ops, failure=[])
        return ok


def _ns(t: float) -> int:
    return int(t * 1_000_000_000)
