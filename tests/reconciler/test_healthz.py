"""The agent's HTTP endpoints (healthz.py) and the failsafe client
(peer_client.py) against hostile or clumsy counterparts: oversized requests,
idle connections by the hundred, answers in pieces, too long or trickled.
Neither side holds more than its bounds, logs more than a line per burst,
or stops answering a real peer."""
from __future__ import annotations

import asyncio
import json
import logging
import time

import pytest

from overseer.reconciler.agent import healthz, peer_client
from overseer.reconciler.agent.failsafe import Peer, Reply, Unanswered
from overseer.reconciler.agent.healthz import MAX_REQUEST_LINE, HttpEndpoint


async def _status(query, client) -> Reply:
    return Reply(200, json.dumps({"etcd": True, "server": "a", **query}).encode())


async def _ask(port: int, request: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(request)
    await writer.drain()
    answer = await asyncio.wait_for(reader.read(), 5)
    writer.close()
    return answer


def _body(answer: bytes) -> dict:
    return json.loads(answer.split(b"\r\n\r\n", 1)[1])


@pytest.fixture
async def endpoint():
    server = HttpEndpoint("127.0.0.1", 0, {"/healthz": _status}, max_connections=8)
    assert await server.start()
    yield server
    await server.close()


async def test_oversized_request_line_gets_414_and_one_log_line(endpoint, caplog):
    caplog.set_level(logging.DEBUG)
    answer = await _ask(endpoint.bound_port, b"GET /healthz?" + b"x" * (64 * 1024 + 10) + b" HTTP/1.0\r\n\r\n")
    assert answer.startswith(b"HTTP/1.0 414 "), answer[:80]
    ok = await _ask(endpoint.bound_port, b"GET /healthz HTTP/1.0\r\n\r\n")
    assert ok.startswith(b"HTTP/1.0 200 ")
    assert _body(ok) == {"etcd": True, "server": "a"}
    refused = [r for r in caplog.records if "refused (414)" in r.getMessage()]
    assert len(refused) == 1 and str(MAX_REQUEST_LINE) in refused[0].getMessage()
    assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR], \
        [r.getMessage() for r in caplog.records]


async def test_oversized_headers_get_431(endpoint):
    header = b"X-Pad: " + b"y" * 4000 + b"\r\n"
    answer = await _ask(endpoint.bound_port, b"GET /healthz HTTP/1.0\r\n" + header * 3 + b"\r\n")
    assert answer.startswith(b"HTTP/1.0 431 "), answer[:80]


async def test_the_peer_port_serves_only_healthz(endpoint):
    for path in (b"/metrics", b"/"):
        answer = await _ask(endpoint.bound_port, b"GET " + path + b" HTTP/1.0\r\n\r\n")
        assert answer.startswith(b"HTTP/1.0 404 "), answer[:80]
    answer = await _ask(endpoint.bound_port, b"POST /healthz HTTP/1.0\r\n\r\n")
    assert answer.startswith(b"HTTP/1.0 405 ")


async def test_an_idle_connection_is_closed_within_the_request_deadline(endpoint):
    reader, writer = await asyncio.open_connection("127.0.0.1", endpoint.bound_port)
    started = time.monotonic()
    assert await asyncio.wait_for(reader.read(), healthz.REQUEST_DEADLINE + 2) == b""
    assert time.monotonic() - started < healthz.REQUEST_DEADLINE + 1
    writer.close()


async def test_a_flood_of_idle_connections_neither_grows_nor_shuts_out_a_peer(endpoint, caplog):
    caplog.set_level(logging.WARNING)
    idle = [await asyncio.open_connection("127.0.0.1", endpoint.bound_port) for _ in range(40)]
    try:
        await asyncio.sleep(0.1)
        assert len(endpoint._open) <= endpoint.max_connections
        # a real peer sends its whole request at once: answered, though 40 sit idle
        answer = await peer_client.ask_peer(Peer("a", "127.0.0.1", endpoint.bound_port), 1.0, {"from": "b"})
        assert isinstance(answer, Reply) and answer.status == 200, answer
        assert json.loads(answer.body)["from"] == "b"
    finally:
        for _, writer in idle:
            writer.close()
    said = [r.getMessage() for r in caplog.records if "connections" in r.getMessage()]
    assert len(said) == 1, said     # one line for the burst, not one per connection


async def _answering(chunks, pause=0.05):
    """A peer that writes its answer in pieces."""
    async def handle(reader, writer):
        await reader.readuntil(b"\r\n\r\n")
        for chunk in chunks:
            writer.write(chunk)
            await writer.drain()
            await asyncio.sleep(pause)
        writer.close()
    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    return server, Peer("b", "127.0.0.1", server.sockets[0].getsockname()[1])


async def test_an_answer_in_pieces_is_read_to_its_end():
    body = json.dumps({"server": "b", "etcd": False}).encode()
    head = b"HTTP/1.0 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body)
    server, peer = await _answering([head[:10], head[10:], body[:5], body[5:]])
    async with server:
        reply = await peer_client.ask_peer(peer, 2.0, {})
    assert isinstance(reply, Reply) and reply.status == 200 and json.loads(reply.body)["etcd"] is False


async def test_a_cut_answer_is_no_answer():
    server, peer = await _answering([b"HTTP/1.0 200 OK\r\nContent-Length: 40\r\n\r\n{\"server\": \"b\""])
    async with server:
        reply = await peer_client.ask_peer(peer, 2.0, {})
    assert isinstance(reply, Unanswered) and "Content-Length 40" in reply.why, reply


async def test_an_endless_answer_stops_at_the_limit():
    server, peer = await _answering([b"HTTP/1.0 200 OK\r\n\r\n"] + [b"x" * 8192] * 10, pause=0)
    async with server:
        reply = await peer_client.ask_peer(peer, 2.0, {})
    assert isinstance(reply, Unanswered) and f"over {peer_client.MAX_ANSWER}" in reply.why, reply


async def test_a_trickled_answer_ends_at_the_deadline():
    server, peer = await _answering([b"H", b"T", b"T", b"P"] * 20, pause=0.1)
    async with server:
        started = time.monotonic()
        reply = await peer_client.ask_peer(peer, 0.5, {})
        took = time.monotonic() - started
    assert isinstance(reply, Unanswered) and "silent" in reply.why, reply
    assert took < 1.5, took
