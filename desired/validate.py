"""Rules that need more than one document, and building a DesiredState.

One document alone cannot know whether `pbx3` in `candidates` exists, so
these rules run over the whole set after each document passed its model. Each
error points at the offending item (the list entry in `candidates`, the
second document of a duplicate name).
"""
from __future__ import annotations

import os
from typing import Iterable, Optional

from .loader import DocumentError, Loaded, Source, load_paths
from .models import ClusterDoc, ServerDoc, ServiceDoc
from .state import DesiredState


def check_documents(sources: Iterable[Source], complete: bool = True,
                    first_file: str = "<input>") -> list[DocumentError]:
    """Every cross-document error. With `complete=False` (a file did not
    parse) the rules about something missing are skipped: the missing piece
    may sit in the unreadable part."""
    sources = list(sources)
    errors = _duplicates(sources)
    clusters = [s for s in sources if s.kind == "Cluster"]
    servers = {s.name for s in sources if s.kind == "Server" and s.name}
    if complete:
        errors += _cluster_count(sources, clusters, first_file)
    cluster = clusters[0] if len(clusters) == 1 else None
    if cluster is not None and isinstance(cluster.model, ClusterDoc):
        errors += _hierarchy(cluster, servers, sources, complete)
    for source in sources:
        if isinstance(source.model, ServiceDoc):
            errors += _service(source, servers, complete)
    return errors


def _duplicates(sources: list[Source]) -> list[DocumentError]:
    errors, first = [], {}
    for source in sources:
        if not source.kind or not source.name:
            continue
        key = (source.kind, source.name)
        if key in first:
            prior = first[key]
            errors.append(source.error(("metadata", "name"), (
                f"duplicate {source.kind} {source.name!r}; first defined at {prior.file}:{prior.line}")))
        else:
            first[key] = source
    return errors


def _cluster_count(sources: list[Source], clusters: list[Source],
                   first_file: str) -> list[DocumentError]:
    if not clusters:
        where = sources[0] if sources else None
        file, line = (where.file, where.line) if where else (first_file, 1)
        return [DocumentError(file, line, "kind", "no Cluster document; exactly one is required")]
    return [s.error(("kind",), f"a second Cluster document ({s.name!r}); exactly one is allowed,"
                               f" first at {clusters[0].file}:{clusters[0].line}")
            for s in clusters[1:]]


def _hierarchy(cluster: Source, servers: set[str], sources: list[Source],
               complete: bool) -> list[DocumentError]:
    errors, seen = [], set()
    hierarchy = cluster.model.spec.hierarchy
    for i, name in enumerate(hierarchy):
        loc = ("spec", "hierarchy", i)
        if name in seen:
            errors.append(cluster.error(loc, f"server {name!r} is listed twice"))
        seen.add(name)
        if complete and name not in servers:
            errors.append(cluster.error(loc, f"server {name!r} has no Server document"))
    for source in sources:
        if source.kind == "Server" and source.name and source.name not in seen:
            # the rule names `hierarchy`, and that list is what the operator edits
            errors.append(cluster.error(("spec", "hierarchy"), (
                f"server {source.name!r} ({source.file}:{source.line}) is missing;"
                " list every Server once")))
    return errors


def _service(source: Source, servers: set[str], complete: bool) -> list[DocumentError]:
    spec = source.model.spec
    errors, seen = [], set()
    for i, name in enumerate(spec.candidates):
        loc = ("spec", "candidates", i)
        if name in seen:
            errors.append(source.error(loc, f"server {name!r} is listed twice"))
        seen.add(name)
        if complete and name not in servers:
            errors.append(source.error(loc, f"server {name!r} has no Server document"))
    if spec.mode == "active-standby" and spec.replicas > len(seen):
        errors.append(source.error(("spec", "replicas"), (
            f"replicas ({spec.replicas}) is larger than the number of candidates ({len(seen)})")))
    errors += _checks(source)
    return errors


def _checks(source: Source) -> list[DocumentError]:
    spec, errors, seen = source.model.spec, [], set()
    for i, check in enumerate(spec.checks):
        if check.name in seen:
            errors.append(source.error(("spec", "checks", i, "name"),
                                       f"duplicate check name {check.name!r} in this service"))
        seen.add(check.name)
        if check.type == "process" and check.match is None and spec.actuator.type != "process":
            errors.append(source.error(("spec", "checks", i), (
                "a process check needs match (name, pidfile, unit or cmdline)"
                " unless the actuator is of type process")))
    return errors


def validate_paths(paths: Iterable[str | os.PathLike]) -> Loaded:
    """Load files/folders and run every rule: the result of `overseer validate`."""
    loaded = load_paths(paths)
    return with_rules(loaded)


def with_rules(loaded: Loaded, extra: Iterable[Source] = ()) -> Loaded:
    """Add the cross-document errors over `loaded` plus `extra` (documents
    already in etcd that the files do not replace)."""
    everything = list(loaded.sources) + list(extra)
    first = loaded.files[0] if loaded.files else "<input>"
    errors = list(loaded.errors) + check_documents(everything, loaded.complete, first)
    return Loaded(loaded.sources, tuple(sorted(set(errors))), loaded.complete, loaded.files)


def build_state(sources: Iterable[Source], generation: int = 0) -> DesiredState:
    """A DesiredState from valid documents (models set)."""
    cluster: Optional[ClusterDoc] = None
    servers, services = {}, {}
    for source in sources:
        model = source.model
        if isinstance(model, ClusterDoc):
            cluster = model
        elif isinstance(model, ServerDoc):
            servers[model.metadata.name] = model
        elif isinstance(model, ServiceDoc):
            services[model.metadata.name] = model
    return DesiredState(cluster=cluster, servers=servers, services=services, generation=generation)
