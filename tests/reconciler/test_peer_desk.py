"""peer_desk.py over a real loopback socket: the agent's failsafe questions and
answers through peer_client.py and healthz.py, as between two agents.

What a forged, replayed or unsigned exchange gets (nothing that counts, no
vouch), what the network-trusting and the keyless agent do, and that the
answer comes from one cached etcd probe however many ask.
"""
from __future__ import annotations

import asyncio
import json
import time
from urllib.parse import urlencode

import pytest

from overseer.desired.store.client import EtcdUnavailable
from overseer.reconciler.agent import peer_auth
from overseer.reconciler.agent.failsafe import Peer, Reply, Unanswered
from overseer.reconciler.agent.healthz import HttpEndpoint
from overseer.reconciler.agent.peer_auth import PeerKey, PeerTrust
from overseer.reconciler.agent.peer_client import ask_peer
from overseer.reconciler.agent.peer_desk import EtcdProbe, PeerDesk, announce

KEY = PeerTrust(PeerKey(b"s" * 48, "test"))


class Side:
    """One agent's desk: etcd refuses it (so it answers "gone" and vouches)."""

    def __init__(self, name: str, trust: PeerTrust, etcd: str = "refused"):
        self.name, self.vouched, self.calls = name, [], 0
        self.etcd = etcd

        async def call():
            self.calls += 1
            if self.etcd == "refused":
                raise EtcdUnavailable("connection refused")
            if self.etcd == "slow":
                await asyncio.sleep(5)
        loop = asyncio.get_running_loop()
        self.desk = PeerDesk(name, trust, ask_peer, time.time,
                             EtcdProbe(call, loop.time), keepalives_ok=lambda: False,
                             vouch=self.vouched.append)

    async def serve(self) -> Peer:
        self.endpoint = HttpEndpoint("127.0.0.1", 0, {"/healthz": self.desk.answer})
        assert await self.endpoint.start()
        return Peer(self.name, "127.0.0.1", self.endpoint.bound_port)


async def _raw(port: int, request: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(request)
    await writer.drain()
    answer = await asyncio.wait_for(reader.read(), 5)
    writer.close()
    return answer


async def test_signed_exchange_counts_and_the_peer_vouches_for_the_asker():
    a, b = Side("a", KEY), Side("b", KEY)
    peer = await b.serve()
    try:
        assert await a.desk.ask(peer, 2.0) == {"server": "b", "etcd": False}
        verdict = await a.desk.verdict([peer], 2.0)
        assert verdict.keep, verdict
    finally:
        await b.endpoint.close()
    assert b.vouched == ["a", "a"]


async def test_another_key_counts_as_no_answer_and_makes_no_vouch():
    a, b = Side("a", PeerTrust(PeerKey(b"x" * 48, "other"))), Side("b", KEY)
    peer = await b.serve()
    try:
        answer = await a.desk.ask(peer, 2.0)
        verdict = await a.desk.verdict([peer], 2.0)
    finally:
        await b.endpoint.close()
    assert isinstance(answer, Unanswered) and "401" in answer.why and "does not verify" in answer.why, answer
    assert not verdict.keep and "no answer that counts from b" in verdict.why, verdict
    assert b.vouched == []


async def test_an_unsigned_question_gets_401_and_no_vouch():
    b = Side("b", KEY)
    peer = await b.serve()
    try:
        raw = await _raw(peer.port, b"GET /healthz?from=a HTTP/1.0\r\n\r\n")
    finally:
        await b.endpoint.close()
    assert raw.startswith(b"HTTP/1.0 401 "), raw
    assert b"unsigned question" in raw and b.vouched == []


async def test_a_recorded_question_sent_again_is_refused():
    b = Side("b", KEY)
    peer = await b.serve()
    question = peer_auth.ask(KEY, "a", "b", time.time())
    request = f"GET /healthz?{urlencode(question.params())} HTTP/1.0\r\n\r\n".encode()
    try:
        first = await _raw(peer.port, request)
        again = await _raw(peer.port, request)
    finally:
        await b.endpoint.close()
    assert first.startswith(b"HTTP/1.0 200 ") and again.startswith(b"HTTP/1.0 401 "), (first, again)
    assert b"replayed" in again and b.vouched == ["a"]


async def test_an_impostor_answer_does_not_count():
    """Whoever answers on the peer's address without the key: believed by the
    agent before keys (it answered as "mallory" and kept a cut-off server's
    actives); now no answer, whatever it claims."""
    async def impostor(query, client):
        return Reply(200, json.dumps({"server": "b", "etcd": False}).encode(),
                     {peer_auth.ANSWER_TIME: repr(time.time()), peer_auth.ANSWER_MAC: "0" * 64})
    endpoint = HttpEndpoint("127.0.0.1", 0, {"/healthz": impostor})
    assert await endpoint.start()
    a = Side("a", KEY)
    try:
        verdict = await a.desk.verdict([Peer("b", "127.0.0.1", endpoint.bound_port)], 2.0)
    finally:
        await endpoint.close()
    assert not verdict.keep and "does not verify" in verdict.why, verdict


DEEP = b"[" * 15000    # within the answer's 16 KiB, far past json's recursion limit


@pytest.mark.parametrize("trust, status, body, headers, says", [
    (KEY, 200, b'{"server": "b", "etcd": false}', {peer_auth.ANSWER_MAC: "\u00e9" * 64}, "does not verify"),
    (KEY, 401, DEEP, {}, "HTTP status 401"),
    (KEY, 401, b'{"error": ' + DEEP, {}, "HTTP status 401"),
    (peer_auth.TRUSTS_NETWORK, 200, DEEP, {}, "not JSON"),
], ids=["non-ASCII MAC", "deep error page", "deep error field", "deep answer, network trusted"])
async def test_whatever_an_impostor_answers_is_no_answer_never_an_exception(trust, status, body, headers, says):
    """Whoever answers on a peer's address, before any key is checked: a MAC
    hmac cannot compare (non-ASCII), or JSON nested past Python's recursion
    limit, once escaped the asker's query as a TypeError or RecursionError."""
    async def impostor(query, client):
        return Reply(status, body, {peer_auth.ANSWER_TIME: repr(time.time()), **headers})
    endpoint = HttpEndpoint("127.0.0.1", 0, {"/healthz": impostor})
    assert await endpoint.start()
    a = Side("a", trust)
    try:
        verdict = await a.desk.verdict([Peer("b", "127.0.0.1", endpoint.bound_port)], 2.0)
    finally:
        await endpoint.close()
    assert not verdict.keep and "no answer that counts from b" in verdict.why and says in verdict.why, verdict


async def test_a_question_with_a_mac_that_is_no_hex_gets_401_and_no_vouch():
    b = Side("b", KEY)
    peer = await b.serve()
    question = peer_auth.ask(KEY, "a", "b", time.time())
    params = dict(question.params(), mac="\u00e9" * 64)    # percent-encoded UTF-8 on the wire
    try:
        raw = await _raw(peer.port, f"GET /healthz?{urlencode(params)} HTTP/1.0\r\n\r\n".encode())
    finally:
        await b.endpoint.close()
    assert raw.startswith(b"HTTP/1.0 401 ") and b"does not verify" in raw, raw
    assert b.vouched == []


async def test_trusting_the_network_still_checks_status_and_name():
    trust = peer_auth.TRUSTS_NETWORK
    a, b = Side("a", trust), Side("b", trust)
    peer = await b.serve()
    try:
        assert (await a.desk.verdict([peer], 2.0)).keep
        wrong = await a.desk.ask(Peer("c", peer.address, peer.port), 2.0)   # b answers where c was asked
    finally:
        await b.endpoint.close()
    assert isinstance(wrong, Unanswered) and "not from 'c'" in wrong.why
    assert b.vouched == ["a", "a"]   # unsigned askers are believed: that is what trusting the network means


async def test_without_a_key_failsafe_is_off_on_both_sides():
    a, b = Side("a", peer_auth.OFF), Side("b", peer_auth.OFF)
    peer = await b.serve()
    try:
        verdict = await a.desk.verdict([peer], 2.0)
        raw = await _raw(peer.port, b"GET /healthz?from=a HTTP/1.0\r\n\r\n")
    finally:
        await b.endpoint.close()
    assert not verdict.keep and "failsafe is off" in verdict.why
    assert raw.startswith(b"HTTP/1.0 403 ") and b.vouched == [] and b.calls == 0


@pytest.mark.parametrize("trust, level, says", [
    (peer_auth.TRUSTS_NETWORK, "WARNING", "failsafe TRUSTS THE NETWORK (--failsafe-trusts-network, no peer key)"),
    (peer_auth.OFF, "WARNING", "failsafe is OFF: no peer key"),
    (KEY, "INFO", "failsafe: peers' answers count only when signed with the peer key from test"),
], ids=["trusts the network", "off", "key"])
def test_the_agent_says_at_start_what_a_failsafe_answer_is_worth(caplog, trust, level, says):
    """Once, at start: a keyless agent says loudly whether it believes anyone
    on the network or has no failsafe at all, and what to do about it."""
    caplog.set_level("INFO", logger="overseer.reconciler.agent.peer_desk")
    announce(trust)
    [record] = caplog.records
    assert record.levelname == level and says in record.getMessage(), record.getMessage()
    if trust is not KEY:
        assert "--peer-key-file" in record.getMessage() and "docs/operations.md" in record.getMessage()


async def test_many_questions_make_one_etcd_call():
    a, b = Side("a", KEY), Side("b", KEY, etcd="ok")
    peer = await b.serve()
    try:
        answers = await asyncio.gather(*(a.desk.ask(peer, 3.0) for _ in range(20)))
    finally:
        await b.endpoint.close()
    assert all(x == {"server": "b", "etcd": True} for x in answers), answers
    assert b.calls == 1


async def test_a_slow_etcd_is_one_call_in_flight_and_no_vouch():
    # etcd silent while our keep-alives fail: "gone", as before the cache
    a, b = Side("a", KEY), Side("b", KEY, etcd="slow")
    peer = await b.serve()
    try:
        answers = await asyncio.gather(*(a.desk.ask(peer, 3.0) for _ in range(10)))
    finally:
        await b.endpoint.close()
    assert all(x == {"server": "b", "etcd": False} for x in answers), answers
    assert b.calls == 1


@pytest.mark.parametrize("age, calls", [(0.1, 1), (0.7, 2)])
async def test_the_probe_is_reused_only_while_fresh(age, calls):
    now = {"t": 100.0}
    count = []

    async def call():
        count.append(1)
    probe = EtcdProbe(call, lambda: now["t"])
    assert await probe.outcome() == "ok"
    now["t"] += age
    assert await probe.outcome() == "ok"
    assert len(count) == calls


async def test_while_our_keepalives_fail_the_answer_is_ready_before_anyone_asks():
    """A peer asking as its own deadline nears must not wait for our probe:
    from our keep-alives' first failure the probe runs on its own."""
    calls = []

    async def silent():
        calls.append(1)
        await asyncio.sleep(5)
    now = {"t": 100.0}
    probe = EtcdProbe(silent, lambda: now["t"])
    probe.keep_fresh(until=lambda: len(calls) >= 2)
    await asyncio.wait_for(probe._warm, 5)    # two probes ran, nobody asked
    assert len(calls) == 2
    assert await asyncio.wait_for(probe.outcome(), 0.1) == "silent"   # no third call, no wait
    assert len(calls) == 2
