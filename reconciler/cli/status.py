"""`overseer status [--json] [--watch]`: servers, master, every service and its checks.

The JSON form is `status_view.build_status` verbatim (the contract of
`interfaces.md`); the table is for people. `--watch` re-renders on every etcd
change (Store.watch) and at least every few seconds; Ctrl-C ends it with
status 0. With `--json --watch`, one compact JSON document per line.
"""
from __future__ import annotations

import contextlib
import faulthandler
import json
import signal
import sys
import threading
import time
from typing import Callable, Optional

import click

from overseer.desired.store.client import StoreError
from overseer.reconciler.planner.memory import span
from overseer.reconciler.status_view import build_status

from .common import global_options, open_store, store_errors

RESYNC = 5.0  # seconds between re-reads in --watch even without events
CLOSE_LIMIT = 5.0  # seconds closing the etcd connection may take after Ctrl-C
LABELS = {"ok": "OK", "warn": "WARN", "fail": "FAIL", "unknown": "UNKNOWN", "starting": "STARTING"}


def _table(rows: list[list[str]]) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]


def _failing(svc: dict) -> str:
    found = []
    for server, checks in svc["checks"].items():
        for check, row in checks.items():
            # unknown on a (cold) standby is normal; on an active it is worth a look
            bad = row["status"] in ("warn", "fail") or (row["status"] == "unknown" and server in svc["active"])
            if bad and server in svc["active"] + svc["standby"]:
                text = f"{server}/{check}: {LABELS.get(row['status'], row['status'])}"
                found.append(text + (f" ({row['message']})" if row.get("message") else ""))
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


def render_text(status: dict, now: Optional[float] = None) -> str:
    """The human view of one `build_status` document."""
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
    services = [["SERVICE", "STATUS", "ACTIVE", "STANDBY", "PAUSED", "FAILING CHECKS", "FAIL COUNTS"]]
    for name, svc in status["services"].items():
        services.append([name, LABELS.get(svc["status"], svc["status"]),
                         ",".join(svc["active"]) or "-", ",".join(svc["standby"]) or "-",
                         "paused" if svc["paused"] else "-", _failing(svc), _remembered(svc, now)])
    lines = [head, "", *_table(servers), ""]
    lines += _table(services) if len(services) > 1 else ["no services applied"]
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


def _show(status: dict, as_json: bool, watching: bool) -> None:
    if as_json:
        click.echo(json.dumps(status, separators=(",", ":")) if watching
                   else json.dumps(status, indent=2))
        return
    if watching and sys.stdout.isatty():
        click.echo("\x1b[H\x1b[2J", nl=False)  # clear the screen between frames
    click.echo(render_text(status))
    if watching:
        click.echo(f"\n(updated {time.strftime('%H:%M:%S')}; Ctrl-C to stop)")


def _watch(store, as_json: bool, stop: threading.Event, changed: threading.Event) -> None:
    cancel = store.watch(changed.set)
    failing = False
    try:
        while not stop.is_set():
            try:
                _show(build_status(store.snapshot(), time.time()), as_json, watching=True)
                failing = False
            except StoreError as exc:
                if not failing:  # one line per outage, not one per retry
                    click.echo(f"overseer: {exc} (retrying)", err=True)
                failing = True
            changed.wait(timeout=1.0 if failing else RESYNC)
            changed.clear()
            stop.wait(0.05)  # coalesce a burst of changes into one frame
    finally:
        cancel()


@contextlib.contextmanager
def _ctrl_c_sets(stop: threading.Event, wake: Callable[[], None]):
    """Turn Ctrl-C (and SIGTERM) into `stop` instead of a KeyboardInterrupt.

    A KeyboardInterrupt can land anywhere: inside gRPC's wait for a watch
    response or inside a lock of the old gRPC client's watcher, and closing the channel
    afterwards then waited for a call nobody would finish (seen once in CI:
    `status --watch` ignored Ctrl-C for 10 s). A flag is read between calls."""
    def handler(signum, frame):
        # Not Event.set here: the main thread may hold that event's lock right
        # now, and a handler runs on the main thread. A thread can wait for it.
        threading.Thread(target=lambda: (stop.set(), wake()), daemon=True).start()
    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


@click.command("status")
@global_options
@click.option("--json", "as_json", is_flag=True, help="the status document as JSON")
@click.option("--watch", is_flag=True, help="re-render on every change until Ctrl-C")
@store_errors
def status(as_json: bool, watch: bool) -> None:
    """Servers, master, every service with its state and checks."""
    store = open_store()
    try:
        if watch:
            stop, changed = threading.Event(), threading.Event()
            with _ctrl_c_sets(stop, wake=changed.set):
                _watch(store, as_json, stop, changed)
        else:
            _show(build_status(store.snapshot(), time.time()), as_json, watching=False)
    finally:
        if watch:
            _close_within(store, CLOSE_LIMIT)
        else:
            store.close()


def _close_within(store, limit: float) -> None:
    """Closing waits for gRPC to finish its calls; should that ever hang after
    Ctrl-C, print every thread's stack and exit rather than ignore the operator."""
    try:
        faulthandler.dump_traceback_later(limit, exit=True, file=sys.stderr)
    except (AttributeError, ValueError, OSError):  # no real stderr (a test runner's)
        store.close()
        return
    try:
        store.close()
    finally:
        faulthandler.cancel_dump_traceback_later()


COMMANDS = [status]
