"""Every HTTP client of Overseer's against the same hostile answers: etcd's
transport, the failsafe peer exchange, the `http` probe and webhooks all read
through desired/http11/, so each gets the same limits. A slow drip holds
none past its deadline; an oversize body or head is refused with an error
that names the limit. (The probe and webhooks read no body: a huge one
costs them nothing.)"""
from __future__ import annotations

import asyncio
import socket
import time

import pytest

from overseer.desired.http11 import wire
from overseer.desired.http11.blocking import Connection
from overseer.desired.http11.errors import BodyTooLarge, HeadTooLarge
from overseer.desired.store.etcd_http import SMALL_ANSWER
from overseer.reconciler.agent import peer_client
from overseer.reconciler.agent.failsafe import Peer, Unanswered
from overseer.reconciler.hooks import webhook
from tests.observers.conftest import make_check, run_probe
from tests.support.webhook import RawAnswer

DEADLINE = 1.0
HEAD_LIMIT = wire.Limits(0).max_head
SLACK = 1.0              # past the deadline: a loaded machine's scheduling, not the drip


def _drip(first: bytes):
    """Sends `first`, then a byte every 50 ms for as long as the client listens."""
    def answer(server: RawAnswer, conn: socket.socket) -> None:
        server.send(conn, first)
        while not server.closed.is_set():
            server.send(conn, b"x")
            time.sleep(0.05)
    return answer


def _endless(first: bytes, piece: bytes):
    def answer(server: RawAnswer, conn: socket.socket) -> None:
        server.send(conn, first)
        while not server.closed.is_set():
            server.send(conn, piece)
    return answer


DRIP_IN_HEAD = _drip(b"HTTP/1.1 200 OK\r\nX-Slow: ")
DRIP_IN_BODY = _drip(b"HTTP/1.1 200 OK\r\nContent-Length: 10000\r\n\r\n")
HUGE_LENGTH = _endless(b"HTTP/1.1 200 OK\r\nContent-Length: 1000000000000\r\n\r\n", b"x" * 65536)
HUGE_CHUNK = _endless(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n40000000\r\n", b"x" * 65536)
NO_LENGTH = _endless(b"HTTP/1.0 200 OK\r\n\r\n", b"x" * 65536)
ENDLESS_HEAD = _endless(b"HTTP/1.1 200 OK\r\n", b"X-Pad: " + b"a" * 1015 + b"\r\n")
MANY_HEADERS = _endless(b"HTTP/1.1 200 OK\r\n", b"X-Pad: a\r\n")


@pytest.fixture
def hostile():
    servers = []

    def make(answer):
        servers.append(RawAnswer(answer))
        return servers[-1]
    yield make
    for server in servers:
        server.close()


def _etcd(port: int) -> bytes:
    conn = Connection("127.0.0.1", port, DEADLINE)
    try:
        conn.request("/v3/lease/keepalive", b"{}", {"Content-Type": "application/json"})
        return conn.response(SMALL_ANSWER).read()
    finally:
        conn.close()


def _peer(port: int):
    return asyncio.run(peer_client.ask_peer(Peer("b", "127.0.0.1", port), DEADLINE, {"from": "a"}))


def _probe(port: int):
    return asyncio.run(run_probe(make_check(type="http", url=f"http://127.0.0.1:{port}/"), timeout=DEADLINE))


def _webhook(port: int) -> None:
    webhook.deliver(f"http://127.0.0.1:{port}/hook", b"{}", DEADLINE)


def _timed(call, port):
    started = time.monotonic()
    try:
        return call(port)
    finally:
        took = time.monotonic() - started
        assert took < DEADLINE + SLACK, f"held {took:.1f}s past a {DEADLINE}s deadline"


@pytest.mark.parametrize("answer", [DRIP_IN_HEAD, DRIP_IN_BODY], ids=["in the head", "in the body"])
def test_a_slow_drip_holds_no_client_past_its_deadline(hostile, answer):
    port = hostile(answer).port
    with pytest.raises(TimeoutError):
        _timed(_etcd, port)
    reply = _timed(_peer, port)
    assert isinstance(reply, Unanswered) and reply.why == f"silent for {DEADLINE:g}s", reply
    if answer is DRIP_IN_HEAD:       # the probe and webhooks stop at the head
        result = _timed(_probe, port)
        assert result.status == "fail" and result.message.startswith("timed out after 1s"), result
        with pytest.raises(webhook.TimedOut, match="no answer within 1s"):
            _timed(_webhook, port)


@pytest.mark.parametrize("answer", [HUGE_LENGTH, HUGE_CHUNK, NO_LENGTH],
                         ids=["Content-Length", "one huge chunk", "no length"])
def test_an_oversize_body_is_refused_naming_the_limit(hostile, answer):
    port = hostile(answer).port
    with pytest.raises(BodyTooLarge, match=f"limit of {SMALL_ANSWER:,} bytes") as too_large:
        _timed(_etcd, port)
    assert too_large.value.limit == SMALL_ANSWER
    reply = _timed(_peer, port)
    assert isinstance(reply, Unanswered) and reply.why == f"answer over {peer_client.MAX_ANSWER} bytes", reply
    # the probe and webhooks never read a body: the status decides
    result = _timed(_probe, port)
    assert result.status == "ok" and result.message.startswith("HTTP 200 in"), result
    _timed(_webhook, port)


@pytest.mark.parametrize("answer, said", [(ENDLESS_HEAD, f"over {HEAD_LIMIT // 1024} KiB"),
                                          (MANY_HEADERS, f"more than {wire.Limits(0).max_headers} header lines")],
                         ids=["endless headers", "too many headers"])
def test_an_oversize_head_is_refused_by_every_client_naming_the_limit(hostile, answer, said):
    port = hostile(answer).port
    with pytest.raises(HeadTooLarge, match=said):
        _timed(_etcd, port)
    reply = _timed(_peer, port)
    assert isinstance(reply, Unanswered) and said in reply.why, reply
    result = _timed(_probe, port)
    assert result.status == "fail" and said in result.message, result
    with pytest.raises(webhook.Failed, match=said):
        _timed(_webhook, port)
