"""Applies too large for one etcd transaction, still all-or-nothing for readers.

A default etcd takes at most 128 operations per transaction, so an apply of
thousands of documents is written in chunks (chunks.py). What keeps it
all-or-nothing in meaning is a marker, `desired/applying`:

1. One transaction, guarded like a small apply (the generation key's
   mod_revision unchanged, no marker), creates the marker. Its
   create_revision - 1 is the last revision at which the desired state was
   whole: the *base*.
2. Every chunk is a transaction guarded by the marker still holding exactly
   our token. The last chunk also bumps `desired/generation` and deletes the
   marker.
3. Every reader (documents.read, Store.snapshot) that sees the marker reads
   the desired prefix at the base revision instead (etcd keeps old revisions
   until compacted): agents, the planner and `get` see the old documents
   until the last chunk commits, then all the new ones at once.

The marker names a lease the writer keeps alive between chunks. An apply
that finds a marker whose lease is gone (the writer died or hung past
APPLY_LEASE_TTL) takes the marker over (guarded by its mod_revision) and
writes the difference between what is live and its own target, which also
undoes the dead writer's partial chunks. A writer whose marker was taken over
fails its next chunk's guard and stops.
"""
from __future__ import annotations

import json
import logging
import os
import socket
import time
import uuid
from dataclasses import dataclass
from typing import Optional, Sequence

from .chunks import MAX_OPS, chunked
from .client import Conflict, EtcdConfig, StoreError, call
from .keys import Keys

log = logging.getLogger(__name__)

APPLY_LEASE_TTL = 10      # seconds a stalled writer keeps its marker before another apply may take over
WAIT_FOR_OTHER = 30.0     # seconds an apply waits for a live large apply to finish


@dataclass(frozen=True)
class Pending:
    """An unfinished large apply seen by a reader."""
    marker: str            # the marker's value (JSON with token and lease)
    mod_revision: int      # for a guarded takeover
    base: int              # the revision whose desired prefix is the whole, committed state
    live: dict             # (kind, name) -> document text as currently in etcd (partly written)

    @property
    def lease(self) -> int:
        try:
            return int(json.loads(self.marker).get("lease", 0))
        except (ValueError, AttributeError, TypeError, RecursionError):
            return 0   # not our marker's JSON: no lease keeps it alive


def base_revision(kvs, keys: Keys) -> Optional[int]:
    """The base revision if the marker is among these raw etcd kvs, else None."""
    marker = keys.applying().encode()
    for kv in kvs:
        if kv.key == marker:
            return kv.create_revision - 1
    return None


def read_base(client, cfg: EtcdConfig, keys: Keys, base: int):
    """The desired prefix at `base`; None when etcd compacted that revision away.

    Compaction of the base only matters for an apply that died and was never
    re-run: readers then fall back to the live, partly written documents
    (logged) rather than stop reading the cluster altogether."""
    try:
        return call(client.get_prefix_response, cfg, keys.desired_prefix(), revision=base)
    except StoreError as exc:
        if "compacted" not in str(exc):
            raise
        log.error("cluster %s: an unfinished apply's base revision %d was compacted; using the partly"
                  " applied documents until the next apply completes", keys.cluster, base)
        return None


def lease_alive(client, cfg: EtcdConfig, lease: int) -> bool:
    if not lease:
        return False
    info = call(client.get_lease_info, cfg, lease)
    return info.TTL > 0


def wait_for_other(client, cfg: EtcdConfig, keys: Keys, pending: Pending, clock=time.monotonic) -> None:
    """Return once the pending apply's writer is gone (finished or dead); Conflict
    if it is still writing after WAIT_FOR_OTHER seconds."""
    deadline = clock() + WAIT_FOR_OTHER
    while lease_alive(client, cfg, pending.lease):
        value, meta = call(client.get, cfg, keys.applying())
        if value is None or meta.mod_revision != pending.mod_revision:
            return  # finished or taken over meanwhile: the caller re-reads
        if clock() >= deadline:
            raise Conflict(f"cluster {keys.cluster!r}: another apply ({pending.marker}) is still writing"
                           f" after {WAIT_FOR_OTHER:g}s; retry when it is done")
        time.sleep(0.2)


def write(client, cfg: EtcdConfig, keys: Keys, guard, pending: Optional[Pending],
          groups: Sequence[Sequence], generation: Optional[int]) -> bool:
    """Write `groups` of operations in chunks behind the marker; bump the
    generation (if given) and drop the marker in the last chunk.

    False if another apply got in first (nothing written: re-read and retry);
    Conflict if our marker was taken over half-way."""
    tx = client.transactions
    lease = call(client.lease, cfg, APPLY_LEASE_TTL).id
    token = json.dumps({"token": uuid.uuid4().hex, "lease": lease, "time": round(time.time(), 3),
                        "by": f"{socket.gethostname()}:{os.getpid()}"}, sort_keys=True)
    marker = keys.applying()
    taken = (tx.mod(marker) == pending.mod_revision) if pending else (tx.version(marker) == 0)
    ok, _ = call(client.transaction, cfg, compare=[guard, taken], success=[tx.put(marker, token)], failure=[])
    if not ok:
        _revoke(client, cfg, lease)
        return False
    if pending:
        log.warning("cluster %s: took over an unfinished apply (%s)", keys.cluster, pending.marker)
    # room in the last chunk for the generation and the marker
    chunks = list(chunked(groups, max_ops=MAX_OPS - 2)) or [[]]
    mine = [tx.value(marker) == token]
    for i, ops in enumerate(chunks):
        last = i == len(chunks) - 1
        if last:
            ops = [*ops, *([tx.put(keys.generation(), str(generation))] if generation is not None else []),
                   tx.delete(marker)]
        ok, _ = call(client.transaction, cfg, compare=mine, success=ops, failure=[])
        if not ok:
            raise Conflict(f"cluster {keys.cluster!r}: this apply stalled past {APPLY_LEASE_TTL}s and"
                           f" another apply took over after chunk {i} of {len(chunks)}; nothing of ours"
                           " is in force: re-run apply")
        if not last:
            call(lambda: list(client.refresh_lease(lease)), cfg)
    _revoke(client, cfg, lease)
    return True


def _revoke(client, cfg: EtcdConfig, lease: int) -> None:
    try:
        call(client.revoke_lease, cfg, lease)
    except StoreError:
        pass  # it runs out on its own in APPLY_LEASE_TTL
