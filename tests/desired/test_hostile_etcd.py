"""The etcd client against a hostile etcd (tests/support/hostile_etcd.py): a
real TCP server in front of the session's real etcd that answers garbage,
bends etcd's real answers, or answers slowly or without end.

Whatever it sends, every call ends within its deadline with a StoreError
(a MalformedAnswer, retried like an unreachable etcd, or EtcdUnavailable),
holds at most about --max-answer in memory, and the same client works
again as soon as a sane etcd answers: never another exception, a hang, or
an answer read as "no keys".
"""
from __future__ import annotations

import socket
import threading
import time
import tracemalloc

import pytest

from overseer.desired.store.client import (
    AnswerTooLarge, EtcdConfig, EtcdUnavailable, MalformedAnswer, StoreError, connect,
)
from overseer.desired.store.etcd_http import SMALL_ANSWER, HttpEtcd
from tests.support.hostile_etcd import ANSWERS, MUTATIONS, HostileEtcd
from tests.support.waiting import poll_until

TIMEOUT = 1.0
MAX_ANSWER = 2 * 1024 * 1024
KEY, VALUE = b"/hostile/k", b"v"


@pytest.fixture(scope="module")
def hostile(etcd_server):
    proxy = HostileEtcd(etcd_server.url)
    yield proxy
    proxy.close()


@pytest.fixture(scope="module")
def lease(etcd_server):
    direct = connect(EtcdConfig(endpoints=(etcd_server.url,)))
    direct.put(KEY, VALUE)
    granted = direct.lease(600).id
    yield granted
    direct.revoke_lease(granted)
    direct.close()


@pytest.fixture
def client(hostile, lease):
    hostile.set(None)
    made = connect(EtcdConfig(endpoints=(hostile.url,), timeout=TIMEOUT, max_answer=MAX_ANSWER))
    yield made
    made.close()


def _txn(c):
    tx = c.transactions
    return c.transaction(compare=[tx.version(KEY) > 0], success=[tx.get(KEY)], failure=[])


CALLS = {
    "get": lambda c, lease: c.get(KEY),
    "prefix": lambda c, lease: c.get_prefix_response(b"/hostile/"),
    "put": lambda c, lease: c.put(b"/hostile/written", b"w"),
    "txn": lambda c, lease: _txn(c),
    "keepalive": lambda c, lease: c.refresh_lease(lease),
    "grant": lambda c, lease: c.revoke_lease(c.lease(30).id),
    "status": lambda c, lease: c.status(),
    "watch": lambda c, lease: c.cancel_watch(c.add_watch_prefix_callback(b"/hostile/", lambda _: None)),
}
_HEADER = set(CALLS)
_KEYS = {"get", "prefix", "txn"}
# Which calls each bent answer must break (the others may go through: the
# field is not in their answer). Every top-level answer has a header.
MUST_BREAK = {
    "kvs not a list": _KEYS, "kvs items not objects": _KEYS, "bad base64": _KEYS,
    "create_revision an object": _KEYS, "count huge": {"get", "prefix"},
    "revision a string": _HEADER, "revision a float": _HEADER, "revision negative": _HEADER,
    "no header": _HEADER, "header a list": _HEADER,
    "TTL a string": {"keepalive", "grant"}, "succeeded a string": {"txn"},
    "responses not a list": {"txn"}, "events not a list": set(), "result a list": {"keepalive", "watch"},
    "drip": _HEADER,
}


def _attempt(client, lease, call):
    """(what the call raised or None, seconds it took, peak bytes allocated)."""
    tracemalloc.start()
    started = time.monotonic()
    try:
        CALLS[call](client, lease)
        raised = None
    except Exception as exc:  # the point: whatever it is, it must be a StoreError
        raised = exc
    finally:
        elapsed = time.monotonic() - started
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    return raised, elapsed, peak


def _recovers(hostile, client, lease):
    hostile.set(None)
    assert client.get(KEY)[0] == VALUE
    assert client.refresh_lease(lease)[0].TTL > 0


@pytest.mark.parametrize("call", sorted(CALLS))
@pytest.mark.parametrize("mode", sorted(ANSWERS))
def test_a_garbage_answer_is_a_malformed_answer_within_the_deadline(hostile, client, lease, mode, call):
    hostile.set(mode)
    raised, elapsed, peak = _attempt(client, lease, call)
    assert isinstance(raised, MalformedAnswer), f"{mode} / {call}: {raised!r}"
    assert hostile.url in str(raised)
    assert elapsed < TIMEOUT + 0.5, f"{mode} / {call} took {elapsed:.2f}s"
    assert peak < 3 * MAX_ANSWER, f"{mode} / {call} held {peak / 2**20:.1f} MiB"
    _recovers(hostile, client, lease)


@pytest.mark.parametrize("call", sorted(CALLS))
@pytest.mark.parametrize("mode", sorted(MUTATIONS))
def test_a_bent_etcd_answer_is_refused_or_read_right(hostile, client, lease, mode, call):
    hostile.set(mode)
    raised, elapsed, _ = _attempt(client, lease, call)
    if call in MUST_BREAK[mode]:
        expected = EtcdUnavailable if mode == "drip" else MalformedAnswer
        assert isinstance(raised, expected), f"{mode} / {call}: {raised!r}"
        assert mode == "drip" or raised.__class__ is MalformedAnswer
    else:
        assert raised is None or isinstance(raised, StoreError), f"{mode} / {call}: {raised!r}"
    assert elapsed < TIMEOUT + 0.5, f"{mode} / {call} took {elapsed:.2f}s"
    _recovers(hostile, client, lease)


def test_a_dribbled_answer_ends_at_the_deadline_not_per_read(hostile, client, lease):
    """One byte every 0.3 s gave each socket read a fresh timeout: a 1 s call
    held on for as long as the answer lasted."""
    hostile.set("drip")
    raised, elapsed, _ = _attempt(client, lease, "get")
    assert isinstance(raised, EtcdUnavailable) and f"within {TIMEOUT:g}s" in str(raised)
    assert TIMEOUT - 0.1 < elapsed < TIMEOUT + 0.5


@pytest.mark.parametrize("mode", ["endless chunked", "endless unframed", "huge length", "huge chunk"])
def test_an_endless_or_huge_answer_is_refused_at_the_limit(hostile, client, lease, mode):
    hostile.set(mode)
    raised, _, peak = _attempt(client, lease, "prefix")
    assert isinstance(raised, AnswerTooLarge) and "--max-answer" in str(raised), raised
    assert peak < 3 * MAX_ANSWER
    raised, _, peak = _attempt(client, lease, "keepalive")   # holds no keys: the small limit
    assert isinstance(raised, AnswerTooLarge) and "never sends that much" in str(raised), raised
    assert peak < 3 * MAX_ANSWER and SMALL_ANSWER < MAX_ANSWER


def test_a_read_moves_to_the_next_member_a_write_is_not_resent(hostile, etcd_server, lease):
    hostile.set("500 [1]")
    client = connect(EtcdConfig(endpoints=(hostile.url, etcd_server.url), timeout=TIMEOUT))
    try:
        assert client._current == 1                 # connect's status() moved on
        client._current = 0
        assert client.get(KEY)[0] == VALUE          # the hostile member, then the real one
        client._current = 0
        with pytest.raises(MalformedAnswer):
            client.put(b"/hostile/once", b"1")      # it may have arrived: never re-sent
        assert client.get(b"/hostile/once") == (None, None)
    finally:
        client.close()


WATCH_CREATED = b'{"result":{"header":{"revision":"5"},"created":true}}\n'


@pytest.mark.parametrize("rest, expected", [
    (b"x" * (3 * 1024 * 1024), AnswerTooLarge),                              # a line without end
    (b'{"result":{"header":{"revision":"x"},"progress_notify":true}}\n', MalformedAnswer),
    (b'{"result":{"header":{"revision":"7"}}}\n{"result":7}\n', MalformedAnswer),
    (b'{"result":{"canceled":"no"}}\n', MalformedAnswer),
    (b"[[[[" * 100_000 + b"\n", MalformedAnswer),
])
def test_a_watch_stream_that_turns_hostile_ends_with_a_store_error(hostile, rest, expected):
    """Served by hand: the watch is created, then the stream sends `rest`.
    (A line with events is handed on undecoded: it only makes the consumer
    re-read, which is all any change does, so a forged one costs a read.)"""
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def serve():
        conn, _ = listener.accept()
        conn.recv(65536)
        conn.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                     + b"%x\r\n" % len(WATCH_CREATED) + WATCH_CREATED + b"\r\n")
        for start in range(0, len(rest), 65536):
            piece = rest[start:start + 65536]
            try:
                conn.sendall(b"%x\r\n" % len(piece) + piece + b"\r\n")
            except OSError:
                break
        threading.Event().wait(5)
        conn.close()
    threading.Thread(target=serve, daemon=True).start()
    client = HttpEtcd(EtcdConfig(endpoints=(f"http://127.0.0.1:{port}",), timeout=TIMEOUT,
                                 max_answer=MAX_ANSWER), [("http", "127.0.0.1", port)])
    ended: list = []
    try:
        client.add_watch_prefix_callback(b"/w/", ended.append)
        poll_until(lambda: ended, 5, "the watch to end")
        [error] = ended
        assert isinstance(error, expected), error
    finally:
        client.close()
        listener.close()
