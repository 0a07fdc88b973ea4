"""The HTTP layer on a blocking socket (desired/http11/blocking.py) against a
peer that answers scripted bytes.

etcd's gateway is one peer (tests/desired/test_etcd_http.py); these cover the
framing it may use and the failures a pooled connection meets: chunks split
anywhere, a body with no length, a short body, and a connection the server
closed while it sat idle.
"""
from __future__ import annotations

import socket
import threading

import pytest

from overseer.desired.http11.blocking import Connection
from overseer.desired.http11.errors import BodyTooLarge, HeadTooLarge, ProtocolError, RemoteClosed

LIMIT = 1 << 20


class Peer:
    """Accepts one connection; for each request it reads, sends the next answer
    (bytes), or closes the connection when the answer is None."""

    def __init__(self, answers: list) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.requests: list[bytes] = []
        self._answers = answers
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        conn, _ = self.server.accept()
        with conn:
            for answer in self._answers:
                data = b""
                while b"\r\n\r\n" not in data:
                    more = conn.recv(65536)
                    if not more:
                        return           # the client closed its side
                    data += more
                head, _, body = data.partition(b"\r\n\r\n")
                length = int(next(line.split(b":")[1] for line in head.split(b"\r\n")
                                  if line.lower().startswith(b"content-length")))
                while len(body) < length:
                    body += conn.recv(65536)
                self.requests.append(head + b"\r\n\r\n" + body)
                if answer is None:
                    return
                for piece in answer if isinstance(answer, list) else [answer]:
                    conn.sendall(piece)

    def close(self) -> None:
        self._thread.join(5)
        self.server.close()


@pytest.fixture
def peer(request):
    made = []

    def make(answers):
        made.append(Peer(answers))
        return made[-1]
    yield make
    for p in made:
        p.close()


def test_content_length_answers_on_one_persistent_connection(peer):
    p = peer([b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}",
              b"HTTP/1.1 404 Not Found\r\ncontent-length: 7\r\n\r\nmissing"])
    conn = Connection("127.0.0.1", p.port, 5)
    conn.request("/v3/kv/range", b'{"key": "a"}', {"Content-Type": "application/json"})
    first = conn.response(LIMIT)
    assert (first.status, first.read(), first.will_close) == (200, b"{}", False)
    conn.request("/v3/kv/range", b"{}", {})
    second = conn.response(LIMIT)
    assert (second.status, second.read()) == (404, b"missing")
    conn.close()
    assert p.requests[0].startswith(b"POST /v3/kv/range HTTP/1.1\r\n")
    assert b"Content-Length: 12\r\n" in p.requests[0] and p.requests[0].endswith(b'{"key": "a"}')


def test_a_chunked_stream_is_read_line_by_line_whatever_the_chunk_boundaries(peer):
    stream = [b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
              b"5\r\n{\"a\":\r\n", b"4\r\n1}\n{\r\n", b"7\r\n\"b\":2}\n\r\n", b"0\r\n\r\n"]
    p = peer([stream])
    conn = Connection("127.0.0.1", p.port, 5)
    conn.request("/v3/watch", b"{}", {})
    response = conn.response(LIMIT)
    assert [response.readline(), response.readline(), response.readline()] == \
        [b'{"a":1}\n', b'{"b":2}\n', b""]
    conn.close()


def test_a_body_without_length_runs_to_the_close_and_ends_the_connection(peer):
    p = peer([b"HTTP/1.1 200 OK\r\n\r\nuntil the end"])
    conn = Connection("127.0.0.1", p.port, 5)
    conn.request("/x", b"", {})
    p.close()      # the peer closes after answering
    response = conn.response(LIMIT)
    assert response.will_close and response.read() == b"until the end"
    conn.close()


def test_a_short_body_is_a_protocol_error_not_a_truncated_answer(peer):
    p = peer([[b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc"], None])
    conn = Connection("127.0.0.1", p.port, 5)
    conn.request("/x", b"", {})
    response = conn.response(LIMIT)
    conn.sock.shutdown(socket.SHUT_WR)   # no second request: the peer closes, mid-body
    with pytest.raises(ProtocolError, match="3 of 10"):
        response.read()
    conn.close()


def test_a_connection_closed_while_idle_says_so_before_any_answer(peer):
    p = peer([b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", None])
    conn = Connection("127.0.0.1", p.port, 5)
    conn.request("/x", b"", {})
    assert conn.response(LIMIT).read() == b""
    conn.request("/x", b"", {})     # the peer takes this one and closes: no answer
    with pytest.raises(RemoteClosed):
        conn.response(LIMIT)
    conn.close()


def test_a_stream_with_a_length_is_read_line_by_line_up_to_its_end_only(peer):
    """Lines of a body with Content-Length never run into the next answer on
    the same connection (a watch answered that way by a proxy)."""
    p = peer([b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n{\"a\":1}\n{}",
              b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}"])
    conn = Connection("127.0.0.1", p.port, 5)
    conn.request("/v3/watch", b"{}", {})
    first = conn.response(LIMIT)
    assert [first.readline(), first.readline(), first.readline()] == [b'{"a":1}\n', b"{}", b""]
    conn.request("/x", b"", {})
    assert conn.response(LIMIT).read() == b"{}"
    conn.close()


def test_limits_are_checked_before_reading(peer):
    p = peer([b"HTTP/1.1 200 OK\r\nContent-Length: 4096\r\n\r\n" + b"x" * 4096])
    conn = Connection("127.0.0.1", p.port, 5)
    conn.request("/x", b"", {})
    with pytest.raises(BodyTooLarge, match="Content-Length 4,096") as too_large:
        conn.response(1024)
    assert too_large.value.limit == 1024
    conn.close()


# The parser alone (wire.py), over bytes already read: the same steps the
# socket and asyncio drivers feed.

def test_another_protocol_is_not_http_even_if_it_closes_before_a_blank_line():
    from overseer.desired.http11 import wire
    with pytest.raises(ProtocolError, match="not an HTTP answer: b'SSH-2.0"):
        wire.parse(b"SSH-2.0-OpenSSH_9.2\r\n", wire.Limits(LIMIT))
    with pytest.raises(ProtocolError, match="not an HTTP answer"):
        wire.parse(b"SSH-2.0-OpenSSH_9.2", wire.Limits(LIMIT))
    with pytest.raises(RemoteClosed) as closed:
        wire.parse(b"HTTP/1.1 200 OK\r\nContent-Le", wire.Limits(LIMIT))
    assert closed.value.began


def test_interim_answers_are_skipped_and_count_toward_the_head_limit():
    from overseer.desired.http11 import wire
    answer = wire.parse(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
                        wire.Limits(LIMIT))
    assert (answer.head.status, answer.body) == (200, b"ok")
    interim = b"HTTP/1.1 103 Early Hints\r\nLink: " + b"x" * 1000 + b"\r\n\r\n"
    with pytest.raises(HeadTooLarge, match="over 64 KiB") as too_large:
        wire.parse(interim * 70 + b"HTTP/1.1 200 OK\r\n\r\n", wire.Limits(LIMIT))
    assert too_large.value.limit == 64 * 1024


def test_a_header_line_over_the_limit_names_it():
    from overseer.desired.http11 import wire
    with pytest.raises(HeadTooLarge, match="a header line longer than 8192 bytes") as too_long:
        wire.parse(b"HTTP/1.1 200 OK\r\nX: " + b"y" * 9000 + b"\r\n\r\n", wire.Limits(LIMIT))
    assert too_long.value.limit == 8192


def test_a_header_with_a_line_break_is_never_sent():
    from overseer.desired.http11 import wire
    with pytest.raises(wire.UnsafeRequest, match="header 'Authorization'") as unsafe:
        wire.request_head("POST", "/x", "h", [("Authorization", "Bearer s3cr3t\r\nX-Evil: 1")], 0)
    assert "s3cr3t" not in str(unsafe.value)
