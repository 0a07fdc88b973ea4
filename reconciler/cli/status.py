"""`overseer status [SERVICE] [--json] [--watch] [--wide]`: servers, master, services.

The JSON form is `status_view.build_status` verbatim (the contract of
docs/interfaces.md); the table is for people and fits the terminal (80 columns
when not on one): long failing-check and fail-count cells are cut, `--wide`
shows them whole plus when each active set began and last changed. With a
SERVICE, everything the board's service page shows (status_service.py).
`--watch` re-renders on every etcd change (status_watch.py).
"""
from __future__ import annotations

import json
import time
from typing import Optional

import click

from overseer.reconciler.planner.memory import span
from overseer.reconciler.status_view import build_status, service_detail

from .common import fail, global_options, open_store, store_errors
from .table import ago, table, terminal_width, widths_for

LABELS = {"ok": "OK", "warn": "WARN", "fail": "FAIL", "unknown": "UNKNOWN", "starting": "STARTING"}


def _table(rows: list[list[str]], width: Optional[int] = None, shrinkable=()) -> list[str]:
    return table(rows, width, shrinkable)


def _failing(svc: dict, messages: bool = True) -> str:
    found = []
    for server, checks in svc["checks"].items():
        for check, row in checks.items():
            # unknown on a (cold) standby is normal; on an active it is worth a look
            bad = row["status"] in ("warn", "fail") or (row["status"] == "unknown" and server in svc["active"])
            if bad and server in svc["active"] + svc["standby"]:
                text = f"{server}/{check}: {LABELS.get(row['status'], row['status'])}"
                found.append(text + (f" ({row['message']})" if row.get("message") and messages else ""))
    return "; ".join(found) or "-"


def _remembered(svc: dict, now: float) -> str:
    parts = []
    for server, f in svc.get("failures", {}).items():
        parts.append(f"{server} {f['count']}{' (marked)' if f['marked'] else ''} "
                     f"expires in {span(f['expires'] - now)}")
    return "; ".join(parts) or "-"


def _fence_words(fence: dict) -> str:
    at = time.strftime("%H:%M:%S", time.localtime(fence["time"]))
    waiting = f"; {', '.join(fence['services'])} waiting" if fence.get("services") else ""
    why = f": {fence['message']}" if fence.get("message") else ""
    if fence["outcome"] == "ok":
        return f"fenced by its fence agent on {fence['by']} at {at} (attempt {fence['attempt']}){why}"
    if fence["outcome"] == "confirmed":
        return f"confirmed off by an operator at {at}"
    if fence["outcome"] == "pending":
        return f"fence agent running on {fence['by']} since {at} (attempt {fence['attempt']}){waiting}"
    return f"fence attempt {fence['attempt']} failed at {at}{why}{waiting}"


def render_text(status: dict, now: Optional[float] = None, wide: bool = False,
                width: Optional[int] = None) -> str:
    """The human view of one `build_status` document; the services table cut
    to `width` columns unless `wide`."""
    now = time.time() if now is None else now
    master = status["master"]
    head = (f"cluster {status['cluster']} · generation {status['generation']} · "
            + (f"master {master['server']} (epoch {master['epoch']})" if master else "NO MASTER"))
    servers = [["SERVER", "STATE", "HEALTH", "RANK", "DOMAIN", ""]]
    for name, srv in status["servers"].items():
        servers.append([name, "up" if srv["up"] else "DOWN", LABELS.get(srv["health"], srv["health"]),
                        str(srv["rank"]), srv["failureDomain"] or "-",
                        ", ".join(w for w, on in (("master", srv.get("master")), ("cordoned", srv.get("cordoned")))
                                  if on)])
    services = [["SERVICE", "STATUS", "ACTIVE", "STANDBY", "PAUSED", "FAILING CHECKS", "FAIL COUNTS"]
                + (["ACTIVE SINCE", "LAST CHANGE"] if wide else [])]
    for name, svc in status["services"].items():
        services.append([name, LABELS.get(svc["status"], svc["status"]),
                         ",".join(svc["active"]) or "-", ",".join(svc["standby"]) or "-",
                         "paused" if svc["paused"] else "-", _failing(svc), _remembered(svc, now)]
                        + ([ago(svc.get("activeSince"), now), ago(svc.get("lastChange"), now)] if wide else []))
    lines = [head, "", *_table(servers), ""]
    if len(services) > 1:
        if not wide and width is not None:
            room = widths_for(services, width, (5, 6))[5]
            for row, svc in zip(services[1:], status["services"].values()):
                if len(row[5]) > room and row[5].count("; "):
                    # several checks fail: all their names say more than the first words of one message
                    row[5] = _failing(svc, messages=False)
        lines += _table(services, None if wide else width, shrinkable=(5, 6))
        if not wide and any(line.endswith("…") or "… " in line for line in lines):
            lines.append("(cut to fit: `overseer status --wide` or `overseer status SERVICE` shows all)")
    else:
        lines.append("no services applied")
    warnings = [f"warning: every candidate of {name} is in one failure domain"
                for name, svc in status["services"].items() if svc.get("sharedFailureDomain")]
    hooks = [f"{name}: {time.strftime('%H:%M:%S', time.localtime(svc['lastHook']['time']))}"
             f" {svc['lastHook']['message']}" for name, svc in status["services"].items() if svc.get("lastHook")]
    if hooks:
        lines += ["", "LAST HOOK", *hooks]
    vips = [f"{name}: {svc['vip']['address']} on {svc['vip']['interface']} at {','.join(svc['active']) or 'nobody'}"
            for name, svc in status["services"].items() if svc.get("vip")]
    if vips:
        lines += ["", "FLOATING IP", *vips]
    planned = [f"{name}: switchover" + (f" to {svc['switchover']['to']}" if svc["switchover"]["to"] else "")
               + (f" scheduled for {time.strftime('%Y-%m-%d %H:%M:%S %Z', time.localtime(svc['switchover']['at']))}"
                  if svc["switchover"]["at"] else " pending")
               for name, svc in status["services"].items() if svc.get("switchover")]
    if planned:
        lines += ["", "PLANNED", *planned]
    fences = [f"{name}: {_fence_words(srv['fence'])}" for name, srv in status["servers"].items()
              if srv.get("fence") and not srv["up"]]
    if fences:
        lines += ["", "FENCING", *fences]
    return "\n".join(lines + ([""] + warnings if warnings else []))


def _show(status: dict, as_json: bool, wide: bool = False) -> None:
    if as_json:
        click.echo(json.dumps(status, indent=2))
    else:
        click.echo(render_text(status, wide=wide, width=terminal_width()))


@click.command("status")
@click.argument("service", required=False)
@global_options
@click.option("--json", "as_json", is_flag=True, help="the status document as JSON")
@click.option("--watch", is_flag=True, help="re-render on every change until Ctrl-C (says when its data is stale)")
@click.option("--wide", is_flag=True, help="whole cells, however wide, and when each active set began and changed")
@store_errors
def status(service: Optional[str], as_json: bool, watch: bool, wide: bool) -> None:
    """Servers, master, every service with its state and checks; or one SERVICE in full."""
    if service is not None and watch:
        fail("status SERVICE takes no --watch; `overseer status --watch` follows every service", 2)
    store = open_store()
    try:
        if watch:
            from .status_watch import watch as follow  # noqa: PLC0415  (only --watch needs threads and signals)
            follow(store, lambda st, now: render_text(st, now, wide=wide, width=terminal_width()), as_json)
            return
        snap = store.snapshot()
        if service is None:
            _show(build_status(snap, time.time()), as_json, wide)
            return
        try:
            detail = service_detail(snap, service, time.time())
        except KeyError:
            fail(f"status: no service {service!r} in cluster {store.cluster} "
                 f"(services: {', '.join(sorted(snap.desired.services)) or 'none'})")
        from .status_service import render_service  # noqa: PLC0415
        click.echo(json.dumps(detail, indent=2) if as_json else render_service(detail, snap, time.time()))
    finally:
        if not watch:
            store.close()


COMMANDS = [status]
