"""`/api/v1/history` answers in bounded pages (ui/history_page.py): a default
and a maximum `limit`, a `next` cursor that walks the whole history newest
first exactly once, even across entries of one instant and while new entries
arrive and old ones are trimmed."""
from __future__ import annotations

import random
from dataclasses import replace

import pytest

from overseer.desired.state import HistoryEntry
from overseer.ui import history_page as hp
from overseer.ui.app import create_app
from tests.ui.snapshots import FakeSource, make_snapshot

NOW = 1_800_000_000.0
SERVICES = {"pbx": ["a", "b"], "web": ["b", "a"], "db": ["a", "b"]}


def entry(service: str, t: float, message: str = "", kind: str = "failover") -> HistoryEntry:
    return HistoryEntry(service=service, time=t, kind=kind, message=message or f"{service}@{t}", server="a")


def snapshot_with(history: dict) -> object:
    snap = make_snapshot({"a": "", "b": ""}, SERVICES)
    return replace(snap, history={s: tuple(sorted(h, key=lambda e: e.time)) for s, h in history.items()})


def walk(client, query: str = "", limit: int = 0) -> list[list[dict]]:
    """Every page of a query, following `next`."""
    pages, cursor = [], None
    while True:
        params = [p for p in (query, f"limit={limit}" if limit else "", f"cursor={cursor}" if cursor else "") if p]
        body = client.get("/api/v1/history?" + "&".join(params)).get_json()
        pages.append(body["history"])
        cursor = body["next"]
        if cursor is None:
            return pages
        assert len(pages) < 1000, "the cursor does not move on"


def newest_first(history: dict) -> list[str]:
    """The documented order, from scratch: time desc, service asc, then newest written first."""
    rows = []
    for service, entries in history.items():
        ordered = sorted(entries, key=lambda e: e.time)
        for i, e in enumerate(ordered):
            rows.append((-e.time, service, -i, e.message))
    return [m for *_, m in sorted(rows)]


def test_a_large_history_comes_in_pages_of_the_default_size():
    history = {s: [entry(s, NOW - i) for i in range(150)] for s in SERVICES}
    client = create_app(FakeSource(snapshot_with(history))).test_client()
    first = client.get("/api/v1/history").get_json()
    assert len(first["history"]) == hp.DEFAULT_LIMIT == 100
    assert first["limit"] == 100 and first["next"]
    pages = walk(client)
    assert [len(p) for p in pages] == [100, 100, 100, 100, 50]
    assert [e["message"] for p in pages for e in p] == newest_first(history)


@pytest.mark.parametrize("limit", ["0", "-1", "1001", "lots", "1.5"])
def test_a_limit_outside_1_to_1000_is_refused_with_the_bound(limit):
    client = create_app(FakeSource(snapshot_with({}))).test_client()
    got = client.get(f"/api/v1/history?limit={limit}")
    assert got.status_code == 400
    assert client.get("/api/v1/history?limit=1000").status_code == 200


def test_the_error_names_the_largest_limit():
    client = create_app(FakeSource(snapshot_with({}))).test_client()
    got = client.get("/api/v1/history?limit=5000")
    assert "from 1 to 1000" in got.get_data(as_text=True)


def test_entries_of_one_instant_are_neither_lost_nor_repeated_across_pages():
    history = {"pbx": [entry("pbx", NOW, f"twin{i}") for i in range(5)] + [entry("pbx", NOW - 1, "older")],
               "web": [entry("web", NOW, "web twin")], "db": [entry("db", NOW, "db twin")]}
    client = create_app(FakeSource(snapshot_with(history))).test_client()
    pages = walk(client, limit=2)
    got = [e["message"] for p in pages for e in p]
    # newest first: at NOW db, pbx (last written first), web; then the older one
    assert got == ["db twin", "twin4", "twin3", "twin2", "twin1", "twin0", "web twin", "older"]


def test_random_histories_page_to_exactly_the_documented_order():
    rng = random.Random(7)
    for _ in range(30):
        history = {s: [entry(s, NOW - rng.choice([0, 1, 2, 2.5, 7]), f"{s}{i}") for i in range(rng.randint(0, 12))]
                   for s in SERVICES}
        client = create_app(FakeSource(snapshot_with(history))).test_client()
        limit = rng.randint(1, 5)
        got = [e["message"] for p in walk(client, limit=limit) for e in p]
        assert got == newest_first(history), (limit, history)


def test_a_cursor_survives_new_entries_and_trimming():
    history = {"pbx": [entry("pbx", NOW - i, f"old{i}") for i in range(20)]}
    source = FakeSource(snapshot_with(history))
    client = create_app(source).test_client()
    first = client.get("/api/v1/history?limit=5").get_json()
    assert [e["message"] for e in first["history"]] == [f"old{i}" for i in range(5)]
    # meanwhile two new entries arrive and the two oldest are trimmed
    moved = {"pbx": [entry("pbx", NOW + 1, "new1"), entry("pbx", NOW + 2, "new2")]
             + [entry("pbx", NOW - i, f"old{i}") for i in range(18)]}
    source.set(replace(snapshot_with(moved), revision=200))
    second = client.get(f"/api/v1/history?limit=5&cursor={first['next']}").get_json()
    assert [e["message"] for e in second["history"]] == [f"old{i}" for i in range(5, 10)]


def test_before_since_service_and_kind_combine_with_paging():
    history = {s: [entry(s, NOW - i, f"{s}{i}", kind="failover" if i % 2 else "master") for i in range(40)]
               for s in SERVICES}
    client = create_app(FakeSource(snapshot_with(history))).test_client()
    pages = walk(client, f"service=web&kind=failover&before={NOW - 10}&since={NOW - 30}", limit=4)
    got = [e["message"] for p in pages for e in p]
    assert got == [f"web{i}" for i in range(11, 31) if i % 2]
    body = client.get(f"/api/v1/history?before={NOW - 38}").get_json()
    assert body["before"] == NOW - 38 and {e["time"] for e in body["history"]} == {NOW - 39}


@pytest.mark.parametrize("query", ["cursor=nope", "cursor=WzEsMl0", "before=soon", "since=nan"])
def test_a_bad_cursor_or_time_is_a_400_that_says_why(query):
    client = create_app(FakeSource(snapshot_with({}))).test_client()
    got = client.get(f"/api/v1/history?{query}")
    assert got.status_code == 400
    assert got.get_json()["status"] == 400
