"""Rules about relationships between Services: `requires` and `colocateWith`.

`requires: [db]` says db must have an active before this service is placed
or promoted; `colocateWith: pbx` says this service is active only where pbx
is active (reconciler/planner/relations.py carries both out). One document
cannot know whether `db` exists or whether two documents wait for each
other, so these rules run over the whole set, as validate.py's do. Every
error names each document involved with its `file:line`, so a cycle across
three files is fixed without hunting for the other two.
"""
from __future__ import annotations

from typing import Optional

from .errors import DocumentError
from .loader import Source
from .models import ServiceDoc


def check_relations(sources: list[Source], complete: bool) -> list[DocumentError]:
    """Unknown or self references, cycles, colocations that could never run."""
    services = {s.name: s for s in sources if isinstance(s.model, ServiceDoc)}
    errors: list[DocumentError] = []
    for source in services.values():
        errors += _references(source, services, complete)
    cyclic: set[str] = set()
    for members in _cycles(services):
        cyclic.update(members)
        errors += _cycle_errors(members, services)
    effective: dict[str, Optional[frozenset]] = {}
    for name in sorted(services):
        if name not in cyclic:
            errors += _colocation(name, services, effective)
    return errors


def edges(source: Source, services: dict[str, Source]) -> list[tuple[str, tuple, str]]:
    """(relation, location in the document, other service) for each relation
    to another known service."""
    spec = source.model.spec
    out = [("requires", ("spec", "requires", i), other) for i, other in enumerate(spec.requires)]
    if spec.colocateWith is not None:
        out.append(("colocateWith", ("spec", "colocateWith"), spec.colocateWith))
    return [(word, loc, other) for word, loc, other in out if other in services and other != source.name]


def _where(source: Source) -> str:
    return f"{source.name} ({source.file}:{source.line})"


def _references(source: Source, services: dict[str, Source], complete: bool) -> list[DocumentError]:
    spec, errors, seen = source.model.spec, [], set()
    named = [("requires", ("spec", "requires", i), other) for i, other in enumerate(spec.requires)]
    if spec.colocateWith is not None:
        named.append(("colocateWith", ("spec", "colocateWith"), spec.colocateWith))
    for word, loc, other in named:
        if word == "requires":
            if other in seen:
                errors.append(source.error(loc, f"service {other!r} is listed twice"))
            seen.add(other)
        if other == source.name:
            errors.append(source.error(loc, f"{word} names this service itself"))
        elif complete and other not in services:
            errors.append(source.error(loc, f"service {other!r} has no Service document"))
    return errors


def _cycles(services: dict[str, Source]) -> list[list[str]]:
    """Groups of services that wait for each other (Tarjan's strongly
    connected components of more than one service), each sorted."""
    graph = {name: sorted({other for _, _, other in edges(src, services)}) for name, src in services.items()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        # recursion depth is bounded by the number of Service documents
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph[node]:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                group.append(top)
                if top == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for name in sorted(graph):
        if name not in index:
            visit(name)
    return sorted(found)


def _cycle_errors(members: list[str], services: dict[str, Source]) -> list[DocumentError]:
    inside = set(members)
    links = []
    first_loc = {}
    for name in members:
        for word, loc, other in edges(services[name], services):
            if other in inside:
                links.append(f"{_where(services[name])} {word} {other}")
                first_loc.setdefault(name, loc)
    text = ("a cycle of relationships, none of these could start first: " + "; ".join(links))
    return [services[name].error(first_loc[name], text) for name in members]


def _colocation(name: str, services: dict[str, Source],
                effective: dict[str, Optional[frozenset]]) -> list[DocumentError]:
    """A colocated service runs only on candidates it shares with its whole
    chain of anchors; none shared, or fewer than its replicas, can never work."""
    source = services[name]
    spec = source.model.spec
    anchor = spec.colocateWith
    if anchor is None or anchor not in services or anchor == name:
        return []
    chain = colocation_chain(name, {n: s.model for n, s in services.items()})
    shared = frozenset(spec.candidates)
    for other in chain:
        shared &= frozenset(services[other].model.spec.candidates)
    anchor_shared = frozenset(services[anchor].model.spec.candidates)
    for other in chain[1:]:
        anchor_shared &= frozenset(services[other].model.spec.candidates)
    if not anchor_shared:
        return []   # reported on the anchor already
    involved = ", ".join(_where(services[n]) for n in [name, *chain])
    if not shared:
        return [source.error(("spec", "colocateWith"), (
            f"{name} is colocated with {anchor} but they share no candidate server: {involved}"))]
    anchor_spec = services[anchor].model.spec
    limit = len(shared)
    if anchor_spec.mode == "active-standby":
        limit = min(limit, anchor_spec.replicas)
    if spec.mode == "active-standby" and spec.replicas > limit:
        return [source.error(("spec", "replicas"), (
            f"replicas ({spec.replicas}) is more than {name} can ever have: colocated with {anchor},"
            f" it is active only where {anchor} is, on {limit} server(s) at most ({involved})"))]
    return []


def colocation_chain(name: str, models: dict[str, ServiceDoc]) -> list[str]:
    """The anchors `name` follows, nearest first (stops at a cycle or an unknown name)."""
    chain, seen = [], {name}
    current = models[name].spec.colocateWith if name in models else None
    while current is not None and current in models and current not in seen:
        chain.append(current)
        seen.add(current)
        current = models[current].spec.colocateWith
    return chain
