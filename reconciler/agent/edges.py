"""The agent's edges to the world, handed to it as one object.

Everything the agent does that is not computation on its event loop goes
through an `Edges`: etcd calls (blocking, so real ones run on threads), the
clocks, building actuators, the floating addresses' system calls, running
probes, asking a peer's `/healthz`, the fencer process, the peer endpoint,
the server-health sampler and, on the master, dead servers' fence agents. `REAL`
wires the production implementations. The simulator
(overseer.reconciler.sim) passes its own: single-threaded, on virtual time,
with faults injected at exactly these seams, while every decision in between
is the real code.
"""
from __future__ import annotations

import asyncio
import os
import time
from dataclasses import dataclass, replace
from typing import Any, Awaitable, Callable, Optional

from overseer.actuators.factory import build_actuator
from overseer.actuators.vip import IP_COMMANDS, IpCommands
from overseer.observers.probes import PROBES, ProbeContext, ProbeResult

from ..fence_agent import run_fence
from . import failsafe, peer_client


async def in_thread(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """A blocking etcd call off the loop (it can hang on a dropped link)."""
    return await asyncio.to_thread(fn, *args, **kwargs)


async def run_probe(check, ctx: ProbeContext) -> ProbeResult:
    return await PROBES[check.type](check, ctx)


def _fencer():
    from .fencer import Fencer  # noqa: PLC0415  (spawns a process: only when asked)
    return Fencer()


def _healthz(host: str, port: int, answer, tls=None):
    from .healthz import HttpEndpoint  # noqa: PLC0415
    return HttpEndpoint(host, port, {"/healthz": answer}, name="peer endpoint", tls=tls)


def _server_health(**kwargs):
    from overseer.observers.server_health import ServerHealthMonitor  # noqa: PLC0415
    return ServerHealthMonitor(**kwargs)


def _hooks(record):
    from ..hooks.runner import HookRunner  # noqa: PLC0415
    return HookRunner(record)


def _connect(cfg, cluster):
    from overseer.desired.store.store import Store  # noqa: PLC0415
    return Store(cfg, cluster)


@dataclass(frozen=True)
class Edges:
    # `await etcd(store.method, *args)`: every Store call goes through this
    etcd: Callable[..., Awaitable[Any]] = in_thread
    # the lease calls' own lane; None: presence.py's own thread (stuck calls never delay it)
    keepalive: Optional[Callable[..., Awaitable[Any]]] = None
    monotonic: Callable[[], float] = time.monotonic
    cpu: Callable[[], float] = time.process_time          # this process's CPU seconds (all threads)
    wall: Callable[[], float] = time.time
    connect: Callable[[Any, Optional[str]], Any] = _connect
    actuator: Callable[..., Any] = build_actuator        # (service, spec, log_dir=) -> Actuator
    addresses: IpCommands = IP_COMMANDS                  # spec.vip's ip addr add/del and announcements
    probe: Callable[[Any, ProbeContext], Awaitable[ProbeResult]] = run_probe
    # (peer, timeout, query[, tls=]) -> the peer's Reply as it came, or why none came
    ask_peer: Callable[[failsafe.Peer, float, dict], Awaitable[failsafe.Reply | failsafe.Unanswered]] = \
        peer_client.ask_peer
    fencer: Callable[[], Any] = _fencer                   # -> .vouch(seconds, groups), .close()
    healthz: Callable[..., Any] = _healthz                # (host, port, answer[, tls=]) -> .start(), .close()
    server_health: Callable[..., Any] = _server_health    # (**ServerHealthMonitor kwargs) -> .run()
    pgid: Callable[[int], int] = os.getpgid
    hooks: Callable[..., Any] = _hooks                    # (record) -> .submit(event, hook, services), .drain(s)
    fence: Callable[[Any], Awaitable[Any]] = run_fence    # (FenceCall) -> FenceResult: a dead server's fence agent, on the master

    def but(self, **changes: Any) -> "Edges":
        return replace(self, **changes)


REAL = Edges()
