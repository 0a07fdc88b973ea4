"""The board in a real browser (Debian chromium via Playwright), live updates without reload."""
from __future__ import annotations

import time

import pytest

from tests.ui.browser import (
    board_server, chromium_missing, chromium_page, screenshot, tile_status, wait_tile,
)
from tests.ui.snapshots import FakeSource, make_snapshot, with_failover, with_status

pytestmark = pytest.mark.slow

REASON = "pbx1: alive failed 3 times in a row (process asterisk gone)"


@pytest.fixture(scope="module", autouse=True)
def _chromium():
    missing = chromium_missing()
    if missing:
        pytest.fail(f"browser test cannot run: {missing}")


def test_tile_turns_red_live_and_detail_shows_failover_reason():
    snap = make_snapshot({"pbx1": "switch-a", "pbx2": "switch-b", "web1": "switch-b"},
                         {"asterisk": ["pbx1", "pbx2"], "web": ["web1", "pbx2"],
                          "db": ["pbx2", "web1"]}, checks=("alive", "ami"), paused=["db"])
    source = FakeSource(snap)
    with board_server(source) as server, chromium_page() as page:
        page.goto(server.url + "/")
        assert tile_status(page, "asterisk") == "ok"
        assert page.inner_text('li.tile[data-service="asterisk"] .label') == "OK"
        page.evaluate("window.__sameDocument = true")  # survives only if nothing reloads

        source.set(with_status(snap, "pbx1", "asterisk", "alive", "fail", "process gone"))
        wait_tile(page, "asterisk", ("fail",), timeout=15)
        assert page.inner_text('li.tile[data-service="asterisk"] .label') == "FAIL"
        assert page.evaluate("window.__sameDocument") is True
        screenshot(page, "board.png")

        source.set(with_failover(snap, "asterisk", "pbx2", REASON))
        wait_tile(page, "asterisk", ("ok", "warn"), timeout=15)
        assert "active: pbx2" in page.inner_text('li.tile[data-service="asterisk"]')
        assert page.evaluate("window.__sameDocument") is True

        page.click('li.tile[data-service="asterisk"] a')
        page.wait_for_selector("table.history")
        assert REASON in page.inner_text("table.history")
        assert page.locator("svg.strip rect").count() > 0
        screenshot(page, "service.png")
        assert page.console_errors == [], page.console_errors  # no CSP violations, no JS errors


def test_stale_banner_appears_live():
    source = FakeSource(make_snapshot({"a": "", "b": ""}, {"web": ["a", "b"]}))
    with board_server(source) as server, chromium_page() as page:
        page.goto(server.url + "/")
        assert page.locator(".banner.stale").count() == 0
        source.go_stale("etcd unreachable at http://127.0.0.1:2379", since=time.time())
        page.wait_for_selector(".banner.stale", timeout=15_000)
        assert "etcd view stale since" in page.inner_text(".banner.stale")


def test_an_unchanged_board_is_polled_with_304s_and_a_change_still_shows():
    snap = make_snapshot({"pbx1": "", "pbx2": ""}, {"asterisk": ["pbx1", "pbx2"]})
    # a view never read again goes stale (muted tiles: another fragment) after
    # 3 resyncs; a long one keeps this view fresh however slowly Chromium starts
    source = FakeSource(snap, resync=600)
    with board_server(source) as server, chromium_page() as page:
        polls: list[int] = []
        page.on("response", lambda r: polls.append(r.status) if "/partials/board" in r.url else None)
        page.goto(server.url + "/")
        while len(polls) < 5:   # the page's own 1 s timer polls
            page.wait_for_event("response", lambda r: "/partials/board" in r.url, timeout=5000)
        # the first ask only learns the board's clock (If-None-Match: *), then one whole fragment
        assert polls[:2] == [304, 200] and set(polls[2:5]) == {304}, polls
        source.set(with_status(snap, "pbx1", "asterisk", "alive", "fail", "process gone"))
        wait_tile(page, "asterisk", ("fail",), timeout=15)
        assert 200 in polls[5:] and page.console_errors == [], (polls, page.console_errors)
