"""Desired-state documents in etcd: apply (one transaction), get, list, diff.

Each document is stored at `desired/<Kind>/<name>` as canonical JSON of what
the user wrote (sorted keys), so an unchanged file is byte-for-byte unchanged
in etcd and a second apply writes nothing. `desired/generation` counts the
applies that changed something; every apply is one transaction guarded by
the generation key's mod_revision, so two concurrent applies cannot
interleave.
"""
from __future__ import annotations

import difflib
import io
import json
from dataclasses import dataclass
from typing import Any, Iterable, Optional

from pydantic import ValidationError
from ruamel.yaml import YAML

from ..loader import Source
from ..models import KINDS, MODELS
from ..state import DesiredState
from ..validate import build_state
from .client import Conflict, EtcdConfig, StoreError, call
from .keys import ROOT, Keys

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
    """The desired prefix of one cluster at one moment."""
    docs: dict            # (kind, name) -> canonical JSON text
    generation: int
    gen_mod_revision: int  # 0: the generation key does not exist yet
    revision: int


def read(client_or_store: Any, cluster: str, cfg: Optional[EtcdConfig] = None) -> Snapshot:
    client, cfg = _raw(client_or_store), _cfg(client_or_store, cfg)
    keys = Keys(cluster)
    prefix = keys.desired_prefix()
    response = call(client.get_prefix_response, cfg, prefix)
    docs, generation, gen_rev = {}, 0, 0
    for kv in response.kvs:
        rel = kv.key.decode()[len(prefix):]
        if kv.key.decode() == keys.generation():
            generation, gen_rev = int(kv.value.decode() or 0), kv.mod_revision
            continue
        kind, _, name = rel.partition("/")
        if kind in MODELS and name:
            docs[(kind, name)] = kv.value.decode()
    return Snapshot(docs, generation, gen_rev, response.header.revision)


def get(client_or_store: Any, cluster: str, kind: str, name: str,
        cfg: Optional[EtcdConfig] = None) -> Optional[dict]:
    client, cfg = _raw(client_or_store), _cfg(client_or_store, cfg)
    value, _ = call(client.get, cfg, Keys(cluster).desired(kind, name))
    return json.loads(value) if value is not None else None


def list_docs(client_or_store: Any, cluster: str, kind: Optional[str] = None,
              cfg: Optional[EtcdConfig] = None) -> list[dict]:
    """Documents of one kind (or all kinds, Cluster first), sorted by name."""
    snap = read(client_or_store, cluster, cfg)
    order = {k: i for i, k in enumerate(KINDS)}
    chosen = sorted((k for k in snap.docs if kind is None or k[0] == kind),
                    key=lambda k: (order.get(k[0], 99), k[1]))
    return [json.loads(snap.docs[k]) for k in chosen]


class StoredDocumentInvalid(StoreError):
    """A stored document no longer passes the models (written by another version)."""
    exit_code = 1


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
        except (ValueError, ValidationError) as exc:
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
        cluster = response.kvs[0].key.decode()[len(ROOT):].split("/", 1)[0]
        prefix = f"{Keys(cluster).desired_prefix()}Cluster/"
        hit = call(client.get_prefix_response, cfg, prefix, limit=1, keys_only=True)
        if hit.kvs:
            found.append(cluster)
        # every key of this cluster starts with "<root><cluster>/"; skip past them
        start = f"{ROOT}{cluster}" + chr(ord("/") + 1)


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
    """Write every document in one transaction; nothing when nothing changed.

    The caller validated `sources`; this only compares and writes.
    """
    client, cfg = _raw(client_or_store), _cfg(client_or_store, cfg)
    keys, sources = Keys(cluster), list(sources)
    for _ in range(attempts):
        snap = read(client, cluster, cfg)
        changes = plan(snap, sources, prune)
        changed = any(state != UNCHANGED for _, _, state in changes)
        if dry_run or not changed:
            return ApplyResult(tuple(changes), snap.generation + (1 if changed else 0), changed, dry_run)
        ops = _ops(client, keys, sources, changes, snap.generation + 1)
        guard = (client.transactions.mod(keys.generation()) == snap.gen_mod_revision
                 if snap.gen_mod_revision else client.transactions.version(keys.generation()) == 0)
        ok, _ = call(client.transaction, cfg, compare=[guard], success=ops, failure=[])
        if ok:
            return ApplyResult(tuple(changes), snap.generation + 1, True)
    raise Conflict(f"apply to cluster {cluster!r} lost {attempts} races with other applies; retry")


def _ops(client, keys: Keys, sources: list[Source], changes, generation: int) -> list:
    by_key = {(s.kind, s.name): s for s in sources}
    ops = []
    for kind, name, state in changes:
        if state in (CREATED, CONFIGURED):
            ops.append(client.transactions.put(keys.desired(kind, name), canonical(by_key[(kind, name)].data)))
        elif state == PRUNED:
            ops.append(client.transactions.delete(keys.desired(kind, name)))
    ops.append(client.transactions.put(keys.generation(), str(generation)))
    return ops


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
        old = to_yaml(json.loads(snap.docs[(kind, name)])) if (kind, name) in snap.docs else ""
        new = to_yaml(json.loads(canonical(sources[(kind, name)].data))) if state != PRUNED else ""
        label = f"{kind}/{name}"
        out.extend(difflib.unified_diff(old.splitlines(True), new.splitlines(True),
                                        f"live/{label}", f"file/{label}"))
    return "".join(out)
