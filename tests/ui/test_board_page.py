"""The board page (ui/pages.py, _board.html): every tile that is not green says
what is wrong and since when, a switchover is not red, a stale etcd view mutes
the tiles, every server says when it was last seen, the header's counts say
what they count, and ages are counted by the page on the board's clock."""
from __future__ import annotations

import re
import time

from overseer.ui.app import create_app
from tests.ui.snapshots import FakeSource, make_snapshot, with_status
from tests.ui.test_detail_rows import killed_and_moved
from tests.ui.test_tiles import switching_over


def board(source) -> str:
    return create_app(source).test_client().get("/partials/board").get_data(as_text=True)


def tile_html(html: str, service: str) -> str:
    return html.split(f'data-service="{service}"', 1)[1].split("</li>", 1)[0]


def test_a_tile_that_is_not_green_says_what_and_since_when_in_one_line():
    now = time.time()
    html = board(FakeSource(killed_and_moved(now)))
    pbx = tile_html(html, "pbx")
    headline = re.search(r'<span class="headline">(.*?)</span>', pbx, re.S).group(1)
    words = re.sub(r"<time[^>]*>[^<]*</time>", "AGE", headline)
    assert re.fullmatch(r"no standby for AGE; pbx1 down AGE; moved to pbx2 at \d\d:\d\d:\d\d \(failover, AGE\)",
                        words), words
    assert "supervised child running" not in pbx   # a gone server's check is not shown as live


def test_every_server_says_when_it_was_last_seen():
    html = board(FakeSource(killed_and_moved(time.time())))
    servers = html.split('aria-label="servers"', 1)[1].split("</section>", 1)[0]
    pbx1 = servers.split('data-server="pbx1"', 1)[1].split("</li>", 1)[0]
    pbx2 = servers.split('data-server="pbx2"', 1)[1].split("</li>", 1)[0]
    assert "down · last record" in pbx1 and 'data-t="' in pbx1 and 'data-form="ago"' in pbx1
    assert "lease live · seen" in pbx2 and 'data-read="1"' in pbx2


def test_a_switchover_in_progress_is_shown_switching_not_failed():
    html = board(FakeSource(switching_over(time.time())))
    # the status view still says fail (nothing active); the tile says what it is
    assert '<li class="tile s-switching" data-service="pbx" data-status="fail" data-state="switching">' in html
    pbx = tile_html(html, "pbx")
    assert "SWITCHING OVER" in pbx and "switching over to pbx2 (planned)" in pbx and "s-fail" not in pbx


def test_tiles_are_muted_while_the_etcd_view_is_stale():
    source = FakeSource(make_snapshot({"a": "", "b": ""}, {"web": ["a", "b"]}))
    assert '<div class="board" data-muted="0">' in board(source)
    source.go_stale("etcd unreachable", since=time.time() - 5)
    html = board(source)
    assert '<div class="board muted" data-muted="1">' in html and "etcd view stale since" in html


def test_the_header_counts_say_what_they_count():
    snap = make_snapshot({"a": "", "b": ""}, {"x": ["a", "b"], "y": ["a", "b"], "z": ["b", "a"]})
    html = board(FakeSource(with_status(snap, "b", "z", "alive", "fail", "gone")))
    counts = re.sub(r"<[^>]+>", "", html.split('<span class="counts"', 1)[1].split("</p>", 1)[0].split(">", 1)[1])
    assert counts.split() == "2 healthy · 0 degraded · 1 failing".split()


def test_every_answer_carries_the_board_s_clock_and_last_read_even_a_304():
    source = FakeSource(make_snapshot({"a": "", "b": ""}, {"web": ["a", "b"]}))
    client = create_app(source).test_client()
    first = client.get("/partials/board")
    again = client.get("/partials/board", headers={"If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304
    for answer in (first, again):
        assert abs(float(answer.headers["X-Overseer-Now"]) - time.time()) < 5
        assert abs(float(answer.headers["X-Overseer-Read-At"]) - source.freshness().ok_at) < 0.001
