"""`overseer ui [--listen 127.0.0.1:8080]`: the read-only board and API.

Flask and waitress are imported inside the command, so every other command
starts without them. The board reads a snapshot kept fresh by an etcd watch;
when etcd is unreachable at start it still serves and says the view is stale.
"""
from __future__ import annotations

import logging
import signal
import time

import click

from .common import fail, global_options, settings

log = logging.getLogger(__name__)


@click.command("ui")
@global_options
@click.option("--listen", default="127.0.0.1:8080", show_default=True, metavar="HOST:PORT",
              help="address to serve on (loopback unless told otherwise)")
@click.option("--resync", default=3.0, show_default=True, type=click.FloatRange(min=0.2),
              help="seconds between full re-reads of etcd besides the watch")
def ui(listen: str, resync: float) -> None:
    """Serve the status board, JSON API, /metrics and /healthz."""
    from overseer.desired.store.store import Store
    from overseer.ui.app import create_app
    from overseer.ui.live import SnapshotCache
    from overseer.ui.server import BackgroundServer, ListenError, parse_listen

    try:
        host, port = parse_listen(listen)
    except ListenError as exc:
        fail(str(exc))
    opts = settings()
    cfg = opts.etcd_config()
    cache = SnapshotCache(lambda: Store(cfg, opts.cluster), resync=resync).start()
    try:
        server = BackgroundServer(create_app(cache), host, port)
    except OSError as exc:
        cache.stop()
        fail(f"--listen {listen}: cannot listen: {exc.strerror or exc}")
    signal.signal(signal.SIGTERM, _exit_quietly)
    cache.wait_first(timeout=cfg.timeout + 1)
    banner = cache.freshness().banner(time.time())
    if banner:
        log.warning("%s", banner)
    click.echo(f"overseer ui: serving {server.url}/", err=True)
    try:
        server.run()  # waitress returns on SystemExit/KeyboardInterrupt
    finally:
        server.stop()
        cache.stop()


def _exit_quietly(signum, frame) -> None:
    # waitress's loop turns SystemExit into an orderly return from run().
    raise SystemExit(0)


COMMANDS = [ui]
