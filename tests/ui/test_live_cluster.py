"""The board in a real browser against a LIVE cluster: real etcd, real agents,
a supervised child killed with SIGKILL, the tile following the failover.

Three `overseer agent` processes run a `pbx` service (process actuator, a
python sleeper child, `alive` process check, candidates pbx1 and pbx2); the
board is served from a SnapshotCache on the same etcd. The child kill ->
failover takes ~0.1 s, shorter than the page's 1 s refresh, so the red phase
may never be rendered: the test records every state the tile goes through (a
MutationObserver in the page, no reload) and asserts only what is robust: the
active server changes on the tile, the tile ends green, the history says why.
"""
from __future__ import annotations

import os
import signal

import pytest

from tests.support.cluster import Cluster, cluster_yaml, sleeper_service
from tests.ui.browser import chromium_missing, chromium_page, live_board, screenshot, tile_status, wait_tile

pytestmark = pytest.mark.slow

SERVERS = ["pbx1", "pbx2", "web1"]
PBX = sleeper_service()
TILE = 'li.tile[data-service="pbx"]'

# Appends (status, tile text) to window.__tileLog whenever the live fragment
# is swapped in; installed once, it survives only if the page never reloads.
RECORD_TILE = """
window.__tileLog = [];
const snap = () => {
  const li = document.querySelector('li.tile[data-service="pbx"]');
  if (li) window.__tileLog.push([li.dataset.status, li.innerText]);
};
snap();
new MutationObserver(snap).observe(document.getElementById('live'), {childList: true, subtree: true});
"""


@pytest.fixture(scope="module", autouse=True)
def _chromium():
    missing = chromium_missing()
    if missing:
        pytest.fail(f"browser test cannot run: {missing}")


@pytest.fixture
def cluster(etcd_url, cluster_name, tmp_path):
    c = Cluster(etcd_url, cluster_name, tmp_path)
    yield c
    c.stop()


def running_pid(snap, server):
    report = snap.reports.get((server, "pbx"))
    if report and report.role == "active" and report.outcome == "ok" and report.pid:
        return report.pid
    return None


def tile_text(page) -> str:
    return page.inner_text(TILE)


def test_killed_child_moves_the_tile_to_the_other_server_live(cluster, etcd_url):
    cluster.apply(cluster_yaml(cluster.name, SERVERS, ttl="2s", extra=PBX))
    for server in SERVERS:
        cluster.start_agent(server)
    snap = cluster.wait_for(lambda s: running_pid(s, "pbx1") and running_pid(s, "pbx2") is None
                            and s.reports.get(("pbx2", "pbx")) is not None,
                            what="pbx active on pbx1, pbx2 reporting")
    with live_board(etcd_url, cluster.name) as board, chromium_page() as page:
        page.goto(board.url + "/")
        # the checks may need a round or two after the child starts: wait for green
        wait_tile(page, "pbx", ("ok",), timeout=15)
        assert "active: pbx1" in tile_text(page)
        assert page.inner_text(f"{TILE} .label") == "OK"
        page.evaluate(RECORD_TILE)

        os.kill(running_pid(snap, "pbx1"), signal.SIGKILL)
        cluster.wait_for(lambda s: running_pid(s, "pbx2") is not None, timeout=15, what="pbx active on pbx2")
        page.wait_for_function(
            "() => { const li = document.querySelector('li.tile[data-service=\"pbx\"]');"
            " return li && li.innerText.includes('active: pbx2') && li.dataset.status === 'ok'; }",
            timeout=15_000)
        log = page.evaluate("window.__tileLog")  # still there: the page was never reloaded
        assert log is not None and len(log) >= 2, log
        assert any("active: pbx1" in text for _, text in log[:1]), log
        assert tile_status(page, "pbx") == "ok" and page.inner_text(f"{TILE} .label") == "OK"
        seen = [status for status, _ in log]
        print(f"tile states seen live: {seen}")  # red/orange shows only if it outlived a 1 s refresh
        screenshot(page, "live-board.png")

        page.click(f"{TILE} a")
        page.wait_for_selector("table.history")
        history = page.inner_text("table.history")
        assert any("pbx1" in line and "pbx2" in line for line in history.splitlines()), history
        assert "active: pbx2" in page.inner_text("section.detail-head")
        screenshot(page, "live-service.png")

        # the cluster timeline draws the real failover, its reason on hover
        page.click("text=timeline")
        page.wait_for_selector('svg.timeline[data-service="pbx"]')
        moves = page.locator('svg.timeline[data-service="pbx"] rect.tl-move title')
        reasons = [moves.nth(i).text_content() for i in range(moves.count())]
        assert any("failover" in r and "pbx2" in r for r in reasons), reasons
        assert page.console_errors == [], page.console_errors


def test_paused_service_shows_red_then_green_on_the_other_server(cluster, etcd_url):
    """Pausing holds the failover, so the red phase lasts until `resume`: the
    green -> red -> green-on-pbx2 sequence is seen for certain, live."""
    cluster.apply(cluster_yaml(cluster.name, SERVERS, ttl="2s", extra=PBX))
    for server in SERVERS:
        cluster.start_agent(server)
    snap = cluster.wait_for(lambda s: running_pid(s, "pbx1"), what="pbx active on pbx1")
    with live_board(etcd_url, cluster.name) as board, chromium_page() as page:
        page.goto(board.url + "/")
        wait_tile(page, "pbx", ("ok",), timeout=15)
        page.evaluate("window.__sameDocument = true")  # survives only if nothing reloads
        cluster.cli("pause", "pbx")
        wait_tile(page, "pbx", ("ok",), timeout=15)
        page.wait_for_selector(f"{TILE} .badge.paused", timeout=15_000)

        os.kill(running_pid(snap, "pbx1"), signal.SIGKILL)
        status = wait_tile(page, "pbx", ("fail", "warn"), timeout=15)
        assert "active: pbx1" in tile_text(page), tile_text(page)
        assert page.inner_text(f"{TILE} .label") in ("FAIL", "WARN"), status
        screenshot(page, "live-board-red.png")

        cluster.cli("resume", "pbx")
        page.wait_for_function(
            "() => { const li = document.querySelector('li.tile[data-service=\"pbx\"]');"
            " return li && li.innerText.includes('active: pbx2') && li.dataset.status === 'ok'; }",
            timeout=20_000)
        assert page.locator(f"{TILE} .badge.paused").count() == 0
        assert page.evaluate("window.__sameDocument") is True
        assert page.console_errors == [], page.console_errors
