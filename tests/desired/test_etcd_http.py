"""desired/store/etcd_http.py against a real etcd member it can kill and restart
(the etcd binary, as in test_etcd_security: these tests own the process).

What the client promises beyond plain requests: the next endpoint when one
refuses, a write never re-sent after it may have reached etcd, pooled
connections that survive an etcd restart, and a watch that says when it ends.
"""
from __future__ import annotations

import socket
import threading

import pytest

from overseer.desired.store.client import EtcdConfig, EtcdUnavailable, connect
from overseer.desired.store.local_etcd import LocalEtcd, free_port
from overseer.desired.store.watch import changed_keys
from tests.support.waiting import poll_until


@pytest.fixture
def etcd():
    server = LocalEtcd().start()
    try:
        yield server
    finally:
        server.stop()


def _silent_server() -> tuple[socket.socket, int, list]:
    """Accepts connections and never answers: a member behind a dead link."""
    listener = socket.create_server(("127.0.0.1", 0))
    held: list = []

    def serve():
        while True:
            try:
                held.append(listener.accept()[0])
            except OSError:
                return
    threading.Thread(target=serve, daemon=True).start()
    return listener, listener.getsockname()[1], held


def test_the_next_endpoint_answers_when_the_first_refuses(etcd):
    refused = f"http://127.0.0.1:{free_port()}"
    client = connect(EtcdConfig(endpoints=(refused, etcd.url), timeout=2))
    client.put(b"/t/a", b"1")
    assert client.get(b"/t/a")[0] == b"1"
    client.close()


def test_a_write_is_not_resent_after_it_may_have_arrived_but_a_read_is(etcd):
    """A campaign re-sent to another member after a timeout would find its own
    key and report a lost election: a write that left is never re-sent."""
    good = connect(EtcdConfig(endpoints=(etcd.url,), timeout=2))
    good.put(b"/t/read", b"r")
    listener, port, held = _silent_server()
    try:
        silent = f"http://127.0.0.1:{port}"
        client = connect(EtcdConfig(endpoints=(silent, etcd.url), timeout=1))  # status() moved on
        assert client._current == 1
        client._current = 0   # as if the silent member had been fine until now
        with pytest.raises(EtcdUnavailable, match="did not answer within 1s"):
            client.put(b"/t/write", b"w")
        assert good.get(b"/t/write") == (None, None)   # not re-sent to the live member
        client._current = 0
        assert client.get(b"/t/read")[0] == b"r"         # a read moves on
        client.close()
    finally:
        listener.close()
        for conn in held:
            conn.close()
        good.close()


def test_pooled_connections_survive_an_etcd_restart(etcd):
    client = connect(EtcdConfig(endpoints=(etcd.url,), timeout=2))
    client.put(b"/t/k", b"before")          # leaves a pooled connection behind
    etcd.kill()
    etcd.start()
    client.put(b"/t/k", b"after")           # the pooled one is closed: a fresh one, once
    assert client.get(b"/t/k")[0] == b"after"
    client.close()


def test_a_watch_reports_changes_then_its_end(etcd):
    client = connect(EtcdConfig(endpoints=(etcd.url,), timeout=2))
    seen: list = []
    client.add_watch_prefix_callback(b"/t/", seen.append)
    client.put(b"/t/x", b"1")
    client.put(b"/other", b"not watched")
    poll_until(lambda: len(seen) == 1, 5, "the change under /t/")
    assert not isinstance(seen[0], Exception)
    etcd.kill()
    poll_until(lambda: len(seen) == 2, 5, "the watch to say it ended")
    assert isinstance(seen[1], EtcdUnavailable), seen[1]
    client.close()


def test_a_watch_batch_names_its_keys(etcd):
    """What Store.watch's filter sees: the keys of one raw batch, puts and
    deletes alike, and None for what it cannot read."""
    client = connect(EtcdConfig(endpoints=(etcd.url,), timeout=2))
    seen: list = []
    client.add_watch_prefix_callback(b"/t/", seen.append)
    client.transaction(compare=[], success=[client.transactions.put(b"/t/a", b"1"),
                                            client.transactions.put(b"/t/b/c", b"2")], failure=[])
    client.delete(b"/t/a")
    poll_until(lambda: len(seen) == 2, 5, "both batches")
    assert changed_keys(seen[0]) == [b"/t/a", b"/t/b/c"]
    assert changed_keys(seen[1]) == [b"/t/a"]
    assert changed_keys(b'{"result":{"header":{}}}') is None
    assert changed_keys(None) is None
    client.close()


def test_a_cancelled_watch_stays_quiet(etcd):
    client = connect(EtcdConfig(endpoints=(etcd.url,), timeout=2))
    seen: list = []
    watch_id = client.add_watch_prefix_callback(b"/t/", seen.append)
    client.cancel_watch(watch_id)
    client.put(b"/t/x", b"1")
    etcd.kill()
    etcd.start()
    client.put(b"/t/y", b"2")   # a watch that still ran would have reported both
    assert seen == []
    client.close()
