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
import random
from typing import Optional

from overseer.desired.store import documents
from overseer.desired.loader import Source
from overseer.desired.models import MODELS
from overseer.desired.store.client import EtcdConfig
from overseer.desired.store.sim_client import DirectClient, SimClient, SimWatcher
from overseer.desired.store.store import Store
from overseer.desired.validate import check_documents

from ..agent.agent import Agent
from ..agent.edges import Edges
from ..hooks.runner import NoHooks
from ..agent.failsafe import Caller, Peer, Reply, Unanswered
from ..agent.peer_auth import PeerKey, PeerTrust
from .checker import Checker
from .addresses import Addresses, SimIp
from .faults import Faults
from .fence_agents import SimFenceAgents, with_fence_agents
from .loop import VirtualLoop
from .network import EtcdLane, Network
from .procs import SimActuator, SimFencer, SimHealthz, SimServerHealth, sim_probe
from .replication import SimReplication, check_doc
from .schedule import SERVERS, Schedule
from .trace import Trace

CLUSTER = "sim"
WALL0 = 1_800_000_000.0   # the simulated wall clock's epoch
TIMEOUT = 3.0             # the agents' etcd timeout (EtcdConfig's default)
# every agent signs its failsafe questions and answers, as a real cluster's do
PEER_TRUST = PeerTrust(PeerKey(b"the simulated cluster's peer key, at least 32 bytes as a real one", "sim"))


class World:
    def __init__(self, schedule: Schedule, trace: "Trace", *, order: Optional[list] = None):
        self.schedule, self.trace = schedule, trace
        self.loop = VirtualLoop()
        self.t0 = self.loop.time()
        self.rng = random.Random(schedule.seed * 7919 + 17)   # runtime draws: latencies, step times
        # commands' partial work, the fencer's kill, `ip addr`: draws of their own, the above unchanged
        self.proc_rng = random.Random(schedule.seed * 7919 + 23)
        self.replication = SimReplication(schedule)   # each standby's lag, drifting: streams of its own
        self.context = contextvars.Context()                  # the world's own: never frozen
        members = tuple(f"m{i + 1}" for i in range(schedule.members))
        # every server lists every member, in one order (docs/etcd-production.md)
        self.cfg = EtcdConfig(endpoints=tuple(f"http://{m}:2379" for m in members), timeout=TIMEOUT)
        # etcd's own draws (elections, lessor ticks, late requests): a stream of their own
        self.net = Network(self.loop, self.rng, self.context, members, random.Random(schedule.seed * 7919 + 29),
                           note=lambda text: self.trace.event(self.now(), "etcd", text))
        self.checker = Checker(self)
        self.net.etcd.on_commit = self.checker.on_commit
        self.actuators: list[SimActuator] = []
        self.addresses = Addresses(self)
        self.healthz: dict[str, object] = {}
        self.fencers: dict[str, SimFencer] = {}
        self.agents: dict[str, Agent] = {}
        self.keys: dict[str, str] = {}          # server -> running incarnation's process key
        self.contexts: dict[str, contextvars.Context] = {}
        self.io_contexts: dict[str, contextvars.Context] = {}   # its etcd calls (threads, in production)
        self.incarnation = {s: 0 for s in SERVERS}
        self.stops: dict[str, set[str]] = {s: set() for s in SERVERS}   # why its agent does not run
        self.frozen_hosts: set[str] = set()     # agent, fencer and children all stopped
        self._hosts: dict[str, contextvars.Context] = {}   # what runs on a server beside its agent
        self.fencer_delay: dict[str, float] = {}
        self.wall_offset = {s: 0.0 for s in SERVERS}
        self.gone: set[str] = set()             # servers that do not come back (yet)
        self.act_faults: dict[tuple, tuple[str, float]] = {}
        self.flaps: dict[tuple, tuple[int, float]] = {}
        self.op_paused: set[str] = set()
        self._pid = 1000
        self.operator = Store(self.cfg, CLUSTER, client=DirectClient(self.net.cluster, "operator"),
                              watcher=SimWatcher)
        self.candidates = {s.name: list(s.candidates) for s in schedule.services}
        self.fence_agents = SimFenceAgents(self)      # the power switch a master's fence reaches
        self.faults = Faults(self)

    # --- time -------------------------------------------------------------------

    def now(self) -> float:
        return self.loop.global_time() - self.t0

    def wall(self) -> float:
        """The wall clock of the world (an operator's)."""
        return WALL0 + self.loop.global_time()

    def wall_of(self, server: str) -> float:
        """`server`'s wall clock: its own rate, and any steps it took."""
        return WALL0 + self.loop.local_time(server) + self.wall_offset[server]

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
            alive = {"name": "alive", "type": "process"}
            spec = {"standby": svc.standby, "replicas": svc.replicas,
                    "candidates": list(self.candidates[svc.name]), "actuator": actuator,
                    "checks": [alive] + [c for c in (check_doc(svc),) if c]}
            if svc.requires:
                spec["requires"] = list(svc.requires)
            if svc.colocate:
                spec["colocateWith"] = svc.colocate
            if svc.grace:
                (alive if svc.grace_on_check else spec)["startupGrace"] = f"{svc.grace:g}s"
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
        documents.apply(self.operator, CLUSTER, sources, cfg=self.cfg)

    # --- the edges one agent is given --------------------------------------------

    def edges_for(self, server: str) -> Edges:
        lane = EtcdLane(self.net, server, lambda: self.io_contexts[server].copy())
        connector = SimClient.connector(self.net.cluster, server)

        def connect(cfg, cluster):
            # client.connect's status call, then the Store; the lease channel
            # connects again with its own timeout (leases.py)
            return Store(cfg, cluster, client=connector(cfg), watcher=SimWatcher, connector=connector)

        def actuator(service, spec, log_dir=None):
            return SimActuator(self, server, service, spec)

        async def ask_peer(peer: Peer, timeout: float, query: dict):
            return await self.ask_peer(server, peer, timeout, query)

        def fencer():
            self.fencers[server] = SimFencer(self, server)
            return self.fencers[server]

        # cpu: virtual time, as the pass cost was before it was CPU (the
        # simulator has no CPU; its schedules stay what they were)
        return Edges(etcd=lane, keepalive=lane, monotonic=self.loop.time, cpu=self.loop.time,
                     wall=lambda: self.wall_of(server), connect=connect,
                     actuator=actuator, addresses=SimIp(self, server), probe=lambda check, ctx: sim_probe(self, check, ctx),
                     ask_peer=ask_peer, fencer=fencer, fence=self.fence_agents,
                     healthz=lambda host, port, status: SimHealthz(self, server, status),
                     server_health=SimServerHealth, pgid=lambda pid: pid, hooks=lambda record: NoHooks())

    async def ask_peer(self, me: str, peer: Peer, timeout: float, query: dict) -> Reply | Unanswered:
        answer = self.healthz.get(peer.name)
        key = self.keys.get(peer.name)
        reachable = (self.net.reaches_peer(me, peer.name) and answer is not None and key is not None
                     and not self.loop.is_frozen(key))
        if not reachable:
            await asyncio.sleep(timeout)
            return Unanswered("silent")
        await asyncio.sleep(self.net.latency())
        # the answer is the peer's work: it runs, late or never, as its process does
        # (killed before it began, or frozen when the run ends, it never begins)
        task = self.loop.create_task(answer(query, Caller(me)), context=self.contexts[peer.name].copy())
        try:
            return await asyncio.wait_for(asyncio.shield(task), timeout)
        except asyncio.TimeoutError:
            return Unanswered("silent")

    # --- agents as processes -----------------------------------------------------

    def start_agent(self, server: str) -> None:
        self.incarnation[server] += 1
        key = f"{server}#{self.incarnation[server]}"
        ctx = self.loop.context_for(key)
        self.keys[server], self.contexts[server] = key, ctx
        self.io_contexts[server] = self.loop.context_for(key + "/io")
        self.stops[server].clear()
        agent = ctx.run(Agent, self.cfg, server, CLUSTER, None, self.edges_for(server), peer_trust=PEER_TRUST)
        self.agents[server] = agent
        self.loop.create_task(agent.run(), context=ctx)
        self.trace.event(self.now(), server, f"agent started (incarnation {self.incarnation[server]})")

    def crash_agent(self, server: str) -> None:
        key = self.keys.pop(server, None)
        if key is None:
            return
        self.loop.kill(key)
        self.loop.kill(key + "/io")
        self.stops[server].clear()
        if server in self.frozen_hosts:   # powered off while frozen: nothing of it waits to thaw
            self.frozen_hosts.discard(server)
            self.loop.thaw(f"{server}#host")
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
        """The fencer's SIGKILL; a late one's lands `fencer_delay` later (a
        child in uninterruptible sleep)."""
        for actuator in self.actuators:
            if actuator.pid != pid:
                continue
            server = actuator.server
            if self.fencer_delay.get(server, 0.0) > 0:
                self.loop.call_at_global(self.loop.global_time() + self.fencer_delay[server], self._kill_now,
                                         pid, why, context=self.context)
            else:
                actuator.crash(why)

    def _kill_now(self, pid: int, why: str) -> None:
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
        return server in self.keys and not self.stops[server]

    @property
    def paused(self) -> set[str]:
        """Servers whose agent is stopped (SIGSTOP, frozen, or its loop blocked)."""
        return {server for server, why in self.stops.items() if why}

    # --- stopping and freezing processes ------------------------------------------

    def stop(self, server: str, why: str) -> None:
        """SIGSTOP ("pause", "freeze": the agent and its etcd calls) or a blocked
        event loop ("block": its calls on threads go on) of `server`'s agent."""
        key = self.keys.get(server)
        if key is None:
            return
        self.stops[server].add(why)
        self.loop.freeze(key)
        if why != "block":
            self.loop.freeze(key + "/io")

    def cont(self, server: str, why: str) -> None:
        key = self.keys.get(server)
        reasons = self.stops[server]
        if key is None or why not in reasons:
            return
        reasons.discard(why)
        if not reasons & {"pause", "freeze"}:
            self.loop.thaw(key + "/io")
        if not reasons:
            self.loop.thaw(key)

    def host_context(self, server: Optional[str]) -> contextvars.Context:
        """What runs on `server` beside its agent (its fencer, its children's
        commands): outlives the agent, stops with the host. The world's own
        context for anything not on a server."""
        if server not in self.stops:
            return self.context
        if server not in self._hosts:
            self._hosts[server] = self.loop.context_for(f"{server}#host")
        return self._hosts[server]

    def freeze_host(self, server: str) -> None:
        """A whole-host freeze (a VM pause): agent, fencer, children and kernel.
        Its children cannot act (the checker counts no active and no address
        of a frozen host) and its fencer cannot kill."""
        self.frozen_hosts.add(server)
        self.loop.freeze(f"{server}#host")
        self.stop(server, "freeze")

    def thaw_host(self, server: str) -> None:
        """Everything resumes at once: the children act at once, the fencer's
        overdue kill lands the moment it takes, whatever the agent does next."""
        if server not in self.frozen_hosts:
            return
        self.frozen_hosts.discard(server)
        self.checker.thawed(server)
        self.loop.thaw(f"{server}#host")
        self.cont(server, "freeze")

    # --- faults -------------------------------------------------------------------

    def at(self, t: float, fn, *args) -> None:
        self.loop.call_at_global(self.t0 + t, fn, *args, context=self.context)

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
            self.faults.plan(fault)
        self.checker.start()
        await asyncio.sleep(self.schedule.end)

    def run(self) -> Checker:
        self.loop.set_exception_handler(self._on_loop_error)
        handler = self.trace.capture(self)
        try:
            self.loop.run_until_complete(self.loop.create_task(self._main(), context=self.context))
        finally:
            self.loop.end()
            self.trace.release(handler)
            self.loop.set_exception_handler(lambda loop, context: None)
        self.checker.finish()
        return self.checker
