"""desired/store/etcd_answers.py and etcd_wire.decode are total: whatever
JSON (or bytes) arrives, they return a value or raise BadAnswer / return a
StoreError; no other exception ever leaves them (property tests), and a
good answer reads right.
"""
from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from overseer.desired.store import etcd_answers as answers
from overseer.desired.store.errors import StoreError
from overseer.desired.store.etcd_types import Delete, Get, Put
from overseer.desired.store.etcd_wire import decode

SCALARS = st.none() | st.booleans() | st.integers(-2 ** 70, 2 ** 70) | st.floats() | st.text(max_size=12)
# keys etcd's answers use, so that structures often look almost right
NAMES = st.sampled_from(["header", "revision", "kvs", "key", "value", "create_revision", "mod_revision",
                         "version", "lease", "count", "succeeded", "responses", "response_range",
                         "response_delete_range", "response_put", "deleted", "ID", "TTL", "error", "token",
                         "canceled", "cancel_reason", "events", "result", "code", "message"]) | st.text(max_size=6)
JSON = st.recursive(SCALARS | st.sampled_from(["YQ==", "12", "-1", "!!"]),
                    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(NAMES, inner, max_size=5),
                    max_leaves=30)
OPS = [Get(b"a"), Get(b"a", b"b"), Put(b"a", b"1"), Delete(b"a")]

PARSERS = {
    "range": lambda raw: answers.range_of(raw, b"a", b"b"),
    "txn": lambda raw: answers.txn_of(raw, OPS, OPS[:1]),
    "deleted": answers.deleted_of,
    "grant": answers.lease_grant_of,
    "ttl": answers.ttl_of,
    "token": answers.token_of,
    "watch": answers.watch_message,
    "checked": answers.checked,
}


@pytest.mark.parametrize("parser", sorted(PARSERS))
@given(raw=st.dictionaries(NAMES, JSON, max_size=6))
def test_every_parser_reads_or_says_what_is_wrong(parser, raw):
    try:
        PARSERS[parser](raw)
    except answers.BadAnswer as exc:
        assert exc.field is not None and exc.problem


@given(data=st.binary(max_size=200) | JSON.map(lambda v: json.dumps(v).encode()),
       status=st.sampled_from([200, 400, 404, 500, 503]), stream=st.booleans())
def test_decode_returns_an_answer_or_a_store_error(data, status, stream):
    answer = decode(data, status, stream, "http://e:2379", "kv/range")
    assert isinstance(answer, (dict, StoreError))
    if status >= 500:
        assert isinstance(answer, StoreError)


HEADER = {"header": {"revision": "7"}}


def test_a_good_range_answer_reads_right():
    raw = {**HEADER, "count": "2", "kvs": [
        {"key": "YQ==", "value": "MQ==", "create_revision": "3", "mod_revision": "5", "version": "2", "lease": "9"},
        {"key": "YWI=", "create_revision": "4", "mod_revision": "4", "version": "1"}]}
    rng = answers.range_of(raw, b"a", b"b")
    assert rng.header.revision == 7 and rng.count == 2
    [first, second] = rng.kvs
    assert (first.key, first.value, first.create_revision, first.mod_revision, first.version, first.lease) == \
        (b"a", b"1", 3, 5, 2, 9)
    assert (second.key, second.value, second.lease) == (b"ab", b"", 0)


@pytest.mark.parametrize("raw, field", [
    ({"kvs": []}, "header.revision"),
    ({"header": {"revision": "0"}}, "header.revision"),
    ({**HEADER, "kvs": [{"key": "Yg=="}]}, "kvs[0].key"),                       # outside [a, b)
    ({**HEADER, "kvs": [{"key": "YQ==", "value": None}]}, "kvs[0].value"),
    ({**HEADER, "kvs": [{"key": "YQ==", "version": "1.5"}]}, "kvs[0].version"),
    ({**HEADER, "kvs": [{"key": "YQ==", "lease": str(2 ** 64)}]}, "kvs[0].lease"),
])
def test_a_bad_range_answer_names_the_field(raw, field):
    with pytest.raises(answers.BadAnswer) as bad:
        answers.range_of(raw, b"a", b"b")
    assert bad.value.field == field, bad.value


def test_a_transaction_answer_must_match_its_operations():
    good = {**HEADER, "succeeded": True, "responses": [
        {"response_range": {"header": {"revision": "7"}, "kvs": [{"key": "YQ==", "value": "MQ=="}]}},
        {"response_range": {}}, {"response_put": {}}, {"response_delete_range": {"deleted": "1"}}]}
    ok, results = answers.txn_of(good, OPS, [])
    assert ok and results[0][0][0] == b"1" and results[1] == [] and results[2] is None
    assert results[3].deleted == 1
    with pytest.raises(answers.BadAnswer, match="3 results for 4 operations"):
        answers.txn_of({**good, "responses": good["responses"][:3]}, OPS, [])
    with pytest.raises(answers.BadAnswer, match="no response_delete_range for a Delete"):
        answers.txn_of({**good, "responses": good["responses"][:3] + [{"response_put": {}}]}, OPS, [])
    # the failure branch ran: its own operations, here none
    assert answers.txn_of(HEADER, OPS, []) == (False, [])
