"""Playing a schedule's faults and operator actions at their virtual times.

Each kind's effect on the world is in docs/testing.md's table of fault kinds.
A fault naming the etcd "leader" or a "follower" means whoever that is when
it begins (SimCluster.role); it ends on the same members.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from overseer.desired.state import SwitchoverRequest
from overseer.desired.store.client import StoreError

from .schedule import Fault

if TYPE_CHECKING:
    from .world import World

OPERATOR_RETRY = 1.0  # virtual seconds before a person runs a failed command again


class Faults:
    def __init__(self, world: "World"):
        self.world, self.net, self.cluster = world, world.net, world.net.cluster
        self.members: dict[Fault, list[str]] = {}   # the etcd members a fault took, when it began
        self.fsync: list[float] = []                # slow disks now (the slowest counts)

    def plan(self, fault: Fault) -> None:
        self.world.at(fault.at, self.begin, fault)
        if fault.duration and fault.end != float("inf"):
            self.world.at(fault.end, self.finish, fault)

    def begin(self, f: Fault) -> None:
        w, net, k = self.world, self.net, f.kind
        w.checker.fault_began(f)   # what it promises, from what ran before it
        w.trace.event(w.now(), "sim", "fault: " + f.describe())
        if k == "proc_crash":
            actuator = w.actuator_of(f.server, f.service)
            if actuator is not None:
                actuator.crash("kill -9 (simulated crash)")
        elif k == "agent_crash":
            w.crash_agent(f.server)
        elif k == "server_gone":
            w.gone.add(f.server)
            w.crash_agent(f.server)
        elif k == "agent_pause":
            w.stop(f.server, "pause")
        elif k == "loop_block":
            w.stop(f.server, "block")
        elif k == "host_freeze":
            w.freeze_host(f.server)
        elif k == "fencer_late":
            w.fencer_delay[f.server] = f.latency
        elif k == "clock_rate":
            w.loop.set_rate(f.server, f.rate)
        elif k == "wall_step":
            w.wall_offset[f.server] += f.step
        elif k == "etcd_down":
            net.set_etcd_down(True)
        elif k == "etcd_silent":
            net.set_etcd_silent(True)
        elif k == "cut":
            net.cut(f.server, f.etcd, f.peers)
        elif k == "slow":
            net.slow = max(net.slow, f.latency)
        elif k in ("act_hang", "act_fail"):
            w.act_faults[(f.server, f.service)] = (k[4:], f.end)
        elif k == "vip_fail":
            w.addresses.refuse(f.server, f.end)
        elif k == "flap":
            w.flaps[(f.server, f.service)] = (1, f.end) if f.duration == 0 else (0, f.end)
        elif k.startswith("etcd_") or k in ("peer_oneway",):
            self._etcd(f, True)
        else:
            self._operator(f)

    def finish(self, f: Fault) -> None:
        w, net, k = self.world, self.net, f.kind
        w.trace.event(w.now(), "sim", f"fault over: {k} {f.server or f.service}".rstrip())
        if k in ("agent_crash", "server_gone"):
            if k == "server_gone":
                w.gone.discard(f.server)
            if f.server not in w.keys and f.server not in w.gone and f.server not in w.fence_agents.off:
                w.start_agent(f.server)   # overlapping crashes: one restart, when the first is over
        elif k == "agent_pause":
            w.cont(f.server, "pause")
        elif k == "loop_block":
            w.cont(f.server, "block")
        elif k == "host_freeze":
            w.thaw_host(f.server)
        elif k == "fencer_late":
            w.fencer_delay.pop(f.server, None)
        elif k == "clock_rate":
            w.loop.set_rate(f.server, 1.0)
        elif k == "etcd_down":
            net.set_etcd_down(False)
        elif k == "etcd_silent":
            net.set_etcd_silent(False)
        elif k == "cut":
            net.heal(f.server)
        elif k == "slow":
            net.slow = 0.0
        elif k == "pause":
            self._resume(f.service)
        elif k.startswith("etcd_") or k in ("peer_oneway",):
            self._etcd(f, False)

    # --- etcd and its links ---------------------------------------------------------

    def _etcd(self, f: Fault, on: bool) -> None:
        net, cluster, k = self.net, self.cluster, f.kind
        if on:
            self.members[f] = self._take(f)
        members = self.members.get(f, [])
        if k in ("etcd_stall", "etcd_leader_stall", "etcd_member_stall"):
            cluster.stall(members, on)
        elif k == "etcd_quorum":
            if f.how == "split":
                cluster.split(on)
            elif f.how == "stall":
                cluster.stall(members, on)
            else:
                for m in members:
                    (cluster.kill if on else cluster.restart)(m)
        elif k == "etcd_member_down":
            (cluster.kill if on else cluster.restart)(members[0])
        elif k == "etcd_minority":
            cluster.isolate(members[0], on)
        elif k == "etcd_link":
            net.block([(f.server, members[0]), (members[0], f.server)], on)
        elif k == "etcd_oneway":
            pairs = [(f.server, m) if f.how == "requests" else (m, f.server) for m in cluster.names]
            net.block(pairs, on)
        elif k == "etcd_fsync":
            (self.fsync.append if on else self.fsync.remove)(f.latency)
            cluster.set_fsync(max(self.fsync, default=0.0))
        elif k == "etcd_compact":
            net.compact()
        elif k == "peer_oneway":
            (net.peer_blocked.add if on else net.peer_blocked.discard)((f.server, f.to))

    def _take(self, f: Fault) -> list[str]:
        """The members a fault takes, decided when it begins."""
        cluster = self.cluster
        if f.kind == "etcd_stall":
            return list(cluster.names)
        if f.kind == "etcd_quorum":
            survivor = cluster.rng.choice(cluster.names)
            return [m for m in cluster.names if m != survivor]
        if f.member:
            m = cluster.role(f.member)
            self.world.trace.event(self.world.now(), "etcd", f"{f.kind}: {f.member} is {m}")
            return [m]
        return []

    # --- the operator ----------------------------------------------------------------

    def _resume(self, service: str) -> None:
        # A person whose `overseer resume` failed (etcd down) runs it again; the
        # service stays paused until one gets through (the checker knew it as
        # resumed while it was still paused: seed 1515's "outage").
        w = self.world
        if service not in w.op_paused:
            return
        if self._op(lambda: w.operator.set_paused(service, False), f"resume {service}"):
            w.op_paused.discard(service)
        else:
            w.loop.call_later(OPERATOR_RETRY, self._resume, service, context=w.context)

    def _operator(self, f: Fault) -> None:
        w = self.world
        if f.kind == "switchover":
            request = SwitchoverRequest(f.service, f.to, w.wall())
            self._op(lambda: w.operator.request_switchover(request), f"switchover {f.service}")
        elif f.kind == "pause":
            if self._op(lambda: w.operator.set_paused(f.service, True), f"pause {f.service}"):
                w.op_paused.add(f.service)
        elif f.kind == "cleanup":
            servers = [f.server] if f.server else list(w.candidates[f.service])
            self._op(lambda: w.operator.delete_failures(f.service, servers),
                     f"cleanup {f.service}" + (f" --server {f.server}" if f.server else ""))
        elif f.kind == "apply":
            order = w.candidates[f.service]
            order.append(order.pop(0))
            if not self._op(w.apply, f"apply: {f.service} candidates now {', '.join(order)}"):
                # not applied: the cluster keeps the old order, and so does the
                # checker, which reads it from here (seed 676: a failover to the
                # first candidate of an order etcd never had read as misplaced)
                order.insert(0, order.pop())

    def _op(self, fn, what: str) -> bool:
        w = self.world
        try:
            fn()
        except StoreError as exc:
            w.trace.event(w.now(), "operator", f"{what}: failed: {exc}")
            return False
        w.trace.event(w.now(), "operator", what)
        return True
