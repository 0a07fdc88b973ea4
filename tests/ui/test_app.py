"""Every route and method of the board through Flask's test client, on built snapshots."""
from __future__ import annotations

import time
from dataclasses import replace

import pytest
from prometheus_client.parser import text_string_to_metric_families

from overseer.desired.state import ServerRecord
from overseer.reconciler.status_view import build_status
from overseer.ui.app import create_app
from tests.ui.snapshots import FakeSource, make_snapshot, with_failover, with_status

SERVERS = {"pbx1": "switch-a", "pbx2": "switch-b"}
EVIL = "<script>alert('x')</script>"

GET_PATHS = ["/", "/partials/board", "/services/asterisk", "/partials/services/asterisk",
             "/api/v1/status", "/api/v1/services/asterisk", "/api/v1/history",
             "/api/v1/history?service=asterisk", "/api/v1/history?kind=failover,fence&since=0",
             "/timeline", "/partials/timeline", "/metrics", "/healthz", "/static/live.js",
             "/static/board.css"]
ALL_PATHS = GET_PATHS + ["/no/such/page", "/api/v1/nothing", "/services/nope"]
WRITES = ["POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE"]


def snapshot():
    s = make_snapshot(SERVERS, {"asterisk": ["pbx1", "pbx2"], "web": ["pbx2", "pbx1"]},
                      checks=("alive", "ami"), messages={("pbx1", "asterisk", "ami"): EVIL},
                      statuses={("pbx1", "asterisk", "ami"): "warn"})
    return with_failover(s, "web", "pbx1", "pbx2: alive failed 3 times in a row")


@pytest.fixture
def source():
    return FakeSource(snapshot())


@pytest.fixture
def client(source):
    return create_app(source).test_client()


@pytest.mark.parametrize("path", GET_PATHS)
def test_get_and_head_answer_with_security_headers(client, path):
    got = client.get(path)
    assert got.status_code == 200, path
    assert "default-src 'self'" in got.headers["Content-Security-Policy"]
    assert "script-src 'self'" in got.headers["Content-Security-Policy"]
    assert got.headers["X-Content-Type-Options"] == "nosniff"
    head = client.head(path)
    assert head.status_code == 200 and head.data == b""


@pytest.mark.parametrize("method", WRITES)
@pytest.mark.parametrize("path", ALL_PATHS)
def test_every_other_method_is_405_everywhere(client, path, method):
    got = client.open(path, method=method, data="x")
    assert got.status_code == 405, (method, path)
    assert got.headers["Allow"] == "GET, HEAD"
    assert got.headers["X-Content-Type-Options"] == "nosniff"


@pytest.mark.parametrize("path", ["/no/such/page", "/services/nope", "/api/v1/services/nope",
                                  "/api/v1/history?service=nope", "/partials/services/nope"])
def test_unknown_is_404(client, path):
    got = client.get(path)
    assert got.status_code == 404
    if path.startswith("/api/"):
        assert got.get_json()["status"] == 404


def test_names_and_messages_are_escaped(client):
    for path in ("/", "/services/asterisk"):
        html = client.get(path).get_data(as_text=True)
        assert EVIL not in html
        assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in html
    # a live server record is not validated like a document: its name is escaped too
    assert "<script" not in html.replace('<script src="/static/live.js" defer></script>', "")


def test_live_server_name_is_escaped():
    s = snapshot()
    s = replace(s, servers={**s.servers, "<b>x</b>": ServerRecord(name="<b>x</b>")})
    html = create_app(FakeSource(s)).test_client().get("/").get_data(as_text=True)
    assert "<b>x</b>" not in html and "&lt;b&gt;x&lt;/b&gt;" in html


def test_board_tiles_have_text_labels_and_placement(client):
    html = client.get("/").get_data(as_text=True)
    assert 'data-service="asterisk" data-status="warn"' in html
    assert '<span class="label">WARN</span>' in html
    assert "active: pbx1" in html and "standby: pbx2" in html
    assert '<span class="badge master">MASTER</span>' in html
    assert "domain switch-a" in html
    assert 'id="live" data-fragment="/partials/board"' in html
    assert "<script>" not in html  # no inline scripts, only the static file


def test_paused_and_shared_domain_markers():
    s = make_snapshot({"a": "sw", "b": "sw"}, {"db": ["a", "b"]}, paused=["db"])
    html = create_app(FakeSource(s)).test_client().get("/").get_data(as_text=True)
    assert "PAUSED" in html and "share one failure domain" in html


def test_detail_page_shows_checks_strip_and_failover_reason(client):
    html = client.get("/services/web").get_data(as_text=True)
    assert "pbx2: alive failed 3 times in a row" in html
    assert "failover" in html
    assert '<svg class="strip"' in html and 'class="r-ok"><title>' in html


def test_status_api_equals_status_view(client, source):
    body = client.get("/api/v1/status").get_json()
    assert body.pop("freshness")["stale"] is False
    assert body == build_status(source.snapshot())


def test_service_and_history_api(client):
    web = client.get("/api/v1/services/web").get_json()
    assert web["active"] == ["pbx1"] and web["history"][0]["kind"] == "failover"
    hist = client.get("/api/v1/history?service=web").get_json()
    assert hist["history"][0]["message"] == "pbx2: alive failed 3 times in a row"
    assert client.get("/api/v1/history").get_json()["service"] is None


def _samples(client):
    text = client.get("/metrics").get_data(as_text=True)
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for fam in text_string_to_metric_families(text) for s in fam.samples}


def test_metrics(client):
    m = _samples(client)
    assert m[("overseer_service_status", (("service", "asterisk"), ("status", "warn")))] == 1
    assert m[("overseer_service_status", (("service", "asterisk"), ("status", "ok")))] == 0
    assert m[("overseer_check_status", (("check", "ami"), ("server", "pbx1"),
                                        ("service", "asterisk")))] == 1
    assert m[("overseer_master_epoch", ())] == 7
    assert m[("overseer_failovers_total", (("service", "web"),))] == 1
    assert m[("overseer_agent_up", (("server", "pbx2"),))] == 1
    assert ("overseer_reconcile_duration_seconds_count", ()) in m


def test_snapshot_change_shows_up_without_restart(client, source):
    assert 'data-status="ok"' in client.get("/partials/board").get_data(as_text=True)
    source.set(with_status(source.snapshot(), "pbx1", "web", "alive", "fail"))
    html = client.get("/partials/board").get_data(as_text=True)
    assert 'data-service="web" data-status="fail"' in html


def test_stale_banner_and_healthz(source):
    now = time.time()
    app = create_app(source, clock=lambda: now)
    client = app.test_client()
    assert client.get("/healthz").status_code == 200
    source.go_stale("etcd unreachable at http://127.0.0.1:2379", since=now - 5)
    html = client.get("/").get_data(as_text=True)
    clock = time.strftime("%H:%M:%S", time.localtime(now - 5))
    assert f"etcd view stale since {clock}: etcd unreachable at http://127.0.0.1:2379" in html
    assert "data-stale" in client.get("/services/web").get_data(as_text=True)
    # stale but younger than 3 resync periods (9 s): still healthy, data still served
    health = client.get("/healthz")
    assert health.status_code == 200 and health.get_json()["etcd"]["stale"] is True
    assert client.get("/api/v1/status").get_json()["freshness"]["stale"] is True
    source.go_stale("etcd unreachable", since=now - 30)
    assert client.get("/healthz").status_code == 503
    assert _samples(client)[("overseer_view_stale", ())] == 1


def test_no_snapshot_yet():
    source = FakeSource(None)
    source.go_stale("etcd unreachable at http://127.0.0.1:1", since=time.time(), ok_at=None)
    client = create_app(source).test_client()
    assert "No cluster data yet" in client.get("/").get_data(as_text=True)
    assert "etcd unreachable" in client.get("/").get_data(as_text=True)
    assert client.get("/api/v1/status").status_code == 503
    assert client.get("/healthz").status_code == 503
    assert client.get("/metrics").status_code == 200


def test_board_and_detail_show_remembered_failures_until_they_expire():
    from overseer.desired.state import FailCount
    now = time.time()
    s = replace(snapshot(), failures={("pbx2", "asterisk"): FailCount("pbx2", "asterisk", 1, now - 20, EVIL)})
    app = create_app(FakeSource(s)).test_client()
    board = app.get("/").get_data(as_text=True)
    assert "pbx2: 1 remembered failure, expires in 9m" in board, board
    detail = app.get("/services/asterisk").get_data(as_text=True)
    assert "Remembered failures" in detail and "MARKED" in detail and "9m" in detail
    assert EVIL not in detail and "&lt;script&gt;" in detail
    old = replace(s, failures={("pbx2", "asterisk"): FailCount("pbx2", "asterisk", 1, now - 700, "old")})
    app = create_app(FakeSource(old)).test_client()
    assert "remembered failure" not in app.get("/").get_data(as_text=True)
    assert "Remembered failures" not in app.get("/services/asterisk").get_data(as_text=True)
