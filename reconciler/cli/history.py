"""`overseer history [SERVICE] [--since DURATION|TIME] [-o json]`: what happened, as `patronictl history`.

Every history entry etcd keeps (each service keeps its newest
`historyLimit`, at most 300): placements, failovers, switchovers and their
refusals, role changes and failed actions reported by agents, hooks, fences,
restarts in place, cleanups. Oldest first, so the newest is next to the
prompt; with SERVICE only that service's, else every service's merged by
time. `--since 1h` (a duration: ms, s, m, h, d) or `--since 2026-05-01T10:00Z`
(ISO 8601 with a zone) leaves older entries out. `-o json`: a JSON list of
{service, time, kind, message, server, epoch}, in the same order.
"""
from __future__ import annotations

import json
import re
import time
from datetime import datetime
from typing import Optional

import click

from overseer.desired import units
from overseer.desired.models import MAX_HISTORY_LIMIT

from .common import fail, global_options, open_store, service_doc, store_errors
from .table import ago, table

_DAYS = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*d\s*$")


def parse_since(text: str, now: float) -> float:
    """A duration back from `now`, or an absolute time with a zone -> epoch seconds."""
    days = _DAYS.match(text)
    if days:
        return now - float(days.group(1)) * 86400
    try:
        return now - units.parse_duration(text)
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        fail(f"--since {text!r}: write a duration (30m, 2h, 7d) or an ISO 8601 time with a zone "
             f"(2026-05-01T10:00+02:00)", 2)
    if moment.tzinfo is None:
        fail(f"--since {text!r}: add the zone, e.g. {text}Z or {text}+02:00", 2)
    return moment.timestamp()


def entries(store, snap, service: Optional[str], since: Optional[float]) -> list[dict]:
    names = [service] if service else sorted(set(snap.desired.services) | set(snap.history))
    found = [e for name in names for e in store.history(name, limit=MAX_HISTORY_LIMIT)
             if since is None or e.time >= since]
    found.sort(key=lambda e: e.time)
    return [{"service": e.service, "time": e.time, "kind": e.kind, "message": e.message,
             "server": e.server, "epoch": e.epoch} for e in found]


def render(rows: list[dict], now: float, with_service: bool) -> str:
    lines = [["TIME", "AGE"] + (["SERVICE"] if with_service else []) + ["KIND", "SERVER", "EPOCH", "WHAT AND WHY"]]
    for e in rows:
        lines.append([time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(e["time"])), ago(e["time"], now)]
                     + ([e["service"]] if with_service else [])
                     + [e["kind"], e["server"] or "-", str(e["epoch"] or "-"), e["message"]])
    return "\n".join(table(lines))


@click.command("history")
@click.argument("service", required=False)
@click.option("--since", default=None, metavar="DURATION|TIME",
              help="only entries newer than this: 30m, 2h, 7d, or 2026-05-01T10:00Z")
@click.option("-o", "--output", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="json: a list of entries, oldest first")
@global_options
@store_errors
def history(service: Optional[str], since: Optional[str], output: str) -> None:
    """What happened to SERVICE (or every service), oldest first."""
    now = time.time()
    cutoff = parse_since(since, now) if since is not None else None
    store = open_store()
    try:
        snap = store.snapshot(history=False)
        if service is not None:
            service_doc(snap, store.cluster, service, "history")
        rows = entries(store, snap, service, cutoff)
    finally:
        store.close()
    if output == "json":
        click.echo(json.dumps(rows, indent=2))
    elif rows:
        click.echo(render(rows, now, with_service=service is None))
    else:
        click.echo("no history" + (f" for {service}" if service else "") + (f" since {since}" if since else ""))


COMMANDS = [history]
