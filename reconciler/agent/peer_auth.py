"""Who may ask and who may answer in failsafe: the exchange signed with the cluster key.

A failsafe answer decides whether a server cut off from etcd keeps its
actives, and a question makes the peer vouch for the asker (failsafe.py), so
both are signed, as corosync signs its traffic with its authkey: HMAC-SHA256
with a key every agent of the cluster reads from a file readable by root only
(`--peer-key-file`). The question carries the asker, the peer it is meant for,
a fresh random nonce, the asker's clock and a MAC over them; the answer's MAC
covers the same fields, the answer's own time and its exact body. So an
answer counts only if it is for our nonce (a recorded answer replays nothing),
from a holder of the key, bound to the peer we asked and the asker we are,
fresh by both clocks, and served with status 200. A peer checks a question
the same way and remembers the nonces it accepted (`Replays`), so a recorded
question makes no second vouch.

A shared key proves membership of the cluster, not which member: any holder
can sign as any server (as with corosync). Keep the file as private as etcd's
credentials.

`PeerTrust` is what the agent was told: a key, certificates (peer_tls.py:
mutual TLS), both, or explicitly none (`--failsafe-trusts-network`: unsigned
questions and answers, the exchange before keys existed), or nothing, and
then failsafe is off (peer_desk.announce says so at start).
"""
from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Mapping, Optional

from overseer.desired import private_file

KEY_MIN_BYTES = 32        # 256 bits, the HMAC's own size; corosync's authkey is at least 128 bytes
KEY_MAX_BYTES = 4096
# Clocks of two servers may differ by this much (NTP keeps them within
# milliseconds); a question or answer dated further away is refused. The
# nonce, not the clock, is what makes an answer fresh; the clock bounds how
# long a question can be held back and delivered later.
MAX_SKEW = 10.0
ANSWER_TIME, ANSWER_MAC = "X-Overseer-Time", "X-Overseer-Mac"


class PeerAuthError(Exception):
    """A question or an answer that does not count, and why."""


class PeerKeyError(Exception):
    """The key file cannot be used; the message names the file and the fix."""


@dataclass(frozen=True)
class PeerKey:
    secret: bytes
    source: str

    def __repr__(self) -> str:   # never the secret, in a log or a traceback
        return f"PeerKey(from {self.source})"


def read_private(path: str, what: str, limit: int) -> bytes:
    """Up to `limit` + 1 bytes of a secret file, refused (PeerKeyError) unless
    it is a regular file owned by root or by us that nobody else may read or
    write (desired/private_file.py)."""
    try:
        return private_file.read_private(path, f"{what} {path}", limit, chmod="0400")
    except private_file.PrivateFileError as exc:
        raise PeerKeyError(str(exc)) from None


def load_key(path: str) -> PeerKey:
    """The cluster key from `path`: its whole content, as corosync's authkey,
    from a private file (read_private) of 32 to 4096 bytes."""
    secret = read_private(path, "peer key file", KEY_MAX_BYTES)
    if not KEY_MIN_BYTES <= len(secret) <= KEY_MAX_BYTES:
        raise PeerKeyError(f"peer key file {path}: {len(secret)} bytes; it must hold {KEY_MIN_BYTES} to "
                           f"{KEY_MAX_BYTES} (e.g. head -c 64 /dev/urandom > {path})")
    return PeerKey(secret, path)


def write_key(path: str) -> PeerKey:
    """A new random key at `path`, mode 0400 (the demo and the tests)."""
    secret = secrets.token_bytes(64)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o400)
    with os.fdopen(fd, "wb") as fh:
        fh.write(secret)
    return PeerKey(secret, path)


@dataclass(frozen=True)
class PeerTrust:
    key: Optional[PeerKey] = None
    trusts_network: bool = False     # no key, and told to trust unsigned answers anyway
    tls: Optional[Any] = None        # peer_tls.PeerTls: mutual TLS, with or without a key

    @property
    def failsafe(self) -> bool:
        return self.key is not None or self.tls is not None or self.trusts_network


TRUSTS_NETWORK = PeerTrust(trusts_network=True)
OFF = PeerTrust()


def _mac(key: PeerKey, label: bytes, *fields: bytes) -> str:
    # length-prefixed, so no two different field lists sign the same bytes
    mac = hmac.new(key.secret, label, hashlib.sha256)
    for field in fields:
        mac.update(b"%d:" % len(field))
        mac.update(field)
    return mac.hexdigest()


def _verifies(expected: str, given: str) -> bool:
    # as bytes: hmac.compare_digest raises TypeError on a str that is not
    # ASCII, and the MAC comes from whoever sent the question or the answer
    return hmac.compare_digest(expected.encode(), given.encode("utf-8", "replace"))


def decode(body: bytes) -> Any:
    """A peer's JSON body; PeerAuthError for anything that is not JSON,
    including nesting past Python's recursion limit (a RecursionError, not a
    ValueError: 16 KiB of "[" is enough)."""
    try:
        return json.loads(body)
    except (ValueError, RecursionError) as exc:
        raise PeerAuthError(f"answer is not JSON: {str(exc)[:100]}") from None


def _time(text: str) -> float:
    value = float(text)
    if value != value or value in (float("inf"), float("-inf")):
        raise ValueError(f"not a time: {text!r}")
    return value


@dataclass(frozen=True)
class Question:
    asker: str
    peer: str
    nonce: str
    time: float
    mac: str = ""

    def _fields(self) -> tuple[bytes, ...]:
        return (self.asker.encode(), self.peer.encode(), self.nonce.encode(), repr(self.time).encode())

    def params(self) -> dict[str, str]:
        if not self.mac:
            return {"from": self.asker} if self.asker else {}
        return {"from": self.asker, "to": self.peer, "nonce": self.nonce, "time": repr(self.time),
                "mac": self.mac}


def ask(trust: PeerTrust, asker: str, peer: str, now: float) -> Question:
    """A new question from `asker` to `peer` (unsigned without a key)."""
    question = Question(asker, peer, secrets.token_hex(16), now)
    if trust.key is None:
        return question
    return Question(asker, peer, question.nonce, now, _mac(trust.key, b"overseer-ask-v1", *question._fields()))


def read_question(params: Mapping[str, str]) -> Question:
    """The question in a request's query; PeerAuthError if it is not a whole signed one."""
    try:
        question = Question(params["from"], params["to"], params["nonce"], _time(params["time"]), params["mac"])
    except KeyError as exc:
        raise PeerAuthError(f"unsigned question (no {exc.args[0]!r}): this cluster's failsafe needs the peer key")
    except ValueError as exc:
        raise PeerAuthError(f"malformed question: {exc}") from None
    if not (16 <= len(question.nonce) <= 128):
        raise PeerAuthError("malformed question: the nonce must be 16 to 128 characters")
    return question


class Replays:
    """Nonces of questions accepted in the last 2 x MAX_SKEW: a question
    recorded on the wire and sent again is refused. Bounded: only questions
    with a valid MAC get here, so only a key holder could fill it."""

    def __init__(self, limit: int = 4096) -> None:
        self._seen: OrderedDict[str, float] = OrderedDict()
        self.limit = limit

    def first_time(self, nonce: str, now: float) -> bool:
        while self._seen and (len(self._seen) >= self.limit
                              or next(iter(self._seen.values())) < now - 2 * MAX_SKEW):
            self._seen.popitem(last=False)
        if nonce in self._seen:
            return False
        self._seen[nonce] = now
        return True


def check_question(key: PeerKey, question: Question, me: str, now: float, replays: Replays) -> None:
    """Raise PeerAuthError unless the question is signed with our key, meant
    for us, dated within MAX_SKEW of our clock and not seen before."""
    expected = _mac(key, b"overseer-ask-v1", *question._fields())
    if not _verifies(expected, question.mac):
        raise PeerAuthError(f"question signed as from {question.asker!r} does not verify (a different peer key?)")
    if question.peer != me:
        raise PeerAuthError(f"question from {question.asker!r} is meant for {question.peer!r}, not for us")
    if abs(now - question.time) > MAX_SKEW:
        raise PeerAuthError(f"question from {question.asker!r} is {now - question.time:+.1f}s old "
                            f"(more than {MAX_SKEW:g}s: replayed, or the clocks differ)")
    if not replays.first_time(question.nonce, now):
        raise PeerAuthError(f"question from {question.asker!r} replayed (its nonce was seen before)")


def sign_answer(key: PeerKey, question: Question, body: bytes, now: float) -> dict[str, str]:
    """The headers that make `body` our answer to `question`."""
    return {ANSWER_TIME: repr(now),
            ANSWER_MAC: _mac(key, b"overseer-answer-v1", *question._fields(), repr(now).encode(), body)}


def check_answer(trust: PeerTrust, question: Question, status: int, headers: Mapping[str, str],
                 body: bytes, now: float) -> dict:
    """The peer's answer if it counts; PeerAuthError saying why not.

    Without a key (the network is trusted) the status and the peer's name
    are still checked: an error page or another server's answer is no "etcd
    is gone here too"."""
    if status != 200:
        raise PeerAuthError(f"HTTP status {status}")
    headers = {name.lower(): value for name, value in headers.items()}
    if trust.key is not None:
        try:
            said = _time(headers.get(ANSWER_TIME.lower(), ""))
        except ValueError:
            raise PeerAuthError("unsigned answer (no valid time)") from None
        expected = _mac(trust.key, b"overseer-answer-v1", *question._fields(), repr(said).encode(), body)
        if not _verifies(expected, headers.get(ANSWER_MAC.lower(), "")):
            raise PeerAuthError("answer does not verify (not for our question, or a different peer key)")
        if abs(now - said) > MAX_SKEW:
            raise PeerAuthError(f"answer dated {said - now:+.1f}s from our clock (more than {MAX_SKEW:g}s)")
    answer = decode(body)
    if not isinstance(answer, dict) or answer.get("etcd") not in (True, False, None):
        raise PeerAuthError("answer is not a failsafe status")
    if answer.get("server") != question.peer:
        server = answer.get("server")
        named = repr(server[:100]) if isinstance(server, str) else "no server name"
        raise PeerAuthError(f"answer from {named}, not from {question.peer!r} whom we asked")
    return answer
