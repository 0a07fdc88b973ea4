"""`overseer ui [--listen 127.0.0.1:8080] [--allow-host NAME]`: the read-only board and API.

Flask and waitress are imported inside the command, so every other command
starts without them. The board reads a snapshot kept fresh by an etcd watch;
when etcd is unreachable at start it still serves and says the view is stale.
It answers only to the names on its Host allow-list (ui/hosts.py); it has no
TLS or login of its own: shared beyond the machine, it goes behind a reverse
proxy that has both (docs/operations.md, examples/nginx-board.conf).
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
@click.option("--allow-host", "allow_hosts", multiple=True, envvar="OVERSEER_UI_ALLOW_HOST", metavar="NAME",
              help="a name the board is reached by besides the listen address and localhost "
                   "(repeat for more); any other Host header gets 421")
@click.option("--resync", default=3.0, show_default=True, type=click.FloatRange(min=0.2),
              help="seconds between checks that etcd has not changed, besides the watch")
def ui(listen: str, allow_hosts: tuple[str, ...], resync: float) -> None:
    """Serve the status board, JSON API, /metrics and /healthz."""
    from overseer.desired.store.store import Store
    from overseer.ui.app import create_app
    from overseer.ui.hosts import AllowedHosts, HostError
    from overseer.ui.live import SnapshotCache
    from overseer.ui.server import BackgroundServer, ListenError, parse_listen

    try:
        host, port = parse_listen(listen)
        hosts = AllowedHosts(host, allow_hosts)
    except (ListenError, HostError) as exc:
        fail(str(exc))
    opts = settings()
    cfg = opts.etcd_config()
    cache = SnapshotCache(lambda: Store(cfg, opts.cluster), resync=resync).start()
    try:
        server = BackgroundServer(create_app(cache, hosts=hosts), host, port)
    except OSError as exc:
        cache.stop()
        fail(f"--listen {listen}: cannot listen: {exc.strerror or exc}")
    signal.signal(signal.SIGTERM, _exit_quietly)
    cache.wait_first(timeout=cfg.timeout + 1)
    banner = cache.freshness().banner(time.time())
    if banner:
        log.warning("%s", banner)
    click.echo(f"overseer ui: serving {server.url}/", err=True)
    warn_if_exposed(host, hosts)
    try:
        server.run()  # waitress returns on SystemExit/KeyboardInterrupt
    finally:
        server.stop()
        cache.stop()


def warn_if_exposed(host: str, hosts) -> None:
    """Say what listening beyond loopback means: plain http, no login, and which names work."""
    if host in ("127.0.0.1", "::1", "localhost"):
        return
    log.warning("the board listens on %s over plain http without a login: anyone who can reach it reads "
                "the cluster's state; share it through a reverse proxy with TLS and a login "
                "(docs/operations.md)", host)
    if hosts.only_loopback():
        log.warning("it answers only to localhost names: add --allow-host NAME for each name or "
                    "address browsers and scrapers use to reach it")


def _exit_quietly(signum, frame) -> None:
    # waitress's loop turns SystemExit into an orderly return from run().
    raise SystemExit(0)


COMMANDS = [ui]
