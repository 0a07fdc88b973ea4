"""peer_auth.py: the failsafe question and answer, signed with the cluster key.

An answer counts only if it answers our nonce, from the peer we asked, to
us, fresh, with a MAC that verifies and status 200; a question only if it is
signed, meant for the peer that reads it, fresh and new. Each case below is
refused for exactly its own reason (the message says which), and the genuine
exchange passes."""
from __future__ import annotations

import json
import os

import pytest

from overseer.reconciler.agent import peer_auth
from overseer.reconciler.agent.peer_auth import (ANSWER_MAC, ANSWER_TIME, MAX_SKEW, PeerAuthError, PeerKey,
                                                 PeerKeyError, PeerTrust, Replays)

KEY = PeerKey(b"k" * 32, "test")
OTHER = PeerKey(b"o" * 32, "other")
TRUST = PeerTrust(KEY)
NOW = 1_800_000_000.0


def _answer(question, body=None, key=KEY, now=NOW, server="b", etcd=False):
    body = body if body is not None else json.dumps({"server": server, "etcd": etcd}).encode()
    return body, peer_auth.sign_answer(key, question, body, now)


def _check(question, body, headers, status=200, now=NOW + 0.1, trust=TRUST):
    return peer_auth.check_answer(trust, question, status, headers, body, now)


def test_a_genuine_exchange_counts_and_the_question_survives_the_query_string():
    question = peer_auth.ask(TRUST, "a", "b", NOW)
    received = peer_auth.read_question(dict(question.params()))
    peer_auth.check_question(KEY, received, "b", NOW + 0.05, Replays())
    body, headers = _answer(received)
    assert _check(question, body, headers) == {"server": "b", "etcd": False}
    # header names are case-insensitive on the wire
    assert _check(question, body, {k.lower(): v for k, v in headers.items()})["etcd"] is False


def test_a_replayed_answer_does_not_answer_a_new_question():
    old = peer_auth.ask(TRUST, "a", "b", NOW)
    body, headers = _answer(old)
    new = peer_auth.ask(TRUST, "a", "b", NOW + 5)
    assert new.nonce != old.nonce
    with pytest.raises(PeerAuthError, match="does not verify"):
        _check(new, body, headers, now=NOW + 5.1)


@pytest.mark.parametrize("case, match", [
    ("another key", "does not verify"),
    ("unsigned", "unsigned answer"),
    ("body changed", "does not verify"),
    ("time changed", "does not verify"),
    ("for another asker", "does not verify"),
    ("status 500", "HTTP status 500"),
    ("another server's name", "not from 'b' whom we asked"),
    ("stale", "from our clock"),
    ("not a status", "not a failsafe status"),
])
def test_an_answer_that_does_not_count(case, match):
    question = peer_auth.ask(TRUST, "a", "b", NOW)
    body, headers = _answer(question)
    status, now = 200, NOW + 0.1
    if case == "another key":
        body, headers = _answer(question, key=OTHER)
    elif case == "unsigned":
        headers = {}
    elif case == "body changed":
        body = json.dumps({"server": "b", "etcd": None}).encode()
    elif case == "time changed":
        headers = {**headers, ANSWER_TIME: repr(NOW + 1)}
    elif case == "for another asker":
        body, headers = _answer(peer_auth.Question("c", "b", question.nonce, question.time, question.mac))
    elif case == "status 500":
        status = 500
    elif case == "another server's name":
        body, headers = _answer(question, server="mallory")   # a key holder answering as someone else
    elif case == "stale":
        now = NOW + MAX_SKEW + 1
    elif case == "not a status":
        body, headers = _answer(question, body=b"[1]")
    with pytest.raises(PeerAuthError, match=match):
        _check(question, body, headers, status=status, now=now)


def test_without_a_key_the_status_and_the_name_are_still_checked():
    trust = peer_auth.TRUSTS_NETWORK
    question = peer_auth.ask(trust, "a", "b", NOW)
    assert question.params() == {"from": "a"} and not question.mac
    good = json.dumps({"server": "b", "etcd": False}).encode()
    assert _check(question, good, {}, trust=trust)["etcd"] is False
    with pytest.raises(PeerAuthError, match="mallory"):
        _check(question, json.dumps({"server": "mallory", "etcd": False}).encode(), {}, trust=trust)
    with pytest.raises(PeerAuthError, match="status 404"):
        _check(question, good, {}, status=404, trust=trust)


@pytest.mark.parametrize("case, match", [
    ("unsigned", "unsigned question"),
    ("another key", "does not verify"),
    ("meant for another peer", "meant for 'c'"),
    ("forged asker", "does not verify"),
    ("stale", "old"),
    ("from the future", "old"),
    ("replayed", "replayed"),
    ("bad time", "malformed"),
])
def test_a_question_that_does_not_count(case, match):
    replays = Replays()
    question = peer_auth.ask(TRUST, "a", "b", NOW)
    params, now = dict(question.params()), NOW + 0.1
    if case == "unsigned":
        params = {"from": "a"}
    elif case == "another key":
        params = dict(peer_auth.ask(PeerTrust(OTHER), "a", "b", NOW).params())
    elif case == "meant for another peer":
        params = dict(peer_auth.ask(TRUST, "a", "c", NOW).params())
    elif case == "forged asker":
        params["from"] = "c"
    elif case == "stale":
        now = NOW + MAX_SKEW + 1
    elif case == "from the future":
        now = NOW - MAX_SKEW - 1
    elif case == "replayed":
        peer_auth.check_question(KEY, peer_auth.read_question(params), "b", now, replays)
    elif case == "bad time":
        params["time"] = "nan"
    with pytest.raises(PeerAuthError, match=match):
        peer_auth.check_question(KEY, peer_auth.read_question(params), "b", now, replays)


def test_replays_forget_only_what_is_too_old_to_be_accepted_anyway():
    replays = Replays(limit=3)
    assert replays.first_time("n1", NOW)
    assert not replays.first_time("n1", NOW + 2 * MAX_SKEW - 1)
    assert replays.first_time("n1", NOW + 2 * MAX_SKEW + 1)   # outside the window: the clock check refuses it
    for n in ("n2", "n3", "n4"):
        assert replays.first_time(n, NOW + 2 * MAX_SKEW + 1)
    assert len(replays._seen) == 3


def test_the_key_file_must_be_private_and_long_enough(tmp_path):
    path = str(tmp_path / "peer.key")
    key = peer_auth.write_key(path)
    assert oct(os.stat(path).st_mode & 0o777) == "0o400"
    assert peer_auth.load_key(path).secret == key.secret and "k" * 8 not in repr(key)
    os.chmod(path, 0o640)
    with pytest.raises(PeerKeyError, match="chmod 0400"):
        peer_auth.load_key(path)
    short = tmp_path / "short.key"
    short.write_bytes(b"x" * 31)
    short.chmod(0o600)
    with pytest.raises(PeerKeyError, match="31 bytes"):
        peer_auth.load_key(str(short))
    with pytest.raises(PeerKeyError, match="No such file"):
        peer_auth.load_key(str(tmp_path / "missing"))
    with pytest.raises(PeerKeyError, match="not a regular file"):
        peer_auth.load_key(str(tmp_path))
