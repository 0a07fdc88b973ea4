"""Numbers the docs state, read from the docs and checked against what the code does.

docs/design-choices.md said actives fence at 80% of the TTL while presence.py
let them run to 95% during a peer query; such a drift now fails here. Each
number is parsed out of the sentence an operator reads, then the agent's
presence (with a fake clock and a fake store) is driven to just before and
just after it.
"""
from __future__ import annotations

import asyncio
import re
import sys
from pathlib import Path

import pytest

from overseer.desired.models import ClusterSpec
from overseer.desired.state import ServerRecord
from overseer.desired.store.client import EtcdUnavailable
from overseer.reconciler.agent.presence import Presence

DOCS = Path(__file__).resolve().parents[1] / "docs"
TTL = 0.4  # the presence loop ticks every TTL/8 of real time (at least 0.1 s): keep it short


def stated(doc: str, pattern: str) -> str:
    text = " ".join((DOCS / doc).read_text().split())  # sentences wrap anywhere
    found = re.search(pattern, text)
    assert found, f"docs/{doc} no longer says {pattern!r}: update the doc and this test together"
    return found.group(1)


LEGITIMATE = float(stated("design-choices.md", r"legitimate until \*\*(\d+)% of the TTL\*\* after the last renewal"))
WHILE_ASKING = float(stated("design-choices.md", r"\*\*(\d+)%\*\* while it is asking its peers"))
ASK_FROM = {"half": 50.0}[stated("design-choices.md", r"from (half) the TTL without a renewal, an agent asks")]
FENCER = float(stated("design-choices.md", r"vouches for its active supervised children for (\d+)% of the lease"))
MARGIN_MS = float(stated("design-choices.md", r"`failoverMargin` \(default (\d+) ms\)"))


class Clock:
    """A clock the test sets; counts how often the deadline guard has read it."""

    def __init__(self) -> None:
        self.now, self.guard_reads = 0.0, 0

    def __call__(self) -> float:
        if sys._getframe(1).f_code.co_name == "_deadline_guard":
            self.guard_reads += 1
        return self.now

    async def set_and_let_the_guard_look(self, now: float) -> None:
        self.now, seen = now, self.guard_reads
        await until(lambda: self.guard_reads >= seen + 2, f"the deadline guard to read t={now}")


class EtcdGone:
    """The store after registering: every keep-alive finds etcd unreachable."""

    def __init__(self) -> None:
        self.keepalives = 0

    def dedicate_lease_channel(self, timeout: float) -> None:
        pass

    def grant_lease(self, ttl: float) -> int:
        return 1

    def put_server(self, record, lease) -> None:
        pass

    def keepalive(self, lease) -> int:
        self.keepalives += 1
        raise EtcdUnavailable("etcd: connection refused")

    def rescue_keepalive(self, lease, timeout: float) -> int:
        return self.keepalive(lease)


async def until(predicate, what: str, timeout: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.01)


async def fence_moment(peers_answer: bool) -> tuple[list, list]:
    """Register at t=0 with etcd gone; check the peers are asked from the documented
    moment and the actives fenced at the documented one; returns (fences, vouches)."""
    clock, fenced, vouched, asked = Clock(), [], [], asyncio.Event()

    async def failsafe():
        asked.set()
        if not peers_answer:
            await asyncio.Event().wait()  # peers silent: the query hangs
        return False, True  # a peer still reaches etcd: nothing is extended

    async def on_fence(why: str) -> None:
        fenced.append((clock.now, why))

    async def nothing() -> None:
        pass

    store = EtcdGone()
    presence = Presence(store, lambda: ServerRecord(name="s"), TTL, on_fence, failsafe, nothing,
                        vouch=vouched.append, clock=clock)
    await presence.register()
    runner = asyncio.create_task(presence.run())
    try:
        deadline = (WHILE_ASKING if not peers_answer else LEGITIMATE) / 100 * TTL
        clock.now, tries = ASK_FROM / 100 * TTL - 0.01, store.keepalives
        await until(lambda: store.keepalives >= tries + 2, "two failed keep-alives just before")
        assert not asked.is_set(), "asked the peers before the documented moment"
        clock.now = ASK_FROM / 100 * TTL
        await until(asked.is_set, "the failsafe query of the peers")
        await clock.set_and_let_the_guard_look(deadline - 0.01)
        assert fenced == [], f"fenced before {deadline / TTL:.0%} of the TTL"
        clock.now = deadline + 0.001
        await until(lambda: fenced, f"fencing at {deadline / TTL:.0%} of the TTL")
        return fenced, vouched
    finally:
        runner.cancel()
        await asyncio.gather(runner, return_exceptions=True)


@pytest.mark.timeout(30)
def test_cut_off_alone_actives_fence_at_the_documented_share_of_the_ttl():
    fenced, vouched = asyncio.run(fence_moment(peers_answer=True))
    assert len(fenced) == 1
    # the fencer process is told the same story: legitimate for FENCER% from the renewal at t=0
    assert vouched[0] == pytest.approx(FENCER / 100 * TTL)


@pytest.mark.timeout(30)
def test_while_the_peers_are_asked_actives_fence_at_the_documented_later_share():
    fenced, _ = asyncio.run(fence_moment(peers_answer=False))
    assert len(fenced) == 1


def test_failover_margin_default_is_the_documented_one():
    assert ClusterSpec(hierarchy=["a"]).failoverMargin == pytest.approx(MARGIN_MS / 1000)


def test_the_peer_ports_bounds_are_the_documented_ones():
    from overseer.reconciler.agent import healthz, peer_auth, peer_desk  # noqa: PLC0415

    assert float(stated("design-choices.md", r"dated within (\d+) s of our clock")) == peer_auth.MAX_SKEW
    assert float(stated("operations.md", r"dated within (\d+) s of the reader's clock")) == peer_auth.MAX_SKEW
    assert float(stated("design-choices.md", r"none while the last result is under ([\d.]+) s old")) \
        == peer_desk.MAX_AGE
    assert int(stated("design-choices.md", r"At most (\d+) connections at once")) == healthz.MAX_CONNECTIONS
    assert int(stated("operations.md", r"it accepts at most (\d+) connections at once")) == healthz.MAX_CONNECTIONS
    assert float(stated("design-choices.md", r"a request must arrive whole within (\d+) s")) \
        == healthz.REQUEST_DEADLINE
    assert int(stated("operations.md", r"shorter than (\d+) bytes")) == peer_auth.KEY_MIN_BYTES
