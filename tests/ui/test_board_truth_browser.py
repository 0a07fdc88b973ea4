"""The board in Chromium after `make demo`'s kill -9 of pbx1's agent, and during a
planned switchover: what it shows is true now, with ages that count without
reloads. Screenshots: ARTIFACTS/board-truth/ (tests/ui/browser.py)."""
from __future__ import annotations

import re
import time

import pytest

from tests.ui.browser import board_server, chromium_missing, chromium_page, screenshot
from tests.ui.snapshots import FakeSource, make_snapshot, with_failover
from tests.ui.test_detail_rows import killed_and_moved
from tests.ui.test_tiles import switching_over

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module", autouse=True)
def _chromium():
    missing = chromium_missing()
    if missing:
        pytest.fail(f"browser test cannot run: {missing}")


def seconds(text: str) -> int:
    found = re.search(r"(\d+) s\b", text)
    assert found, text
    return int(found.group(1))


def test_after_a_kill_the_board_says_who_is_down_since_when_and_counts_on():
    now = time.time()
    source = FakeSource(make_snapshot({"pbx1": "", "pbx2": ""}, {"pbx": ["pbx1", "pbx2"]}, now=now - 40))
    with board_server(source) as server, chromium_page() as page:
        page.goto(server.url + "/")
        page.wait_for_selector('li.server[data-server="pbx1"] .seen time:text-matches("ago$")')
        source.set(killed_and_moved(time.time()))
        page.wait_for_selector('li.tile[data-service="pbx"][data-state="warn"] .headline')
        headline = page.locator('li.tile[data-service="pbx"] .headline')
        page.wait_for_function("el => /pbx1 down \\d+ s/.test(el.textContent)", arg=headline.element_handle())
        first = headline.inner_text()
        assert re.search(r"no standby for \d+ s; pbx1 down \d+ s; moved to pbx2 at \d\d:\d\d:\d\d "
                         r"\(failover, \d+ s ago\)", first), first
        down = page.locator('li.server[data-server="pbx1"] .seen').inner_text()
        assert down.startswith("down · last seen ") and down.endswith(" ago"), down
        assert page.locator('li.server[data-server="pbx2"] .seen').inner_text().startswith("lease live · seen ")
        # the age counts on in the page, while the fragment itself is unchanged (304s)
        page.wait_for_function("([el, was]) => el.textContent !== was", arg=[headline.element_handle(), first],
                               timeout=5000)
        assert seconds(headline.inner_text().split("pbx1 down")[1]) > seconds(first.split("pbx1 down")[1])
        assert "1 degraded" in page.inner_text(".counts")
        screenshot(page, "board-truth/board-after-kill.png")

        page.click('li.tile[data-service="pbx"] a')
        page.wait_for_selector('tr[data-server="pbx1"][data-stale="1"]')
        row = page.inner_text('table.checks tr[data-server="pbx1"]')
        assert "STALE" in row and "not assigned (down)" in row and re.search(r"last reported \d+ s ago", row), row
        agent = page.inner_text('ul.agents li[data-server="pbx1"]')
        assert "last reported active" in agent and re.search(r"stale: lease gone, reported \d+ s ago", agent), agent
        screenshot(page, "board-truth/service-after-kill.png")
        assert page.console_errors == [], page.console_errors


def test_a_switchover_is_not_red_and_a_stale_view_mutes_the_tiles():
    source = FakeSource(switching_over(time.time()))
    with board_server(source) as server, chromium_page() as page:
        page.goto(server.url + "/")
        tile = page.locator('li.tile[data-service="pbx"]')
        assert tile.get_attribute("data-state") == "switching"
        assert tile.locator(".label").inner_text() == "SWITCHING OVER"
        red = page.evaluate("getComputedStyle(document.querySelector('.tile.s-fail') || document.body)"
                            ".backgroundColor")
        colour = tile.evaluate("el => getComputedStyle(el).backgroundColor")
        assert colour != "rgb(198, 40, 40)" and colour != red, colour     # --fail is #c62828
        screenshot(page, "board-truth/switching-over.png")
        source.go_stale("etcd unreachable at http://127.0.0.1:2379", since=time.time())
        page.wait_for_selector('.board.muted[data-muted="1"]', timeout=15_000)
        assert "grayscale" in tile.evaluate("el => getComputedStyle(el).filter")
        screenshot(page, "board-truth/stale-view-muted.png")


def test_the_timeline_opens_on_the_recent_burst_and_zooms_out():
    now = time.time()
    snap = make_snapshot({"pbx1": "", "pbx2": ""}, {"pbx": ["pbx1", "pbx2"], "web": ["pbx2", "pbx1"]})
    for i in range(31):
        snap = with_failover(snap, "pbx", ("pbx1", "pbx2")[i % 2], f"move {i}", now=now - 300 + i * 9)
    with board_server(FakeSource(snap)) as server, chromium_page() as page:
        page.goto(server.url + "/timeline")
        assert page.inner_text("h1") == "Timeline: the last 15 minutes"
        # measured in one go: the live page may swap its fragment between two calls
        box, rects = page.evaluate("""() => {
            const strip = document.querySelector('svg.timeline[data-service="pbx"]');
            const one = r => ({x: r.x, width: r.width});
            return [one(strip.getBoundingClientRect()),
                    [...strip.querySelectorAll('rect.tl-move')].map(m => one(m.getBoundingClientRect()))];
        }""")
        assert len(rects) == 30 and min(r["width"] for r in rects) >= 5, rects   # readable, not a hairline
        lefts = [r["x"] for r in rects]
        assert max(lefts) - min(lefts) > box["width"] / 4                # a burst, spread out
        assert page.locator(".tl-axis span").count() == 5
        screenshot(page, "board-truth/timeline-15min.png")
        page.click(".zoom a:text('24 h')")
        page.wait_for_selector("text=Timeline: the last 24 hours")
        screenshot(page, "board-truth/timeline-24h.png")
        assert page.console_errors == [], page.console_errors
