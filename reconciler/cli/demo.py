"""`overseer demo [--listen 127.0.0.1:8080] [--dir .demo]`: the whole product on one machine.

A local etcd, the example cluster of reconciler/demo/cluster.py applied, three
agents, and the board; prints what to kill to watch a failover, and starts
a killed agent again after `--restart-after` seconds. Ctrl-C or SIGTERM stops
everything it started, and agents started by hand with its state dirs.
"""
from __future__ import annotations

import signal
from pathlib import Path

import click

from .common import fail


@click.command("demo")
@click.option("--listen", default="127.0.0.1:8080", show_default=True, metavar="HOST:PORT",
              help="where the board is served")
@click.option("--dir", "folder", default=".demo", show_default=True, type=click.Path(file_okay=False),
              help="etcd data, agent state dirs, logs and the applied documents")
@click.option("--restart-after", default=10.0, show_default=True, type=click.FloatRange(0),
              metavar="SECONDS", help="start an agent that exited again after this long")
def demo(listen: str, folder: str, restart_after: float) -> None:
    """Run a local three-server cluster with a fake PBX and its dialer, a web app and a recorder."""
    from overseer.desired.store.local_etcd import LocalEtcdError
    from overseer.reconciler.demo.processes import DemoError
    from overseer.reconciler.demo.session import Demo
    from overseer.ui.server import ListenError, parse_listen

    try:
        host, port = parse_listen(listen)
    except ListenError as exc:
        fail(str(exc))
    session = Demo(Path(folder), host, port, say=lambda line: click.echo(line),
                   restart_after=restart_after)
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: session.stop_requested.set())
    try:
        session.up()
        session.watch()
    except (DemoError, LocalEtcdError) as exc:
        click.echo(f"overseer demo: {exc}", err=True)
        session.down()
        raise SystemExit(1)
    session.down()


COMMANDS = [demo]
