"""Commands on desired-state documents: validate, apply, diff, get, sync.

Output follows kubectl: `service.overseer/asterisk configured`, then the
generation. Exit codes are those of docs/interfaces.md: 1 for invalid documents or
"not found", 3 when etcd cannot be reached (one line, within a few seconds).
"""
from __future__ import annotations

import json
import logging
import threading
from typing import Optional

import click

from overseer.desired.loader import DocumentError, Loaded, load_paths
from overseer.desired.local_users import with_unknown_users
from overseer.desired.store import documents
from overseer.desired.store.client import connect
from overseer.desired.validate import validate_paths, with_rules

from .common import check_cluster, fail, global_options, settings, store_errors

CONNECT_TIMEOUT = 3.0  # connect() proves etcd answers; 3 s keeps exit 3 under 5 s

KIND_ALIASES = {
    "cluster": "Cluster", "clusters": "Cluster", "cl": "Cluster",
    "server": "Server", "servers": "Server", "srv": "Server",
    "service": "Service", "services": "Service", "svc": "Service",
    "all": None,
}


def _print_errors(errors) -> None:
    for error in errors:
        click.echo(str(error), err=True)


def _connect():
    return connect(settings().etcd_config(timeout=CONNECT_TIMEOUT))


def _only_cluster(client) -> str:
    found = documents.discover_clusters(client)
    if len(found) == 1:
        return found[0]
    if not found:
        fail("no cluster in etcd yet; apply a Cluster document first (or give --cluster)")
    fail(f"several clusters in etcd ({', '.join(sorted(found))}); choose one with --cluster")


def _target_cluster(loaded: Loaded, client) -> str:
    """The Cluster document's name; else --cluster; else the only one in etcd."""
    named = [s.name for s in loaded.sources if s.kind == "Cluster" and s.name]
    chosen = settings().cluster
    if named:
        if chosen and chosen != named[0]:
            fail(f"the Cluster document is named {named[0]!r} but --cluster says {chosen!r}")
        return named[0]
    return check_cluster(client, client.cfg, chosen) or _only_cluster(client)


@click.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(readable=False))
@click.option("--check-users", is_flag=True,
              help="also check that every user and group the documents name exists on this machine"
                   " (run it on a server, or on an image built like them)")
@global_options
def validate(paths, check_users: bool) -> None:
    """Check files or folders of documents; one line per error."""
    loaded = validate_paths(paths)
    if check_users:
        loaded = with_unknown_users(loaded)
    _print_errors(loaded.errors)
    if loaded.errors:
        raise SystemExit(1)
    click.echo(f"{len(loaded.sources)} documents valid")


def _prepare(files, prune: bool):
    """Load, connect, merge with what etcd holds, run every rule.

    Documents already in etcd and not in the files still count for the
    cross-document rules (kubectl semantics: apply adds, it does not replace),
    unless --prune makes the files the whole truth."""
    loaded = load_paths(files)
    if loaded.errors:
        _print_errors(loaded.errors)
        raise SystemExit(1)
    client = _connect()
    cluster = _target_cluster(loaded, client)
    snap = documents.read(client, cluster)
    given = {(s.kind, s.name) for s in loaded.sources}
    kept = [] if prune else [s for s in documents.sources_from_store(snap, cluster)
                             if (s.kind, s.name) not in given]
    checked = with_rules(loaded, kept)
    if checked.errors:
        _print_errors(checked.errors)
        raise SystemExit(1)
    return client, cluster, snap, loaded


@click.command()
@click.option("-f", "--filename", "files", multiple=True, required=True,
              type=click.Path(readable=False),  # the loader says why it cannot read
              help="file or folder of documents (repeatable)")
@click.option("--dry-run", is_flag=True, help="show what would change, write nothing")
@click.option("--prune", is_flag=True, help="delete documents of the cluster not in the files")
@global_options
@store_errors
def apply(files, dry_run: bool, prune: bool) -> None:
    """Validate all documents, then write them in one etcd transaction."""
    client, cluster, _, loaded = _prepare(files, prune)
    result = documents.apply(client, cluster, loaded.sources, dry_run=dry_run, prune=prune)
    suffix = " (dry run)" if dry_run else ""
    for kind, name, state in result.changes:
        click.echo(f"{kind.lower()}.overseer/{name} {state}{suffix}")
    click.echo(f"generation {result.generation}{suffix}")


@click.command()
@click.option("-f", "--filename", "files", multiple=True, required=True, type=click.Path(readable=False))
@click.option("--prune", is_flag=True, help="also show documents --prune would delete")
@global_options
@store_errors
def diff(files, prune: bool) -> None:
    """What `apply` would change: exit 0 nothing, 1 changes."""
    _, _, snap, loaded = _prepare(files, prune)
    text = documents.diff(snap, loaded.sources, prune)
    if text:
        click.echo(text, nl=False)
        raise SystemExit(1)


def _kind(word: str) -> Optional[str]:
    lowered = word.lower()
    if lowered not in KIND_ALIASES:
        fail(f"unknown kind {word!r}; use cluster, server, service (or all)")
    return KIND_ALIASES[lowered]


def _summary(doc: dict) -> str:
    spec = doc.get("spec", {})
    kind = doc.get("kind")
    if kind == "Cluster":
        return "hierarchy=" + ",".join(spec.get("hierarchy", []))
    if kind == "Server":
        fence = spec.get("fence")
        command = fence.get("command") if isinstance(fence, dict) else None
        argv0 = (command.split() or [""])[0] if isinstance(command, str) else (command or [""])[0]
        return f"address={spec.get('address', '')}" + (f" fence={argv0}" if fence else "")
    return f"mode={spec.get('mode', 'active-standby')} candidates={','.join(spec.get('candidates', []))}"


@click.command()
@click.argument("kind")
@click.argument("name", required=False)
@click.option("-o", "--output", type=click.Choice(["yaml", "json", "name"]), default=None)
@global_options
@store_errors
def get(kind: str, name: Optional[str], output: Optional[str]) -> None:
    """Show applied documents: KIND (cluster|server|service|all, plural ok) [NAME]."""
    wanted = _kind(kind)
    client = _connect()
    cluster = check_cluster(client, client.cfg, settings().cluster) or _only_cluster(client)
    docs = documents.list_docs(client, cluster, wanted)
    if name is not None:
        docs = [d for d in docs if d.get("metadata", {}).get("name") == name]
        if not docs:
            fail(f"{(wanted or 'object').lower()} {name!r} not found in cluster {cluster!r}")
    elif not docs:
        click.echo(f"No resources found in cluster {cluster!r}.", err=True)
        return
    _show(docs, single=name is not None, output=output)


def _show(docs: list[dict], single: bool, output: Optional[str]) -> None:
    if output == "json":
        body = docs[0] if single else {"apiVersion": "v1", "kind": "List", "items": docs}
        click.echo(json.dumps(body, indent=2, sort_keys=True))
    elif output == "yaml":
        click.echo("---\n".join(documents.to_yaml(d) for d in docs), nl=False)
    elif output == "name":
        for d in docs:
            click.echo(f"{d['kind'].lower()}.overseer/{d['metadata']['name']}")
    else:
        rows = [(f"{d['kind'].lower()}/{d['metadata']['name']}", _summary(d)) for d in docs]
        width = max(len(r[0]) for r in rows)
        click.echo(f"{'NAME'.ljust(width)}  DETAIL")
        for left, right in rows:
            click.echo(f"{left.ljust(width)}  {right}")


@click.command()
@click.argument("folder", type=click.Path(exists=True, file_okay=False))
@click.option("--prune", is_flag=True, help="delete documents whose file was removed")
@click.option("--debounce", type=float, default=0.3, show_default=True,
              help="seconds of quiet after a change before applying")
@global_options
def sync(folder: str, prune: bool, debounce: float) -> None:
    """Watch FOLDER and apply it whenever a file changes and all of it is valid."""
    from overseer.desired.sync import DirectorySync

    cfg = settings().etcd_config(timeout=CONNECT_TIMEOUT)
    syncer = DirectorySync(folder, cfg, cluster=settings().cluster, prune=prune,
                           debounce=debounce, log=logging.getLogger("overseer.sync"))
    stop = threading.Event()
    try:
        syncer.run(stop)
    except KeyboardInterrupt:
        stop.set()


COMMANDS = [validate, apply, diff, get, sync]
__all__ = ["COMMANDS", "DocumentError"]
