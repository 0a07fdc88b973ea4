"""`overseer validate --check-users`: every user and group the documents name exists here.

A name means what the server running the command says (desired/run_as.py),
so this rule is for a machine built like the servers: a server itself, or a
CI image with the same accounts. Elsewhere the agent still refuses to start
a command whose user is unknown, with the service and the field in the error.
"""
from __future__ import annotations

from typing import Iterable, Iterator

from .child_user import RunAsError, resolve
from .errors import DocumentError
from .hooks import EVENTS
from .loader import Loaded, Source
from .models import ClusterDoc, ServiceDoc
from .run_as import RunAs


def _run_as(source: Source) -> Iterator[tuple[tuple, RunAs]]:
    """(location, fields) of every actuator, check and hook of the document that names a user."""
    spec = source.model.spec
    if isinstance(source.model, ServiceDoc):
        if isinstance(spec.actuator, RunAs):
            yield ("spec", "actuator"), spec.actuator
        for i, check in enumerate(spec.checks):
            if isinstance(check, RunAs):
                yield ("spec", "checks", i), check
    for event in EVENTS:
        hook = getattr(spec.on, event, None) if spec.on is not None else None
        if hook is not None:
            yield ("spec", "on", event), hook


def unknown_users(sources: Iterable[Source]) -> list[DocumentError]:
    errors = []
    for source in sources:
        if not isinstance(source.model, (ClusterDoc, ServiceDoc)):
            continue
        for loc, fields in _run_as(source):
            try:
                resolve(fields, here="this machine")
            except RunAsError as exc:
                errors.append(source.error(loc + exc.field, exc.reason))
    return errors


def with_unknown_users(loaded: Loaded) -> Loaded:
    """`loaded` with an error for each user or group unknown on this machine."""
    errors = set(loaded.errors) | set(unknown_users(s for s in loaded.sources if s.model is not None))
    return Loaded(loaded.sources, tuple(sorted(errors)), loaded.complete, loaded.files)
