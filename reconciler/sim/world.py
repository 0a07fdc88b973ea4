"""The simulated world: three servers, their real agents, one etcd, the faults.

Each agent is the real `overseer.reconciler.agent.Agent`, given an `Edges`
whose every edge is simulated here (network.py, procs.py). The world applies
the documents with the real documents.apply, starts the agents, plays the
schedule's faults and operator actions at their virtual times, and lets the
checker (checker.py) sample what the processes did.
"""
from __future__ import annotations

import asyncio
import contextvars
import inspect
import logging
import random
from typing import Optional

from overseer.desired.store import documents
from overseer.desired.loader import Source
from overseer.desired.models import MODELS
from overseer.desired.state import SwitchoverRequest
from overseer.desired.store.client import EtcdConfig, StoreError
from overseer.desired.store.store import Store
from overseer.desired.validate import check_documents

from ..agent.agent import Agent
from ..agent.edges import Edges
from ..hooks.runner import NoHooks
from ..agent.failsafe import Caller, Peer, Reply, Unanswered
from ..agent.peer_auth import PeerKey, PeerTrust
from .checker import Checker
from overseer.desired.store.simulated import SimClient, SimWatcher
from .addresses import Addresses, SimIp
from .fence_agents import SimFenceAgents, with_fence_agents
from .loop import PROCESS, VirtualLoop
from .network import EtcdLane, Network
from .procs import SimActuator, SimFencer, SimHealthz, SimServerHealth, sim_probe
from .schedule import SERVERS, Fault, Schedule

CLUSTER = "sim"
WALL0 = 1_800_000_000.0   # the simulated wall clock's epoch
CFG = EtcdConfig(endpoints=("sim-etcd:2379",), timeout=3.0)
# every agent signs its failsafe questions and answers, as a real cluster's do
PEER_TRUST = PeerTrust(PeerKey(b"the simulated cluster's peer key, at least 32 bytes as a real one", "sim"))
OPERATOR_RETRY = 1.0  # virtual seconds before a person runs a failed command again


class World:
    def __init__(self, schedule: Schedule, trace: "Trace", *, order: Optional[list] = None):
        self.schedule, self.trace = schedule, trace
        self.loop = VirtualLoop()
        self.t0 = self.loop.time()
        self.rng = random.Random(schedule.seed * 7919 + 17)   # runtime draws: latencies, step times
        # commands' partial work, the fencer's kill, `ip addr`: draws of their own, the above unchanged
        self.proc_rng = random.Random(schedule.seed * 7919 + 23)
        self.context = contextvars.Context()                  # the world's own: never frozen
        self.net = Network(self.loop, self.rng, self.context, CFG.timeout)
        self.checker = Checker(self)
        self.net.etcd.on_commit = self.checker.on_commit
        self.actuators: list[SimActuator] = []
        self.addresses = Addresses(self)
        self.healthz: dict[str, object] = {}
        self.fencers: dict[str, SimFencer] = {}
        self.agents: dict[str, Agent] = {}
        self.keys: dict[str, str] = {}          # server -> running incarnation's process key
        self.contexts: dict[str, contextvars.Context] = {}
        self.incarnation = {s: 0 for s in SERVERS}
        self.paused: set[str] = set()
        self.act_faults: dict[tuple, tuple[str, float]] = {}
        self.flaps: dict[tuple, tuple[int, float]] = {}
        self.op_paused: set[str] = set()
        self._pid = 1000
        self.operator = Store(CFG, CLUSTER, client=SimClient(self.net.etcd, "operator"), watcher=SimWatcher)
        self.candidates = {s.name: list(s.candidates) for s in schedule.services}
        self.fence_agents = SimFenceAgents(self)      # the power switch a master's fence reaches

    # --- time -------------------------------------------------------------------

    def now(self) -> float:
        return self.loop.time() - self.t0

    def wall(self) -> float:
        return WALL0 + self.loop.time()

    # --- documents --------------------------------------------------------------

    def documents(self) -> list[dict]:
        s = self.schedule
        docs = [{"apiVersion": "overseer/v1", "kind": "Cluster", "metadata": {"name": CLUSTER},
                 "spec": {"hierarchy": list(SERVERS), "leaseTTL": f"{s.ttl}s",
                          "campaignDelay": f"{s.campaign_delay}s", "failoverMargin": f"{s.margin}s",
                          "defaults": {"interval": f"{s.interval}s", "timeout": "0.5s",
                                       "failAfter": s.fail_after, "recoverAfter": 1}}}]
        if s.failure_timeout != 600.0:   # the default, left out so older schedules stay as they were
            docs[0]["spec"]["defaults"]["failureTimeout"] = f"{s.failure_timeout:g}s"
        for i, server in enumerate(SERVERS):
            docs.append({"apiVersion": "overseer/v1", "kind": "Server", "metadata": {"name": server},
                         "spec": {"address": f"10.0.0.{i + 1}", "agentPort": 7480,
                                  "failureDomain": f"rack{i + 1}"}})
        for i, svc in enumerate(s.services):
            actuator = {"type": "process", "command": ["sim", svc.name], "promote": ["sim", "promote"],
                        "timeout": f"{s.actuator_timeout}s"}
            if svc.demote:
                actuator["demote"] = ["sim", "demote"]
            spec = {"standby": svc.standby, "replicas": svc.replicas,
                    "candidates": list(self.candidates[svc.name]), "actuator": actuator,
                    "checks": [{"name": "alive", "type": "process"}]}
            if svc.vip:
                spec["vip"] = {"address": f"10.0.9.{i + 1}/24", "interface": "eth0", "arpCount": svc.vip}
                self.addresses.service_of[spec["vip"]["address"]] = svc.name
            docs.append({"apiVersion": "overseer/v1", "kind": "Service", "metadata": {"name": svc.name},
                         "spec": spec})
        return with_fence_agents(s, docs)

    def apply(self) -> None:
        """`overseer apply` of the documents, through the real documents.apply."""
        sources = [Source("sim.yaml", i + 1, doc, model=MODELS[doc["kind"]].model_validate(doc))
                   for i, doc in enumerate(self.documents())]
        errors = check_documents(sources)
        if errors:
            raise ValueError("simulated documents do not validate: " + "; ".join(e.message for e in errors))
        documents.apply(self.operator, CLUSTER, sources, cfg=CFG)

    # --- the edges one agent is given --------------------------------------------

    def edges_for(self, server: str) -> Edges:
        lane = EtcdLane(self.net, server)

        def connect(cfg, cluster):
            client = SimClient(self.net.etcd, server)
            return Store(cfg, cluster, client=client, watcher=SimWatcher, lease_client=client)

        def actuator(service, spec, log_dir=None):
            return SimActuator(self, server, service, spec)

        async def ask_peer(peer: Peer, timeout: float, query: dict):
            return await self.ask_peer(server, peer, timeout, query)

        def fencer():
            self.fencers[server] = SimFencer(self, server)
            return self.fencers[server]

        # cpu: virtual time, as the pass cost was before it was CPU (the
        # simulator has no CPU; its schedules stay what they were)
        return Edges(etcd=lane, keepalive=lane, monotonic=self.loop.time, cpu=self.loop.time, wall=self.wall,
                     connect=connect,
                     actuator=actuator, addresses=SimIp(self, server), probe=lambda check, ctx: sim_probe(self, check, ctx),
                     ask_peer=ask_peer, fencer=fencer, fence=self.fence_agents,
                     healthz=lambda host, port, status: SimHealthz(self, server, status),
                     server_health=SimServerHealth, pgid=lambda pid: pid, hooks=lambda record: NoHooks())

    async def ask_peer(self, me: str, peer: Peer, timeout: float, query: dict) -> Reply | Unanswered:
        answer = self.healthz.get(peer.name)
        key = self.keys.get(peer.name)
        reachable = (me not in self.net.cut_peers and peer.name not in self.net.cut_peers
                     and answer is not None and key is not None and not self.loop.is_frozen(key))
        if not reachable:
            await asyncio.sleep(timeout)
            return Unanswered("silent")
        await asyncio.sleep(self.net.latency())
        coro = answer(query, Caller(me))
        task = self.loop.create_task(coro, context=self.contexts[peer.name].copy())
        try:
            return await asyncio.wait_for(asyncio.shield(task), timeout)
        except asyncio.TimeoutError:
            return Unanswered("silent")
        finally:
            # the peer was killed before its answer began: its first step lies in
            # the loop's graveyard, and the coroutine would warn "never awaited"
            if self.loop.is_killed(key) and inspect.getcoroutinestate(coro) == inspect.CORO_CREATED:
                coro.close()

    # --- agents as processes -----------------------------------------------------

    def start_agent(self, server: str) -> None:
        self.incarnation[server] += 1
        key = f"{server}#{self.incarnation[server]}"
        ctx = self.loop.context_for(key)
        self.keys[server], self.contexts[server] = key, ctx
        agent = ctx.run(Agent, CFG, server, CLUSTER, None, self.edges_for(server), peer_trust=PEER_TRUST)
        self.agents[server] = agent
        self.loop.create_task(agent.run(), context=ctx)
        self.trace.event(self.now(), server, f"agent started (incarnation {self.incarnation[server]})")

    def crash_agent(self, server: str) -> None:
        key = self.keys.pop(server, None)
        if key is None:
            return
        self.loop.kill(key)
        self.paused.discard(server)
        # the children die with their agent (parent-death signal); the fencer drops its addresses
        for actuator in self.actuators:
            if actuator.server == server and not actuator.closed:
                actuator.closed = True
                actuator.crash("agent killed", tell_agent=False)
        fencer = self.fencers.pop(server, None)
        if fencer:
            fencer.agent_died()
        self.healthz.pop(server, None)
        for watch in list(self.net.etcd.watches):
            if watch.server == server:
                watch.cancelled = True
                self.net.etcd.watches.remove(watch)
        self.agents.pop(server, None)

    def agent_context(self, server: str) -> contextvars.Context:
        ctx = self.contexts.get(server)
        return ctx.copy() if ctx is not None and server in self.keys else self.loop.context_for("gone")

    # --- the world's view of processes, for probes and the checker ----------------

    def new_pid(self, actuator: SimActuator) -> int:
        self._pid += 1
        return self._pid

    def actuator_of(self, server: str, service: str) -> Optional[SimActuator]:
        for actuator in reversed(self.actuators):
            if actuator.server == server and actuator.service == service and not actuator.closed:
                return actuator
        return None

    def kill_pid(self, pid: int, why: str) -> None:
        for actuator in self.actuators:
            if actuator.pid == pid:
                actuator.crash(why)

    def actuator_fault(self, server: str, service: str) -> Optional[str]:
        kind, until = self.act_faults.get((server, service), (None, 0.0))
        return kind if kind and self.now() < until else None

    def flapping(self, server: str, service: str) -> bool:
        count, until = self.flaps.get((server, service), (0, 0.0))
        if count > 0:
            self.flaps[(server, service)] = (count - 1, until)
            return True
        return self.now() < until

    def agent_up(self, server: str) -> bool:
        return server in self.keys and server not in self.paused

    # --- faults -------------------------------------------------------------------

    def at(self, t: float, fn, *args) -> None:
        self.loop.call_at(self.t0 + t, fn, *args, context=self.context)

    def plan(self, fault: Fault) -> None:
        self.at(fault.at, self._begin, fault)
        if fault.duration:
            self.at(fault.end, self._finish, fault)

    def _begin(self, f: Fault) -> None:
        self.checker.fault_began(f)   # what it promises, from what ran before it
        self.trace.event(self.now(), "sim", "fault: " + f.describe())
        k = f.kind
        if k == "proc_crash":
            actuator = self.actuator_of(f.server, f.service)
            if actuator is not None:
                actuator.crash("kill -9 (simulated crash)")
        elif k == "agent_crash":
            self.crash_agent(f.server)
        elif k == "agent_pause" and f.server in self.keys:
            self.paused.add(f.server)
            self.loop.freeze(self.keys[f.server])
        elif k == "etcd_down":
            self.net.set_etcd_down(True)
        elif k == "etcd_silent":
            self.net.set_etcd_silent(True)
        elif k == "cut":
            self.net.cut(f.server, f.etcd, f.peers)
        elif k == "slow":
            self.net.slow = max(self.net.slow, f.latency)
        elif k in ("act_hang", "act_fail"):
            self.act_faults[(f.server, f.service)] = (k[4:], f.end)
        elif k == "flap":
            self.flaps[(f.server, f.service)] = (1, f.end) if f.duration == 0 else (0, f.end)
        else:
            self._operator(f)

    def _finish(self, f: Fault) -> None:
        k = f.kind
        self.trace.event(self.now(), "sim", f"fault over: {k} {f.server or f.service}".rstrip())
        if k == "agent_crash" and f.server not in self.keys and f.server not in self.fence_agents.off:
            self.start_agent(f.server)   # overlapping crashes: one restart, when the first is over
        elif k == "agent_pause" and f.server in self.paused:
            self.paused.discard(f.server)
            self.loop.thaw(self.keys[f.server])
        elif k == "etcd_down":
            self.net.set_etcd_down(False)
        elif k == "etcd_silent":
            self.net.set_etcd_silent(False)
        elif k == "cut":
            self.net.heal(f.server)
        elif k == "slow":
            self.net.slow = 0.0
        elif k == "pause":
            self._resume(f.service)

    def _resume(self, service: str) -> None:
        # A person whose `overseer resume` failed (etcd down) runs it again; the
        # service stays paused until one gets through (the checker knew it as
        # resumed while it was still paused: seed 1515's "outage").
        if service not in self.op_paused:
            return
        if self._op(lambda: self.operator.set_paused(service, False), f"resume {service}"):
            self.op_paused.discard(service)
        else:
            self.loop.call_later(OPERATOR_RETRY, self._resume, service, context=self.context)

    def _operator(self, f: Fault) -> None:
        if f.kind == "switchover":
            request = SwitchoverRequest(f.service, f.to, self.wall())
            self._op(lambda: self.operator.request_switchover(request), f"switchover {f.service}")
        elif f.kind == "pause":
            if self._op(lambda: self.operator.set_paused(f.service, True), f"pause {f.service}"):
                self.op_paused.add(f.service)
        elif f.kind == "cleanup":
            servers = [f.server] if f.server else list(self.candidates[f.service])
            self._op(lambda: self.operator.delete_failures(f.service, servers),
                     f"cleanup {f.service}" + (f" --server {f.server}" if f.server else ""))
        elif f.kind == "apply":
            order = self.candidates[f.service]
            order.append(order.pop(0))
            if not self._op(self.apply, f"apply: {f.service} candidates now {', '.join(order)}"):
                # not applied: the cluster keeps the old order, and so does the
                # checker, which reads it from here (seed 676: a failover to the
                # first candidate of an order etcd never had read as misplaced)
                order.insert(0, order.pop())

    def _op(self, fn, what: str) -> bool:
        if self.net.etcd.down:
            self.trace.event(self.now(), "operator", f"{what}: etcd is down, the command fails")
            return False
        try:
            fn()
        except StoreError as exc:
            self.trace.event(self.now(), "operator", f"{what}: failed: {exc}")
            return False
        self.trace.event(self.now(), "operator", what)
        return True

    # --- running ------------------------------------------------------------------

    def _on_loop_error(self, loop, context: dict) -> None:
        exc = context.get("exception")
        task = context.get("task") or context.get("future")
        where = f" in {task.get_coro().__qualname__}" if hasattr(task, "get_coro") and task.get_coro() else ""
        self.checker.violation("crash", f"unhandled in the event loop{where}: {context.get('message')}: {exc!r}")

    async def _main(self) -> None:
        self.apply()
        for server in SERVERS:
            self.start_agent(server)
        for fault in self.schedule.faults:
            self.plan(fault)
        self.checker.start()
        await asyncio.sleep(self.schedule.end)

    def run(self) -> Checker:
        self.loop.set_exception_handler(self._on_loop_error)
        handler = self.trace.capture(self)
        try:
            self.loop.run_until_complete(self.loop.create_task(self._main(), context=self.context))
        finally:
            self.trace.release(handler)
            self.loop.set_exception_handler(lambda loop, context: None)
        self.checker.finish()
        return self.checker


class Trace:
    """The run's story: the world's events and every agent's own log lines,
    stamped with virtual time and the simulated process that wrote them."""

    def __init__(self, keep_logs: bool = True):
        self.lines: list[str] = []
        self.keep_logs = keep_logs

    def event(self, t: float, who: str, text: str) -> None:
        self.lines.append(f"{t:8.3f} {who:<8} {text}")

    def capture(self, world: World) -> logging.Handler:
        trace = self

        class _Handler(logging.Handler):
            def emit(self, record: logging.LogRecord) -> None:
                who = PROCESS.get() or "world"
                text = record.getMessage()
                if record.exc_info and record.levelno >= logging.ERROR:
                    world.checker.violation("crash", f"{who}: {text}: {record.exc_info[1]!r}")
                if record.levelno >= logging.CRITICAL:
                    world.checker.violation("crash", f"{who}: {text}")
                if trace.keep_logs:
                    trace.lines.append(f"{world.now():8.3f} {who:<8} {record.levelname[0]} {record.name.split('.')[-1]}: {text}")

        handler = _Handler(logging.INFO)
        root = logging.getLogger("overseer")
        self._saved = (root.level, root.propagate)
        root.setLevel(logging.INFO)
        root.propagate = False
        root.addHandler(handler)
        return handler

    def release(self, handler: logging.Handler) -> None:
        root = logging.getLogger("overseer")
        root.removeHandler(handler)
        root.setLevel(self._saved[0])
        root.propagate = self._saved[1]

    def text(self) -> str:
        return "\n".join(self.lines) + "\n"
