"""Failsafe vouches: a peer that told an asker "etcd is gone here too" moves
none of the asker's actives while the asker may still keep them on that word.

The whole path runs in the simulator (tests/sim: a master that ignores its
vouches is found on silent-etcd schedules) and on real agents across network
namespaces (test_netns.py: etcd cut off from everyone keeps the actives);
these are the unit facts underneath. Who may ask and answer: test_peer_desk.py.
"""
from __future__ import annotations


import pytest

from overseer.desired.state import Assignment, ClusterSnapshot, MasterRecord, ServerRecord
from overseer.reconciler.agent.failsafe import Peer, Vouches, everyone_lost_etcd
from overseer.reconciler.master import MasterLoop
from overseer.reconciler.planner.master_pass import MasterMemory
from tests.reconciler.planner_world import desired, service

SERVERS = {"a": "", "b": "", "c": ""}


def test_a_vouch_lasts_until_its_moment_and_only_grows():
    vouches = Vouches()
    vouches.vouch("b", 110.0)
    vouches.vouch("b", 105.0)   # an earlier answer never shortens a later one
    assert vouches.active(100.0) == {"b": 110.0}
    assert vouches.active(110.0) == {}


def test_a_fresh_agent_counts_everyone_as_vouched_for_a_lease():
    # It may have vouched just before it was restarted, and remembers nothing.
    vouches = Vouches()
    vouches.everyone_until(110.0)
    vouches.vouch("c", 112.0)
    assert vouches.active(100.0, ["b", "c"]) == {"b": 110.0, "c": 112.0}
    assert vouches.active(109.9) == {"c": 112.0}         # only the servers it is told of
    assert vouches.active(110.0, ["b", "c"]) == {"c": 112.0}


def _snapshot(live: list[str]) -> ClusterSnapshot:
    state = desired(SERVERS, [service("pbx", ["b", "c"])])
    return ClusterSnapshot(cluster="t", revision=10, desired=state,
                           servers={s: ServerRecord(name=s) for s in live},
                           master=MasterRecord(server="a", epoch=5), observations={}, reports={},
                           assignments={"pbx": Assignment("pbx", ("b",), ("c",), epoch=5, reason="placed", time=50.0)})


def _active_of(actions) -> tuple:
    moves = [a for a in actions if getattr(a, "service", None) == "pbx" and hasattr(a, "active")]
    return moves[-1].active if moves else ()


@pytest.mark.parametrize("vouched", [False, True])
def test_master_keeps_a_vouched_servers_actives_until_the_vouch_ends(vouched):
    now = {"t": 100.0}
    until = 104.0
    loop = MasterLoop(store=None, master=MasterRecord(server="a", epoch=5), clock=lambda: now["t"],
                      vouched=lambda t: {"b": until} if vouched and t < until else {})
    loop.memory = MasterMemory.long_running(loop.epoch)
    gone = _snapshot(["a", "c"])                       # b's lease expired in etcd
    now["t"] = 101.0                                   # margin (0.5 s) long past the first sight at 100
    loop.decisions(gone, 100.0)
    early = loop.decisions(gone, 101.0)
    if not vouched:
        assert _active_of(early) == ("c",), early     # without a vouch: moved after the margin
        return
    assert _active_of(early) == (), early              # b may still run it on our word
    assert 0 < loop.wakeup_after(gone, 101.0) <= until + 0.5 - 101.0
    late = loop.decisions(gone, until + 0.6)
    assert _active_of(late) == ("c",), late            # vouch plus margin over: moved


@pytest.mark.asyncio
async def test_a_peer_that_cannot_tell_extends_nothing():
    async def unsure(peer, timeout):
        return {"server": peer.name, "etcd": None}
    verdict = await everyone_lost_etcd([Peer("b", "x", 1), Peer("c", "x", 1)], 1.0, ask=unsure)
    assert not verdict.keep and "cannot tell" in verdict.why
