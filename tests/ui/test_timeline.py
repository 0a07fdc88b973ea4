"""The board's cluster timeline (ui/timeline.py): marks placed by time and
kind, the history API's filters, and the page in a real browser."""
from __future__ import annotations

import re
import time
from dataclasses import replace

import pytest

from overseer.desired.state import HistoryEntry, Observation, Result
from overseer.ui import timeline as tl
from overseer.ui.app import create_app
from tests.ui.browser import board_server, chromium_missing, chromium_page, screenshot
from tests.ui.snapshots import FakeSource, make_snapshot, with_failover

NOW = 1_800_000_000.0


def entry(service, t, kind, message, server="pbx2"):
    return HistoryEntry(service=service, time=t, kind=kind, message=message, server=server, epoch=7)


def test_a_mark_sits_where_its_time_is_and_says_why_on_hover():
    history = {"pbx": (entry("pbx", NOW - 12 * 3600, "failover", "pbx1: stepped down (self-fenced); pbx2 chosen"),
                       entry("pbx", NOW - 6 * 3600, "master", "pbx2 is master (epoch 9)"),
                       entry("pbx", NOW - 30 * 3600, "failover", "older than a day"))}
    (strip,) = tl.strips(["pbx"], history, {}, NOW)
    assert [(m.x, m.category) for m in strip.marks] == [(tl.WIDTH / 2, "fence"), (tl.WIDTH * 3 / 4, "master")]
    assert "self-fenced" in strip.marks[0].title and "failover [pbx2]" in strip.marks[0].title
    assert tl.x_of(NOW, NOW) == tl.WIDTH and tl.x_of(NOW - tl.SPAN, NOW) == 0.0


def test_a_fence_agent_s_run_is_a_fence_mark():
    history = {"pbx": (entry("pbx", NOW - 60, "fence", "fence of pbx1 failed (attempt 1, after 2.0s): exit 1"),
                       entry("pbx", NOW - 30, "fence", "pbx1 fenced by its fence agent in 0.4s; pbx moves on"))}
    (strip,) = tl.strips(["pbx"], history, {}, NOW)
    assert [m.category for m in strip.marks] == ["fence", "fence"]


def test_failed_check_results_become_ticks_and_ok_ones_do_not():
    obs = Observation("pbx1", "pbx", "alive", status="fail",
                      results=(Result(NOW - 60, "ok", 1.0), Result(NOW - 30, "fail", 0.0)))
    strips = tl.strips(["pbx", "web"], {}, {("pbx1", "pbx", "alive"): obs}, NOW)
    assert [m.category for m in strips[0].marks] == ["check"] and strips[1].marks == ()
    assert "pbx1/alive: fail" in strips[0].marks[0].title


def _client(snap):
    return create_app(FakeSource(snap)).test_client()


def test_history_api_filters_by_service_kind_and_time():
    now = time.time()
    snap = make_snapshot({"pbx1": "", "pbx2": ""}, {"pbx": ["pbx1", "pbx2"], "web": ["pbx2", "pbx1"]})
    snap = with_failover(snap, "pbx", "pbx2", "pbx1: stepped down (self-fenced)", now=now - 100)
    snap = with_failover(snap, "web", "pbx1", "pbx2: alive failed 3/3", now=now - 50)
    client = _client(snap)
    every = client.get("/api/v1/history").get_json()["history"]
    assert {e["service"] for e in every} == {"pbx", "web"}
    fences = client.get("/api/v1/history?kind=fence").get_json()["history"]
    assert [e["service"] for e in fences] == ["pbx"]
    failovers = client.get("/api/v1/history?service=web&kind=failover,master").get_json()
    assert [e["service"] for e in failovers["history"]] == ["web"] and failovers["kind"] == ["failover", "master"]
    recent = client.get(f"/api/v1/history?since={now - 75}").get_json()["history"]
    assert [e["service"] for e in recent] == ["web"]
    assert client.get("/api/v1/history?since=yesterday").status_code == 400


def test_timeline_page_draws_one_strip_per_service():
    now = time.time()
    snap = make_snapshot({"pbx1": "", "pbx2": ""}, {"pbx": ["pbx1", "pbx2"], "web": ["pbx2", "pbx1"]})
    snap = with_failover(snap, "pbx", "pbx2", "pbx1: alive failed 3/3", now=now - 3600)
    page = _client(snap).get("/timeline").get_data(as_text=True)
    assert page.count('<svg class="timeline"') == 2
    assert "<title>" in page and "pbx1: alive failed 3/3" in page


@pytest.mark.slow
def test_timeline_in_a_browser_shows_the_reason_on_hover():
    missing = chromium_missing()
    if missing:
        pytest.fail(f"browser test cannot run: {missing}")
    now = time.time()
    snap = make_snapshot({"pbx1": "", "pbx2": ""}, {"pbx": ["pbx1", "pbx2"], "web": ["pbx2", "pbx1"]})
    snap = with_failover(snap, "pbx", "pbx2", "pbx1: alive failed 3/3 (process gone)", now=now - 7200)
    with board_server(FakeSource(snap)) as server, chromium_page() as page:
        page.goto(server.url + "/timeline?span=24h")
        page.wait_for_selector('svg.timeline[data-service="pbx"]')
        assert page.locator("svg.timeline").count() == 2
        mark = page.locator('svg.timeline[data-service="pbx"] rect.tl-move')
        assert mark.count() == 1
        assert "pbx1: alive failed 3/3 (process gone)" in mark.locator("title").text_content()
        box = mark.bounding_box()
        strip = page.locator('svg.timeline[data-service="pbx"]').bounding_box()
        # two hours ago on a 24-hour strip: about 11/12 of the way along
        assert abs((box["x"] + box["width"] / 2 - strip["x"]) / strip["width"] - 22 / 24) < 0.02, (box, strip)
        screenshot(page, "timeline.png")
        assert page.console_errors == [], page.console_errors


def test_a_busy_strip_draws_its_newest_marks_and_counts_the_rest():
    history = {"pbx": tuple(entry("pbx", NOW - 3600 + i, "failover", f"move {i}") for i in range(200))}
    results = tuple(Result(NOW - 600 + i, "fail", 0.0) for i in range(30))
    obs = {("pbx1", "pbx", "alive"): Observation("pbx1", "pbx", "alive", status="fail", results=results)}
    (strip,) = tl.strips(["pbx"], history, obs, NOW)
    moves = [m for m in strip.marks if m.category != "check"]
    ticks = [m for m in strip.marks if m.category == "check"]
    assert len(moves) == tl.HISTORY_MARKS and len(ticks) == tl.CHECK_MARKS
    assert "move 199" in moves[-1].title and "move 170" in moves[0].title   # the newest kept
    assert strip.hidden == 200 - tl.HISTORY_MARKS + 30 - tl.CHECK_MARKS


def test_a_long_reason_is_cut_in_the_hover_text():
    history = {"pbx": (entry("pbx", NOW - 60, "failover", "x" * 5000),)}
    (strip,) = tl.strips(["pbx"], history, {}, NOW)
    assert len(strip.marks[0].title) == tl.TITLE_CHARS and strip.marks[0].title.endswith("…")


def _many(services: int, entries: int, now: float):
    names = {f"svc{n:04d}": ["pbx1", "pbx2"] for n in range(services)}
    snap = make_snapshot({"pbx1": "", "pbx2": ""}, names)
    history = {s: tuple(entry(s, now - 80_000 + i * 400, "failover", f"{s}: pbx1 alive failed 3/3, moved to pbx2 ({i})")
                        for i in range(entries)) for s in names}
    return replace(snap, history=history)


def test_the_timeline_shows_a_page_of_services_at_a_time():
    now = time.time()
    client = _client(_many(250, 3, now))
    first = client.get("/timeline").get_data(as_text=True)
    assert first.count('<svg class="timeline"') == tl.STRIPS_PER_PAGE == 100
    assert "services 1–100 of 250" in first and 'href="/timeline?page=2"' in first
    third = client.get("/timeline?page=3").get_data(as_text=True)
    assert third.count('<svg class="timeline"') == 50 and 'data-service="svc0249"' in third
    assert 'data-fragment="/partials/timeline?page=3"' in third      # live updates stay on the page
    assert client.get("/timeline?page=4").status_code == 404
    assert client.get("/timeline?page=0").status_code == 400


def test_the_timeline_is_bounded_whatever_the_history():
    now = time.time()
    client = _client(_many(300, 200, now))
    page = client.get("/timeline?span=24h").get_data()
    kept = 300 * 200 * len("svc0000: pbx1 alive failed 3/3, moved to pbx2 (199)")
    assert len(page) < 1024 * 1024 < kept, len(page)     # drawn: 100 strips x 30 marks
    assert "170 older not drawn" in page.decode()


def test_the_span_is_a_parameter_of_the_page():
    now = time.time()
    snap = make_snapshot({"pbx1": "", "pbx2": ""}, {"pbx": ["pbx1", "pbx2"]})
    snap = with_failover(snap, "pbx", "pbx2", "two hours ago", now=now - 7200)
    snap = with_failover(snap, "pbx", "pbx1", "ten minutes ago", now=now - 600)
    client = _client(snap)
    hour = client.get("/timeline?span=1h").get_data(as_text=True)
    assert "Timeline: the last 1 hour" in hour and "ten minutes ago" in hour and "two hours ago" not in hour
    assert 'data-fragment="/partials/timeline?span=1h"' in hour
    assert "two hours ago" in client.get("/timeline").get_data(as_text=True)
    quarter = client.get("/partials/timeline?span=15m").get_data(as_text=True)
    assert "the last 15 minutes" in quarter and "ten minutes ago" in quarter
    for bad in ("2d", "48h", "10s", "soon"):
        assert client.get(f"/timeline?span={bad}").status_code == 400, bad


def test_the_default_span_is_the_smallest_zoom_that_holds_the_newest_events():
    burst = {"pbx": tuple(entry("pbx", NOW - 300 + i * 10, "failover", f"move {i}") for i in range(31))}
    assert tl.default_span(burst, ["pbx"], NOW) == 15 * 60
    older = {"pbx": (entry("pbx", NOW - 40 * 60, "failover", "forty minutes ago"),)}
    assert tl.default_span(older, ["pbx"], NOW) == 3600
    # the newest RECENT_EVENTS decide: one old entry does not widen a busy strip
    mixed = {"pbx": (entry("pbx", NOW - 20 * 3600, "failover", "yesterday"),) + burst["pbx"]}
    assert tl.default_span(mixed, ["pbx"], NOW) == 15 * 60
    assert tl.default_span({}, ["pbx"], NOW) == tl.SPAN
    # held by the strip as drawn, whose right edge is a step after now
    edge = {"pbx": (entry("pbx", NOW - 3600, "failover", "an hour ago"),)}
    assert tl.default_span(edge, ["pbx"], NOW) == 6 * 3600


def test_the_timeline_page_zooms_and_its_marks_and_axis_are_readable():
    now = time.time()
    snap = make_snapshot({"pbx1": "", "pbx2": ""}, {"pbx": ["pbx1", "pbx2"]})
    for i in range(31):
        snap = with_failover(snap, "pbx", ("pbx1", "pbx2")[i % 2], f"move {i}", now=now - 300 + i * 9)
    client = _client(snap)
    page = client.get("/partials/timeline").get_data(as_text=True)
    assert "Timeline: the last 15 minutes" in page
    assert '<strong class="zoom-current" aria-current="true">15 min</strong>' in page
    for q in ("1h", "6h", "24h"):
        assert f'href="/timeline?span={q}"' in page
    marks = re.findall(r'<rect class="tl-move" x="([\d.]+)" y="1" width="(\d+)"', page)
    assert len(marks) == tl.HISTORY_MARKS and {w for _, w in marks} == {str(tl.MARK_WIDTH)}
    xs = sorted(float(x) for x, _ in marks)
    assert xs[-1] - xs[0] > tl.WIDTH / 4            # spread over the strip, not a sliver
    axis = re.search(r'<div class="tl-axis"[^>]*>(.*?)</div>', page).group(1)
    assert len(re.findall(r"<span>\d\d:\d\d:\d\d</span>", axis)) == tl.AXIS_LABELS
    day = client.get("/partials/timeline?span=24h").get_data(as_text=True)
    assert '<strong class="zoom-current" aria-current="true">24 h</strong>' in day
    assert len(re.findall(r"<span>\d\d:\d\d</span>", day.split('class="tl-axis"')[1])) == tl.AXIS_LABELS
