"""Desired-state documents in etcd: apply, get, list, diff.

Each document is stored at `desired/<Kind>/<name>` as canonical JSON of what
the user wrote (sorted keys), so an unchanged file is byte-for-byte unchanged
in etcd and a second apply writes nothing. `desired/generation` counts the
applies that changed something; every apply is guarded by the generation
key's mod_revision, so two concurrent applies cannot interleave. An apply
that fits etcd's transaction limits is one transaction; a larger one is
written in chunks that readers see all at once (staged.py).
"""
from __future__ import annotations

import difflib
import io
import json
import logging
from dataclasses import dataclass
from typing import Any, Iterable, Optional

from pydantic import ValidationError
from ruamel.yaml import YAML

from ..loader import Source
from ..models import KINDS, MODELS
from ..state import DesiredState
from ..validate import build_state
from . import staged
from .chunks import MAX_OPS, chunked
from .client import Conflict, EtcdConfig, StoreError, call
from .keys import ROOT, Keys

log = logging.getLogger(__name__)

ETCD_FILE = "(etcd)"  # the `file` of documents read back from etcd, in errors
CREATED, CONFIGURED, UNCHANGED, PRUNED = "created", "configured", "unchanged", "pruned"


@dataclass(frozen=True)
class ApplyResult:
    changes: tuple[tuple[str, str, str], ...]   # (kind, name, created|configured|unchanged|pruned)
    generation: int
    changed: bool
    dry_run: bool = False


def _raw(client_or_store: Any) -> Any:
    # a Store (desired/store/store.py) carries the etcd client as `.client`
    return getattr(client_or_store, "client", client_or_store)


def _cfg(client_or_store: Any, cfg: Optional[EtcdConfig]) -> EtcdConfig:
    return cfg or getattr(client_or_store, "cfg", None) or EtcdConfig(endpoints=("etcd",))


def canonical(data: Any) -> str:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


# --- reading -------------------------------------------------------------------

@dataclass(frozen=True)
class Snapshot:
    """The desired prefix of one cluster at one moment: the last whole apply."""
    docs: dict            # (kind, name) -> canonical JSON text
    generation: int
    gen_mod_revision: int  # 0: the generation key does not exist yet
    revision: int
    pending: Optional[staged.Pending] = None  # a large apply under way or abandoned (staged.py)


def _parse(kvs, keys: Keys) -> tuple[dict, int, int]:
    prefix = keys.desired_prefix()
    docs, generation, gen_rev = {}, 0, 0
    for kv in kvs:
        key = kv.key.decode(errors="replace")
        if key == keys.generation():
            generation, gen_rev = _generation(kv.value, key), kv.mod_revision
            continue
        kind, _, name = key[len(prefix):].partition("/")
        if kind in MODELS and name:
            # not UTF-8: the replacement characters fail the models (sources_from_store)
            docs[(kind, name)] = kv.value.decode(errors="replace")
    return docs, generation, gen_rev


def _generation(value: bytes, key: str) -> int:
    """The count of applies; one that is no number counts as 0 (the next apply
    writes a good one: its guard is the key's mod_revision, not its value)."""
    try:
        return int(value.decode() or 0)
    except ValueError:
        log.error("%s in etcd holds %r, not a number; counted as 0", key, value[:40])
        return 0


def read(client_or_store: Any, cluster: str, cfg: Optional[EtcdConfig] = None) -> Snapshot:
    """The committed documents: while a large apply is written, those before it."""
    client, cfg = _raw(client_or_store), _cfg(client_or_store, cfg)
    keys = Keys(cluster)
    response = call(client.get_prefix_response, cfg, keys.desired_prefix())
    docs, generation, gen_rev = _parse(response.kvs, keys)
    base = staged.base_revision(response.kvs, keys)
    if base is None:
        return Snapshot(docs, generation, gen_rev, response.header.revision)
    marker = next(kv for kv in response.kvs if kv.key == keys.applying().encode())
    pending = staged.Pending(marker.value.decode(errors="replace"), marker.mod_revision, base, docs)
    committed = staged.read_base(client, cfg, keys, base)
    if committed is not None:
        docs, generation, gen_rev = _parse(committed.kvs, keys)
    return Snapshot(docs, generation, gen_rev, response.header.revision, pending)


def get(client_or_store: Any, cluster: str, kind: str, name: str,
        cfg: Optional[EtcdConfig] = None) -> Optional[dict]:
    snap = read(client_or_store, cluster, cfg)
    return _stored(snap, (kind, name), cluster) if (kind, name) in snap.docs else None


def list_docs(client_or_store: Any, cluster: str, kind: Optional[str] = None,
              cfg: Optional[EtcdConfig] = None) -> list[dict]:
    """Documents of one kind (or all kinds, Cluster first), sorted by name."""
    snap = read(client_or_store, cluster, cfg)
    order = {k: i for i, k in enumerate(KINDS)}
    chosen = sorted((k for k in snap.docs if kind is None or k[0] == kind),
                    key=lambda k: (order.get(k[0], 99), k[1]))
    return [_stored(snap, k, cluster) for k in chosen]


class StoredDocumentInvalid(StoreError):
    """A stored document no longer passes the models (written by another version)."""
    exit_code = 1


def _stored(snap: Snapshot, key: tuple[str, str], cluster: str = "") -> Any:
    """A stored document's JSON; StoredDocumentInvalid if it is none (whoever wrote it)."""
    try:
        return json.loads(snap.docs[key])
    except (ValueError, RecursionError):
        where = f"cluster {cluster!r}: " if cluster else ""
        raise StoredDocumentInvalid(f"{where}stored {key[0]} {key[1]!r} is not JSON any more;"
                                    " re-apply it") from None


def sources_from_store(snap: Snapshot, cluster: str, strict: bool = False) -> list[Source]:
    """Stored documents as Sources (parsed back through the models).

    A stored document that no longer validates keeps `model=None` (it still
    counts for cross-document rules), or raises with `strict`."""
    out = []
    for (kind, name), text in sorted(snap.docs.items()):
        where, data = f"{ETCD_FILE}/{kind}/{name}", {}
        try:
            data = json.loads(text)
            model = MODELS[kind].model_validate(data)
        except (ValueError, ValidationError, RecursionError) as exc:
            if strict:
                raise StoredDocumentInvalid(
                    f"cluster {cluster!r}: stored {kind} {name!r} is not valid any more"
                    f" ({str(exc).splitlines()[0]}); re-apply it") from None
            data, model = (data if isinstance(data, dict) else {}), None
        out.append(Source(file=where, line=1, data=data, model=model))
    return out


def load_desired(client_or_store: Any, cluster: str,
                 cfg: Optional[EtcdConfig] = None) -> DesiredState:
    snap = read(client_or_store, cluster, cfg)
    return build_state(sources_from_store(snap, cluster, strict=True), snap.generation)


def discover_clusters(client_or_store: Any, cfg: Optional[EtcdConfig] = None) -> list[str]:
    """Cluster names with a Cluster document; one small range read per cluster."""
    client, cfg = _raw(client_or_store), _cfg(client_or_store, cfg)
    found, start, end = [], ROOT, ROOT[:-1] + chr(ord(ROOT[-1]) + 1)
    while True:
        response = call(client.get_range_response, cfg, start, end, limit=1, keys_only=True)
        if not response.kvs:
            return found
        # bytes: a key that is not UTF-8 must not turn into a start before itself
        raw = response.kvs[0].key[len(ROOT):].split(b"/", 1)[0]
        cluster = raw.decode(errors="replace")
        prefix = f"{Keys(cluster).desired_prefix()}Cluster/"
        hit = call(client.get_prefix_response, cfg, prefix, limit=1, keys_only=True)
        if hit.kvs:
            found.append(cluster)
        # every key of this cluster starts with "<root><cluster>/"; skip past them
        start = ROOT.encode() + raw + bytes([ord("/") + 1])


def revision(client_or_store: Any, cfg: Optional[EtcdConfig] = None) -> int:
    """etcd's current revision (for tests that prove nothing was written)."""
    client, cfg = _raw(client_or_store), _cfg(client_or_store, cfg)
    return call(client.get_response, cfg, ROOT).header.revision


# --- writing -------------------------------------------------------------------

def plan(snap: Snapshot, sources: Iterable[Source], prune: bool = False) -> list[tuple[str, str, str]]:
    changes, given = [], set()
    for source in sources:
        key = (source.kind, source.name)
        given.add(key)
        old = snap.docs.get(key)
        state = CREATED if old is None else UNCHANGED if old == canonical(source.data) else CONFIGURED
        changes.append((source.kind, source.name, state))
    if prune:
        changes += [(k, n, PRUNED) for (k, n) in sorted(snap.docs) if (k, n) not in given]
    return changes


def apply(client_or_store: Any, cluster: str, sources: Iterable[Source], dry_run: bool = False,
          prune: bool = False, cfg: Optional[EtcdConfig] = None, attempts: int = 5) -> ApplyResult:
    """Write the changed documents; nothing when nothing changed.

    One transaction when it fits etcd's limits; otherwise chunks behind a
    marker that keeps readers on the old documents until the last chunk
    (staged.py). The caller validated `sources`; this only compares and writes.
    """
    client, cfg = _raw(client_or_store), _cfg(client_or_store, cfg)
    keys, sources = Keys(cluster), list(sources)
    for _ in range(attempts):
        snap = read(client, cluster, cfg)
        changes = plan(snap, sources, prune)
        changed = any(state != UNCHANGED for _, _, state in changes)
        if dry_run or not (changed or snap.pending):
            return ApplyResult(tuple(changes), snap.generation + (1 if changed else 0), changed, dry_run)
        if snap.pending:
            staged.wait_for_other(client, cfg, keys, snap.pending)
            snap = read(client, cluster, cfg)
            if snap.pending and staged.lease_alive(client, cfg, snap.pending.lease):
                continue  # another apply started meanwhile: look again
            changes = plan(snap, sources, prune)
            changed = any(state != UNCHANGED for _, _, state in changes)
        groups = _ops(client, keys, snap, _target(snap, sources, changes))
        generation = snap.generation + 1 if changed else None
        guard = (client.transactions.mod(keys.generation()) == snap.gen_mod_revision
                 if snap.gen_mod_revision else client.transactions.version(keys.generation()) == 0)
        if snap.pending is None and _fits(groups):
            ops = [op for group in groups for op in group]
            ops.append(client.transactions.put(keys.generation(), str(generation)))
            # no large apply may be half-way either: its chunks do not move the generation
            ok, _ = call(client.transaction, cfg, success=ops, failure=[],
                         compare=[guard, client.transactions.version(keys.applying()) == 0])
        else:
            ok = staged.write(client, cfg, keys, guard, snap.pending, groups, generation)
        if ok:
            return ApplyResult(tuple(changes), snap.generation + (1 if changed else 0), changed)
    raise Conflict(f"apply to cluster {cluster!r} lost {attempts} races with other applies; retry")


def _target(snap: Snapshot, sources: list[Source], changes) -> dict:
    """(kind, name) -> text of every document once this apply is done."""
    target = dict(snap.docs)
    by_key = {(s.kind, s.name): s for s in sources}
    for kind, name, state in changes:
        if state in (CREATED, CONFIGURED):
            target[(kind, name)] = canonical(by_key[(kind, name)].data)
        elif state == PRUNED:
            del target[(kind, name)]
    return target


def _ops(client, keys: Keys, snap: Snapshot, target: dict) -> list[list]:
    """One group per document that differs between etcd now and `target`;
    against a dead large apply's partial writes this also undoes them."""
    live = snap.pending.live if snap.pending else snap.docs
    tx = client.transactions
    groups = [[tx.put(keys.desired(kind, name), text)]
              for (kind, name), text in sorted(target.items()) if live.get((kind, name)) != text]
    groups += [[tx.delete(keys.desired(kind, name))] for kind, name in sorted(live) if (kind, name) not in target]
    return groups


def _fits(groups: list[list]) -> bool:
    # the generation put and the two compares ride along
    return len(list(chunked(groups, max_ops=MAX_OPS - 1))) <= 1


# --- showing -------------------------------------------------------------------

def to_yaml(data: Any) -> str:
    yaml = YAML(typ="safe", pure=True)
    yaml.default_flow_style = False
    buf = io.StringIO()
    yaml.dump(data, buf)
    return buf.getvalue()


def diff(snap: Snapshot, sources: Iterable[Source], prune: bool = False) -> str:
    """Unified diff, per object, of what `apply` would change (YAML)."""
    sources = {(s.kind, s.name): s for s in sources}
    out = []
    for kind, name, state in plan(snap, sources.values(), prune):
        if state == UNCHANGED:
            continue
        old = to_yaml(_stored(snap, (kind, name))) if (kind, name) in snap.docs else ""
        new = to_yaml(json.loads(canonical(sources[(kind, name)].data))) if state != PRUNED else ""
        label = f"{kind}/{name}"
        out.extend(difflib.unified_diff(old.splitlines(True), new.splitlines(True),
                                        f"live/{label}", f"file/{label}"))
    return "".join(out)
