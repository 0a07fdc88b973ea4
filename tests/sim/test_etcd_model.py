"""The simulated etcd keeps etcd's own behaviour where it decides outcomes:
stalls, the lessor, leader changes, minority members, the client's endpoint
failover, fsync, compaction, late requests, and the servers' clocks.

Each test runs one scenario on virtual time: a simulated cluster, the
network lane one server's agent uses, and the simulated client surface.
"""
import asyncio
import contextvars
import random

import pytest

from overseer.desired.store.client import EtcdUnavailable, StoreError
from overseer.desired.store.errors import Rejected
from overseer.desired.store.leases import LeaseLost, _granted
from overseer.desired.store.sim_client import SimClient, SimWatcher
from overseer.reconciler.sim.loop import VirtualLoop
from overseer.reconciler.sim.network import EtcdLane, Network


class Rig:
    def __init__(self, members: int = 1, seed: int = 1, timeout: float = 1.0):
        self.loop = VirtualLoop()
        self.world = contextvars.Context()
        self.events: list[str] = []
        names = tuple(f"m{i + 1}" for i in range(members))
        self.net = Network(self.loop, random.Random(seed), self.world, names, random.Random(seed),
                           note=self.events.append)
        self.cluster = self.net.cluster
        self.lanes = {s: EtcdLane(self.net, s, lambda s=s: self.loop.context_for(f"{s}#1/io")) for s in ("s1", "s2")}
        self.clients = {s: SimClient(self.cluster, s, timeout=timeout) for s in ("s1", "s2")}

    def now(self) -> float:
        return self.loop.global_time()

    async def call(self, fn, *args, server: str = "s1"):
        return await self.lanes[server](fn, *args)

    async def renew(self, lease: int, server: str = "s1") -> int:
        client = self.clients[server]
        return _granted(await self.call(client.refresh_lease, lease, server=server), lease)

    async def grant(self, ttl: int = 3, server: str = "s1") -> int:
        client = self.clients[server]
        lease = (await self.call(client.lease, ttl, server=server)).id
        await self.call(client.put, f"/k/{server}", "v", lease, server=server)
        return lease

    def run(self, coro):
        return self.loop.run_until_complete(self.loop.create_task(coro, context=self.world))

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


def test_a_stalled_etcd_hangs_calls_then_revokes_every_lease_that_expired_by_wall_time():
    rig = Rig()

    async def scenario():
        lease = await rig.grant(ttl=3)
        rig.cluster.stall(rig.cluster.names, True)
        started = rig.now()
        with pytest.raises(EtcdUnavailable):
            await rig.renew(lease)
        hung = rig.now() - started
        # a renewal sent during the stall and still waiting when etcd resumes
        rig.clients["s2"].timeout = 10.0
        pending = asyncio.ensure_future(rig.call(rig.clients["s2"].refresh_lease, lease, server="s2"))
        await rig.sleep(3.5)
        rig.cluster.stall(rig.cluster.names, False)
        return hung, lease, pending

    hung, lease, pending = rig.run(scenario())
    assert hung == pytest.approx(1.0, abs=0.01)      # the client's timeout, not a refusal
    assert lease not in rig.cluster.etcd.leases        # revoked on resume, not extended
    assert b"/k/s1" not in rig.cluster.etcd.data
    assert any("expired: revoked" in e for e in rig.events)
    with pytest.raises(LeaseLost):
        _granted(rig.loop.run_until_complete(pending), lease)   # queued renewal: after the expiry check


def test_an_etcd_restart_extends_every_lease_as_a_new_leader_does():
    rig = Rig()

    async def scenario():
        lease = await rig.grant(ttl=3)
        rig.net.set_etcd_down(True)
        started = rig.now()
        with pytest.raises(EtcdUnavailable):
            await rig.renew(lease)
        refused = rig.now() - started
        await rig.sleep(4.0)
        rig.net.set_etcd_down(False)
        await rig.sleep(0.01)
        return refused, lease, await rig.renew(lease)

    refused, lease, ttl = rig.run(scenario())
    assert refused < 0.01                              # refused at once
    assert ttl == 3 and lease in rig.cluster.etcd.leases


def test_the_lessor_revokes_within_half_a_second_and_renews_no_expired_lease():
    rig = Rig()

    async def scenario():
        lease = await rig.grant(ttl=2)
        granted = rig.now()
        await rig.sleep(2.0 - (rig.now() - granted) + 1e-6)   # just past the expiry
        with pytest.raises(LeaseLost):
            await rig.renew(lease)                   # waits for the revocation: lease not found
        return rig.now() - granted

    answered = rig.run(scenario())
    assert 2.0 <= answered <= 2.5 + 0.01              # the lessor looks every 500 ms


def test_a_stalled_leader_is_replaced_and_its_clients_move_on_for_reads_only():
    rig = Rig(members=3, seed=3)
    cluster = rig.cluster

    async def scenario():
        lease = await rig.grant(ttl=5)
        leader = cluster.leader
        rig.clients["s1"].settle(leader)
        cluster.stall([leader], True)
        with pytest.raises(EtcdUnavailable):   # a write to the stopped member: no re-send
            await rig.call(rig.clients["s1"].put, "/x", "1")
        after_write = rig.clients["s1"].current
        value = await rig.call(rig.clients["s1"].get, "/k/s1")   # a read moves to the next member
        await rig.sleep(2.5)
        return leader, after_write, value, lease

    old, after_write, value, lease = rig.run(scenario())
    assert after_write == old                          # a timed-out write leaves the client where it was
    assert value[0] == b"v" and rig.clients["s1"].current != old
    assert cluster.leader != old and cluster.term == 2
    assert any("elected leader (term 2)" in e for e in rig.events)
    # Promote: every lease runs the election timeout plus its TTL from the election
    assert cluster.etcd.leases[lease].expires > rig.now() + 2.0


def test_a_minority_member_drops_writes_and_hangs_reads():
    rig = Rig(members=3, seed=5)
    cluster = rig.cluster

    async def scenario():
        follower = cluster.role("follower")
        rig.clients["s1"].settle(follower)
        cluster.isolate(follower, True)
        await rig.sleep(2.1)                      # its own election timeout passed
        with pytest.raises(Rejected, match="raft proposal dropped"):
            await rig.call(rig.clients["s1"].put, "/x", "1")
        started = rig.now()
        await rig.call(rig.clients["s1"].get, "/x")   # hangs there, then the next member answers
        return follower, rig.now() - started

    follower, took = rig.run(scenario())
    assert took == pytest.approx(1.0, abs=0.02)
    assert rig.clients["s1"].current != follower


def test_quorum_lost_and_regained_elects_a_leader_that_extends_every_lease():
    rig = Rig(members=3, seed=7)
    cluster = rig.cluster

    async def scenario():
        lease = await rig.grant(ttl=2)
        cluster.split(True)
        await rig.sleep(4.0)                     # longer than the lease
        cluster.split(False)
        await rig.sleep(2.5)
        return lease, await rig.renew(lease)

    lease, ttl = rig.run(scenario())
    assert ttl == 2 and cluster.term == 2


def test_slow_fsync_slows_writes_not_renewals():
    rig = Rig(timeout=3.0)

    async def scenario():
        lease = await rig.grant(ttl=5)
        rig.cluster.set_fsync(0.4)
        started = rig.now()
        await rig.call(rig.clients["s1"].put, "/y", "1")
        write = rig.now() - started
        started = rig.now()
        await rig.renew(lease)
        return write, rig.now() - started

    write, renewal = rig.run(scenario())
    assert 0.4 <= write <= 0.85
    assert renewal < 0.01


def test_a_write_whose_commit_outlasts_its_client_is_applied_after_the_client_gave_up():
    rig = Rig(timeout=0.5)

    async def scenario():
        rig.cluster.set_fsync(0.8)
        with pytest.raises(EtcdUnavailable):
            await rig.call(rig.clients["s1"].put, "/late", "1")
        gave_up_with = b"/late" in rig.cluster.etcd.data
        await rig.sleep(1.0)
        return gave_up_with, b"/late" in rig.cluster.etcd.data

    assert rig.run(scenario()) == (False, True)


def test_a_read_at_a_compacted_revision_is_rejected_and_a_watch_behind_it_is_reopened():
    rig = Rig()
    seen = []

    async def scenario():
        client = rig.clients["s1"]
        await rig.call(client.put, "/a", "1")
        old = rig.cluster.etcd.revision
        await rig.call(client.put, "/a", "2")
        rig.net.compact()
        with pytest.raises(StoreError, match="compacted"):
            await rig.call(client.get_range_response, "/", "0", old)

    rig.run(scenario())
    watcher = SimWatcher(rig.clients["s2"], "/w", seen.append, None)
    watcher.start()
    assert watcher.watch.member == "m1"


def test_a_servers_clock_runs_at_its_own_rate():
    rig = Rig()
    context = rig.loop.context_for("s1#1")

    async def sleeper():
        await asyncio.sleep(10.0)

    async def scenario():
        rig.loop.set_rate("s1", 1.02)            # its crystal is 2 % fast
        started = rig.now()
        await rig.loop.create_task(sleeper(), context=context)
        return rig.now() - started

    assert rig.run(scenario()) == pytest.approx(10.0 / 1.02, abs=1e-6)
