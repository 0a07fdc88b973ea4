"""The agent's local endpoint (`overseer agent --metrics [HOST:]PORT`): for
Prometheus and local monitoring, never for peers.

`GET /metrics`: this process's own instruments (reconciler/metrics.py: the
master's reconcile durations, hook runs), in Prometheus' text format.
`GET /healthz`: whether this agent reaches etcd (the same cached probe the
peers get), holds a lease, is master or fenced. Off unless asked for, on
loopback unless an address is given: who is master, and the metrics, are not
the peer port's business (healthz.py), and the peer port is reachable from
the whole server network.
"""
from __future__ import annotations

import json
from typing import Awaitable, Callable, Mapping, Optional

from .failsafe import Caller, Reply

DEFAULT_HOST = "127.0.0.1"


class ListenError(ValueError):
    pass


def parse_listen(text: str) -> tuple[str, int]:
    """`PORT` (loopback) or `HOST:PORT`; `[::1]:PORT` for IPv6."""
    host, colon, port = text.rpartition(":")
    host = host.strip("[]") if colon else DEFAULT_HOST
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise ListenError(f"{text!r}: expected PORT or HOST:PORT (port 1-65535)")
    return host or DEFAULT_HOST, int(port)


def _exposition() -> tuple[bytes, str]:
    """This process's metrics in Prometheus' text format. prometheus_client is
    loaded on the first scrape (reconciler/metrics.py says why)."""
    from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest  # noqa: PLC0415
    from ..metrics import INSTRUMENTS  # noqa: PLC0415
    global _registered
    if not _registered:
        for instrument in INSTRUMENTS:
            REGISTRY.register(instrument)
        _registered = True
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


_registered = False


def endpoints(edges, host: str, port: int, desk, listen: Optional[tuple[str, int]],
              status: Callable[[], Awaitable[dict]]) -> list:
    """The peer endpoint on the Server's address and agentPort (through the
    edges: the simulator has its own), and the local one if asked for."""
    tls = {"tls": desk.trust.tls.server} if desk.trust.tls else {}   # the simulator's edge takes none
    made = [edges.healthz(host, port, desk.answer, **tls)]
    if listen:
        from .healthz import HttpEndpoint  # noqa: PLC0415  (a real socket: never in the simulator)
        made.append(HttpEndpoint(*listen, routes(status), name="local endpoint (--metrics)"))
    return made


def routes(status: Callable[[], Awaitable[dict]]) -> dict[str, Callable[[Mapping[str, str], Caller], Awaitable[Reply]]]:
    async def metrics(query: Mapping[str, str], caller: Caller) -> Reply:
        body, kind = _exposition()
        return Reply(200, body, {"Content-Type": kind})

    async def healthz(query: Mapping[str, str], caller: Caller) -> Reply:
        return Reply(200, json.dumps(await status()).encode())

    return {"/metrics": metrics, "/healthz": healthz}
