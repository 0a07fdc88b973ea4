"""etcd's v3 API through its JSON gateway (`/v3/...`), over HTTP/1.1.

Why not gRPC: the gRPC runtime alone was a third of an idle agent's memory
(≈ 24 MB of its 62) and its threads woke ten times a second while nothing
happened. Patroni's etcd v3 support uses the same JSON gateway, but through
urllib3 on python-etcd's client classes; here the HTTP is Overseer's own
client layer (desired/http11/), which the peer exchange, the `http` probe and
webhooks share: one parser, one set of limits (docs/design-choices.md, "The
HTTP client layer").

Semantics kept from the gRPC client Overseer used before:
- one endpoint at a time; on a connection failure the next is tried. A write
  is re-sent elsewhere only when it certainly never left (the connection was
  refused, or a pooled connection turned out closed before any answer): a
  re-sent campaign would otherwise find its own key and report a loss.
- every failure is a StoreError subclass naming the endpoint and the fix.
- each call gives up after `timeout` seconds per member it tries: one deadline
  for connecting, sending and the whole answer, however slowly it comes.
  Watches block without one once created, but TCP keep-alive probes notice a
  dead link within about ten seconds.

And whatever answers is not trusted: answers are read within size limits
(desired/http11/; `--max-answer` for reads, SMALL_ANSWER for the rest) and parsed
field by field (etcd_answers.py). A malformed answer is a MalformedAnswer,
retried on the next member like an unreachable one, and its connection is
closed, never pooled.
"""
from __future__ import annotations

import itertools
import json
import socket
import threading
import time
from typing import Callable, Optional, TypeVar

from .errors import EtcdUnavailable, MalformedAnswer, Rejected, StoreError
from .etcd_answers import (
    BadAnswer, checked, deleted_of, lease_grant_of, range_of, token_of, ttl_of, txn_of, watch_message,
)
from .etcd_types import Get, LeaseGrant, LeaseTTL, Meta, RangeResponse, Transactions, as_bytes, prefix_end
from .etcd_wire import (
    b64, compare_of, decode, malformed, op_of, protocol_error, tls_failure, transport_error,
)
from overseer.desired.http11.blocking import Connection
from overseer.desired.http11.errors import ProtocolError, RemoteClosed

T = TypeVar("T")
# An answer that holds no keys (a keep-alive, a put, a login) is a few hundred
# bytes; anything near this is not etcd's.
SMALL_ANSWER = 64 * 1024

_IDLE_PER_ENDPOINT = 8
# a pooled connection the server closed while idle fails like this before any answer
_STALE = (RemoteClosed, BrokenPipeError, ConnectionResetError, ConnectionAbortedError)



class HttpEtcd:
    """The client surface Store, documents.py and staged.py use."""

    def __init__(self, cfg, endpoints: list[tuple[str, str, int]], tls=None):
        self.cfg = cfg
        self.timeout = cfg.timeout
        self.max_answer = cfg.max_answer
        self.transactions = Transactions()
        self._endpoints = endpoints
        self._tls = tls
        self._current = 0
        self._idle: dict[int, list[Connection]] = {}
        self._lock = threading.Lock()
        self._token: Optional[str] = None
        self._watches: dict[int, Connection] = {}
        self._watch_ids = itertools.count(1)

    def describe(self) -> str:
        return self.cfg.describe()

    # --- transport ----------------------------------------------------------

    def _new_connection(self, index: int, timeout: Optional[float]) -> Connection:
        _, host, port = self._endpoints[index]
        return Connection(host, port, timeout, self._tls)

    def _take(self, index: int) -> tuple[Connection, bool]:
        with self._lock:
            idle = self._idle.get(index)
            if idle:
                return idle.pop(), True
        return self._new_connection(index, self.timeout), False

    def _give_back(self, index: int, conn: Connection) -> None:
        with self._lock:
            idle = self._idle.setdefault(index, [])
            if len(idle) < _IDLE_PER_ENDPOINT:
                idle.append(conn)
                return
        conn.close()

    def _drop_idle(self, index: int) -> None:
        with self._lock:
            idle = self._idle.pop(index, [])
        for conn in idle:
            conn.close()

    def _headers(self, auth: bool) -> dict:
        headers = {"Content-Type": "application/json"}
        if auth and self._token:
            headers["Authorization"] = self._token
        return headers

    def _post(self, path: str, body: dict, idempotent: bool, parse: Callable[[dict], T],
              stream: bool = False, auth: bool = True, small: bool = False) -> T:
        """One request, on the current endpoint or (see module doc) the next ones;
        `parse` reads the answer (etcd_answers.py). `small`: an answer that
        holds no keys, limited to SMALL_ANSWER rather than --max-answer."""
        payload = json.dumps(body).encode()
        limit = SMALL_ANSWER if small else self.max_answer
        count = len(self._endpoints)
        start = self._current
        failure: Optional[StoreError] = None
        for attempt in range(count):
            index = (start + attempt) % count
            # one deadline for the whole exchange with this member, however
            # the answer trickles in (a stale pooled connection's retry included)
            deadline = time.monotonic() + self.timeout
            for _retry_stale in range(2):
                conn, reused = self._take(index)
                sent = False
                try:
                    if conn.sock is None:
                        conn.connect(deadline)
                    sent = True
                    conn.request(f"/v3/{path}", payload, self._headers(auth), deadline)
                    response = conn.response(limit)
                    data = response.read()
                except _STALE as exc:
                    conn.close()
                    failure = self._transport_error(exc)
                    if reused:
                        self._drop_idle(index)  # etcd closed them all (a restart): once more, fresh
                        continue
                    if sent and not idempotent:
                        raise failure from None
                    break
                except ProtocolError as exc:
                    conn.close()
                    failure = protocol_error(exc, self.describe(), path, configured=not small)
                    if sent and not idempotent:
                        raise failure from None
                    break
                except OSError as exc:
                    conn.close()
                    failure = self._transport_error(exc)
                    if reused and tls_failure(exc):
                        self._drop_idle(index)  # a TLS session etcd ended while idle
                        continue
                    if tls_failure(exc) or (sent and not idempotent):
                        raise failure from None
                    break
                answer = self._read_answer(data, response.status, stream, path, parse)
                if isinstance(answer, MalformedAnswer) or response.will_close:
                    conn.close()          # whatever sent that is not to be trusted with the next request
                else:
                    self._give_back(index, conn)
                if isinstance(answer, StoreError):
                    failure = answer
                    if isinstance(answer, EtcdUnavailable) and idempotent:
                        break             # e.g. "no leader": another member may have one
                    raise answer
                self._current = index
                return answer
            self._current = (index + 1) % count
        assert failure is not None
        raise failure

    def _read_answer(self, data: bytes, status: int, stream: bool, path: str, parse: Callable):
        """The parsed answer, or the StoreError it stands for (returned)."""
        answer = self._decode(data, status, stream, path)
        if isinstance(answer, StoreError):
            return answer
        try:
            return parse(answer)
        except BadAnswer as exc:
            return malformed(self.describe(), path, exc)

    def _decode(self, data: bytes, status: int, stream: bool, path: str = "watch"):
        return decode(data, status, stream, self.describe(), path)

    def _transport_error(self, exc: BaseException) -> StoreError:
        return transport_error(exc, self.describe(), self.timeout)

    # --- cluster and auth ---------------------------------------------------

    def status(self) -> dict:
        return self._post("maintenance/status", {}, idempotent=True, parse=checked, small=True)

    def authenticate(self, user: str, password: str) -> None:
        self._token = self._post("auth/authenticate", {"name": user, "password": password},
                                 idempotent=True, parse=token_of, auth=False, small=True)

    # --- keys -----------------------------------------------------------------

    def _range_request(self, key, range_end=None, revision=None, limit=None, keys_only=False,
                       count_only=False, sort_order=None, sort_target="key") -> RangeResponse:
        body: dict = {"key": b64(key)}
        if range_end is not None:
            body["range_end"] = b64(range_end)
        if revision:
            body["revision"] = int(revision)
        if limit:
            body["limit"] = int(limit)
        if keys_only:
            body["keys_only"] = True
        if count_only:
            body["count_only"] = True
        if sort_order:
            body["sort_order"] = sort_order.upper()
            body["sort_target"] = sort_target.upper()
        key = as_bytes(key)
        end = None if range_end is None else as_bytes(range_end)
        return self._post("kv/range", body, idempotent=True, parse=lambda answer: range_of(answer, key, end))

    def get(self, key):
        response = self._range_request(key)
        if not response.kvs:
            return None, None
        return response.kvs[0].value, Meta(response.kvs[0], response.header)

    def get_response(self, key, **options) -> RangeResponse:
        return self._range_request(key, **options)

    def get_range_response(self, start, end, **options) -> RangeResponse:
        return self._range_request(start, range_end=end, **options)

    def get_prefix_response(self, prefix, **options) -> RangeResponse:
        prefix = as_bytes(prefix)
        return self._range_request(prefix, range_end=prefix_end(prefix), **options)

    def get_prefix(self, prefix, sort_order=None, sort_target="key", keys_only=False, limit=None):
        response = self.get_prefix_response(prefix, sort_order=sort_order, sort_target=sort_target,
                                            keys_only=keys_only, limit=limit)
        return [(kv.value, Meta(kv, response.header)) for kv in response.kvs]

    def put(self, key, value, lease=None) -> None:
        body = {"key": b64(key), "value": b64(value)}
        if lease:
            body["lease"] = int(getattr(lease, "id", lease))
        self._post("kv/put", body, idempotent=False, parse=checked, small=True)

    def delete(self, key) -> bool:
        return self._post("kv/deleterange", {"key": b64(key)}, idempotent=False, parse=deleted_of,
                          small=True) > 0

    def delete_prefix(self, prefix) -> int:
        prefix = as_bytes(prefix)
        return self._post("kv/deleterange", {"key": b64(prefix), "range_end": b64(prefix_end(prefix))},
                          idempotent=False, parse=deleted_of, small=True)

    def transaction(self, compare, success, failure) -> tuple[bool, list]:
        body = {"compare": [compare_of(c) for c in compare],
                "success": [op_of(op) for op in success], "failure": [op_of(op) for op in failure]}
        # a txn of reads only (a fencing check) may go to another member
        reads_only = all(isinstance(op, Get) for op in (*success, *failure))
        return self._post("kv/txn", body, idempotent=reads_only,
                          parse=lambda answer: txn_of(answer, success, failure))

    # --- leases -----------------------------------------------------------------

    def lease(self, ttl, lease_id=None) -> LeaseGrant:
        body = {"TTL": int(ttl)}
        if lease_id:
            body["ID"] = int(lease_id)
        granted, refused = self._post("lease/grant", body, idempotent=False, parse=lease_grant_of, small=True)
        if granted is None:
            raise Rejected(f"etcd at {self.describe()} refused a lease: {refused}")
        return granted

    def refresh_lease(self, lease_id) -> list[LeaseTTL]:
        return [LeaseTTL(self._post("lease/keepalive", {"ID": int(lease_id)}, idempotent=True,
                                    parse=ttl_of, stream=True, small=True))]

    def revoke_lease(self, lease_id) -> None:
        self._post("lease/revoke", {"ID": int(lease_id)}, idempotent=True, parse=checked, small=True)

    def get_lease_info(self, lease_id) -> LeaseTTL:
        return LeaseTTL(self._post("lease/timetolive", {"ID": int(lease_id)}, idempotent=True,
                                   parse=ttl_of, small=True))

    # --- watches ----------------------------------------------------------------

    def add_watch_prefix_callback(self, prefix, callback: Callable) -> int:
        """Call `callback(raw_batch)` for each batch of changes under `prefix`, and
        `callback(StoreError)` once when the stream ends. Returns the id
        `cancel_watch` takes; the stream is its own connection."""
        prefix = as_bytes(prefix)
        body = json.dumps({"create_request": {"key": b64(prefix), "range_end": b64(prefix_end(prefix))}})
        index = self._current
        conn = self._new_connection(index, self.timeout)
        deadline = time.monotonic() + self.timeout
        try:
            conn.connect(deadline)
            _keep_alive_probes(conn.sock)
            conn.request("/v3/watch", body.encode(), self._headers(auth=True), deadline)
            response = conn.response(self.max_answer)
            first = response.readline() if response.status == 200 else response.read()
        except ProtocolError as exc:
            conn.close()
            raise protocol_error(exc, self.describe(), "watch", configured=True) from None
        except OSError as exc:
            conn.close()
            self._current = (index + 1) % len(self._endpoints)
            raise self._transport_error(exc) from None
        answer = self._read_answer(first, response.status, True, "watch", watch_message)
        if isinstance(answer, StoreError) or answer[0]:
            conn.close()
            raise answer if isinstance(answer, StoreError) else EtcdUnavailable(
                f"etcd at {self.describe()} refused the watch: {answer[1] or 'no reason given'}")
        conn.unbounded()  # idle for hours is normal; keep-alive probes find a dead link
        watch_id = next(self._watch_ids)
        self._watches[watch_id] = conn
        threading.Thread(target=self._read_watch, args=(watch_id, conn, response, callback),
                         name=f"watch {prefix.decode(errors='replace')}", daemon=True).start()
        return watch_id

    def _read_watch(self, watch_id: int, conn, response, callback: Callable) -> None:
        try:
            while True:
                line = response.readline()
                if not line:
                    raise EtcdUnavailable(f"etcd at {self.describe()} ended the watch stream")
                if not line.strip():
                    continue
                head = line[:512]   # header, ids and flags come first (proto field order)
                if b'"events"' in line and b'"canceled"' not in head and b'"error"' not in head:
                    # consumers only need "something changed" (they re-read at one
                    # revision): decoding every changed value here was a twelfth of a
                    # taking-over agent's CPU (bench/scale.py, 300 services)
                    callback(line)
                    continue
                answer = self._read_answer(line, 200, True, "watch", watch_message)
                if isinstance(answer, StoreError):
                    raise answer
                cancelled, reason, events = answer
                if cancelled:
                    raise EtcdUnavailable(f"etcd at {self.describe()} cancelled the watch:"
                                          f" {reason or 'no reason given'}")
                if events:
                    callback(events)
        except Exception as exc:  # the stream is over, whatever ended it: say so once
            if self._watches.pop(watch_id, None) is not None:
                callback(self._stream_ended(exc))
        finally:
            conn.close()

    def _stream_ended(self, exc: Exception) -> StoreError:
        if isinstance(exc, StoreError):
            return exc
        if isinstance(exc, ProtocolError):
            return protocol_error(exc, self.describe(), "watch", configured=True)
        return self._transport_error(exc)

    def cancel_watch(self, watch_id: int) -> None:
        conn = self._watches.pop(watch_id, None)
        if conn is None:
            return
        try:
            if conn.sock is not None:
                conn.sock.shutdown(socket.SHUT_RDWR)  # wakes the reader blocked in recv
        except OSError:
            pass
        conn.close()

    def close(self) -> None:
        for watch_id in list(self._watches):
            self.cancel_watch(watch_id)
        with self._lock:
            idle, self._idle = self._idle, {}
        for conns in idle.values():
            for conn in conns:
                conn.close()


def _keep_alive_probes(sock: socket.socket) -> None:
    """Probe an idle watch connection: a link that died silently then ends the
    stream within about ten seconds instead of never."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    for name, value in (("TCP_KEEPIDLE", 5), ("TCP_KEEPINTVL", 2), ("TCP_KEEPCNT", 3)):
        option = getattr(socket, name, None)
        if option is not None:
            sock.setsockopt(socket.IPPROTO_TCP, option, value)
