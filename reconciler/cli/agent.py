"""`overseer agent --server NAME [--state-dir DIR]`: run this server's agent.

Foreground, logs to stderr; SIGTERM/SIGINT stop it gracefully (a master
resigns at once, local actives are demoted, the lease is revoked).
"""
from __future__ import annotations

import asyncio
import logging
import signal

import click

from overseer.desired.store.client import StoreError

from ..agent import agent_http
from ..agent.agent import Agent
from ..agent.peer_auth import OFF, TRUSTS_NETWORK, PeerKeyError, PeerTrust, load_key
from ..agent.peer_tls import PeerTlsError, load_tls
from .common import fail, global_options, settings

log = logging.getLogger("overseer.agent")


@click.command("agent")
@click.option("--server", "server", required=True, envvar="OVERSEER_SERVER", metavar="NAME",
              help="this server's name")
@click.option("--state-dir", type=click.Path(file_okay=False), default=None, metavar="DIR",
              help="where logs of supervised children go")
@click.option("--ui", "ui_listen", default=None, metavar="HOST:PORT",
              help="also serve the read-only board here, so any surviving server shows it")
@click.option("--ui-allow-host", "ui_allow_hosts", multiple=True, envvar="OVERSEER_UI_ALLOW_HOST",
              metavar="NAME", help="a name the --ui board is reached by besides its listen address and "
                                   "localhost (repeat for more)")
@click.option("--peer-key-file", default=None, envvar="OVERSEER_PEER_KEY_FILE", metavar="PATH",
              help="the cluster's failsafe key (the same file on every server, mode 0400); "
                   "without it failsafe is off")
@click.option("--peer-cacert", default=None, envvar="OVERSEER_PEER_CACERT", metavar="PATH",
              help="mutual TLS between agents: the CA that signed every agent's certificate")
@click.option("--peer-cert", default=None, envvar="OVERSEER_PEER_CERT", metavar="PATH",
              help="this agent's certificate; its subjectAltName holds this server's name as a DNS name")
@click.option("--peer-cert-key", default=None, envvar="OVERSEER_PEER_CERT_KEY", metavar="PATH",
              help="its private key (mode 0400)")
@click.option("--failsafe-trusts-network", is_flag=True, default=False,
              envvar="OVERSEER_FAILSAFE_TRUSTS_NETWORK",
              help="with neither peer key nor certificates, use failsafe anyway and believe "
                   "unsigned answers (unsafe)")
@click.option("--metrics", "metrics_listen", default=None, envvar="OVERSEER_AGENT_METRICS",
              metavar="[HOST:]PORT", help="serve /metrics and a local /healthz here (host 127.0.0.1 if omitted)")
@global_options
def agent(server: str, state_dir: str | None, ui_listen: str | None, ui_allow_hosts: tuple[str, ...],
          peer_key_file: str | None,
          peer_cacert: str | None, peer_cert: str | None, peer_cert_key: str | None,
          failsafe_trusts_network: bool, metrics_listen: str | None) -> None:
    """Run this server's agent (until SIGTERM)."""
    cfg = settings().etcd_config(timeout=2.0)
    trust = _peer_trust(server, peer_key_file, (peer_cacert, peer_cert, peer_cert_key), failsafe_trusts_network)
    try:
        metrics = agent_http.parse_listen(metrics_listen) if metrics_listen else None
    except agent_http.ListenError as exc:
        fail(f"--metrics {exc}", 2)
    if state_dir:
        import os
        os.makedirs(state_dir, exist_ok=True)
    stop_board = _start_board(ui_listen, ui_allow_hosts, cfg, settings().cluster) if ui_listen else None
    from overseer.actuators.child import wait_for_children_on_the_loop  # noqa: PLC0415  (agent only)
    wait_for_children_on_the_loop()
    try:
        asyncio.run(_main(cfg, server, settings().cluster, state_dir, trust, metrics))
    except StoreError as exc:
        fail(str(exc), exc.exit_code)
    finally:
        if stop_board:
            stop_board()


def _start_board(listen: str, allow_hosts: tuple[str, ...], cfg, cluster):
    """The board in a background thread of the agent (Flask loaded only here)."""
    from overseer.desired.store.store import Store
    from overseer.ui.app import create_app
    from overseer.ui.hosts import AllowedHosts, HostError
    from overseer.ui.live import SnapshotCache
    from overseer.ui.server import BackgroundServer, ListenError, parse_listen

    from .serve import warn_if_exposed

    try:
        host, port = parse_listen(listen)
        hosts = AllowedHosts(host, allow_hosts)
    except (ListenError, HostError) as exc:
        fail(str(exc))
    cache = SnapshotCache(lambda: Store(cfg, cluster)).start()
    try:
        server = BackgroundServer(create_app(cache, hosts=hosts), host, port).start()
    except OSError as exc:
        cache.stop()
        fail(f"--ui {listen}: cannot listen: {exc.strerror or exc}")
    log.info("board at %s/", server.url)
    warn_if_exposed(host, hosts)

    def stop() -> None:
        server.stop()
        cache.stop()
    return stop


def _peer_trust(server: str, key_file: str | None, tls_files: tuple, trusts_network: bool) -> PeerTrust:
    """Files that are named must be usable: an agent never falls back to
    less (no key, or trusting the network) because of a typo or a chmod."""
    if any(tls_files) and not all(tls_files):
        fail("--peer-cacert, --peer-cert and --peer-cert-key go together (mutual TLS between agents)", 2)
    if not key_file and not any(tls_files):
        return TRUSTS_NETWORK if trusts_network else OFF
    try:
        key = load_key(key_file) if key_file else None
        tls = load_tls(*tls_files, me=server) if all(tls_files) else None
    except (PeerKeyError, PeerTlsError) as exc:
        fail(str(exc), 2)
    return PeerTrust(key, tls=tls)


async def _main(cfg, server, cluster, state_dir, trust, metrics) -> None:
    node = Agent(cfg, server, cluster, state_dir, peer_trust=trust, metrics_listen=metrics)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, node.request_stop)
    loop.add_signal_handler(signal.SIGUSR1, _dump_tasks)
    await node.run()


def _dump_tasks() -> None:
    """`kill -USR1 <agent>`: every asyncio task and where it waits, in the log
    (docs/troubleshooting.md). For an agent that looks alive but does nothing."""
    import io
    import logging
    out = io.StringIO()
    tasks = asyncio.all_tasks()
    for task in sorted(tasks, key=lambda t: t.get_name()):
        task.print_stack(limit=6, file=out)
    logging.getLogger("overseer.agent.tasks").warning("%d tasks (SIGUSR1):\n%s", len(tasks), out.getvalue())


COMMANDS = [agent]
