"""The service page's rows per server (ui/detail_rows.py) and the page they make:
a server whose lease is gone shows its last reports as stale, with their age."""
from __future__ import annotations

import time
from dataclasses import replace

from overseer.desired.state import ServiceReport
from overseer.reconciler.status_view import service_detail
from overseer.ui import detail_rows
from overseer.ui.ages import text
from overseer.ui.app import create_app
from overseer.ui.presence import seen_map
from tests.ui.snapshots import FakeSource, make_snapshot, with_failover

NOW = 1_800_000_000.0


def killed_and_moved(now: float):
    """`make demo`'s pbx after kill -9 of pbx1's agent: pbx1's lease gone, its
    report and check left in etcd as it wrote them, pbx moved to pbx2."""
    snap = make_snapshot({"pbx1": "", "pbx2": ""}, {"pbx": ["pbx1", "pbx2"]}, now=now - 40,
                         messages={("pbx1", "pbx", "alive"): "supervised child running (pid 19771)"})
    moved = with_failover(snap, "pbx", "pbx2", "pbx1: down (no lease); pbx2 chosen", now=now - 8)
    reports = {("pbx1", "pbx"): ServiceReport("pbx1", "pbx", "active", 89, "ok", "start + promote done", now - 40),
               ("pbx2", "pbx"): ServiceReport("pbx2", "pbx", "active", 90, "ok", "promote done", now - 7)}
    return replace(moved, servers={"pbx2": snap.servers["pbx2"]}, reports=reports,
                   assignments={**moved.assignments, "pbx": replace(moved.assignments["pbx"], standby=())})


def test_the_gone_server_s_agent_row_is_stale_with_its_age_and_its_role_now():
    snap = killed_and_moved(NOW)
    detail = service_detail(snap, "pbx")
    rows = detail_rows.server_rows(detail, seen_map(snap, None, NOW))
    assert rows["pbx1"].role_words == "not assigned (down)" and rows["pbx2"].role_words == "active"
    reports = {s: r for (s, _), r in snap.reports.items()}
    agents = {a.server: a for a in detail_rows.agent_rows(detail, rows, reports)}
    assert agents["pbx1"].stale and not agents["pbx2"].stale
    assert text(agents["pbx1"].line, NOW) == ("pbx1: last reported active (ok, epoch 89) — start + promote done; "
                                              "stale: lease gone, reported 40 s ago; assigned now: not assigned")
    assert text(agents["pbx2"].line, NOW) == "pbx2: active (ok, epoch 90) — promote done"
    check = detail["checks"]["pbx1"]["alive"]
    assert text(detail_rows.check_age(check, up=False), NOW) == "stale: last reported 40 s ago"
    assert detail_rows.check_age(check, up=True) == ()


def test_the_service_page_never_shows_a_gone_server_s_reports_as_live():
    now = time.time()
    html = create_app(FakeSource(killed_and_moved(now))).test_client().get("/services/pbx").get_data(as_text=True)
    checks = html.split('aria-label="checks"', 1)[1].split("</table>", 1)[0]
    row = checks.split('data-server="pbx1"', 1)[1].split("</tr>", 1)[0]
    assert 'data-stale="1"' in row and "STALE" in row and "was OK" in row and "not assigned (down)" in row
    assert 'class="badge s-ok"' not in row                  # never the live OK badge
    assert "stale: last reported" in row and 'data-form="ago"' in row
    agents = html.split('aria-label="agents"', 1)[1].split("</section>", 1)[0]
    pbx1 = agents.split('data-server="pbx1"', 1)[1].split("</li>", 1)[0]
    assert 'data-stale="1"' in pbx1 and "last reported active" in pbx1 and "stale: lease gone" in pbx1
    assert "down · last record" in pbx1
    pbx2 = agents.split('data-server="pbx2"', 1)[1].split("</li>", 1)[0]
    assert "data-stale" not in pbx2 and "pbx2: active (ok, epoch 90)" in pbx2 and "lease live" in pbx2
