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

from ..agent.agent import Agent
from .common import fail, global_options, settings

log = logging.getLogger("overseer.agent")


@click.command("agent")
@click.option("--server", "server", required=True, envvar="OVERSEER_SERVER", help="this server's name")
@click.option("--state-dir", type=click.Path(file_okay=False), default=None,
              help="where logs of supervised children go")
@global_options
def agent(server: str, state_dir: str | None) -> None:
    """Run this server's agent (until SIGTERM)."""
    cfg = settings().etcd_config(timeout=2.0)
    if state_dir:
        import os
        os.makedirs(state_dir, exist_ok=True)
    try:
        asyncio.run(_main(cfg, server, settings().cluster, state_dir))
    except StoreError as exc:
        fail(str(exc), exc.exit_code)


async def _main(cfg, server, cluster, state_dir) -> None:
    node = Agent(cfg, server, cluster, state_dir)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, node.request_stop)
    await node.run()


COMMANDS = [agent]
