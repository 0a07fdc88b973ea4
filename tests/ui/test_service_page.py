"""The service page shows what will be checked where, and a tile's colour follows
docs/operations.md: amber for a warn or a failing non-critical check, red for a
failing critical one."""
from __future__ import annotations

import re
from dataclasses import replace

from overseer.desired.state import HistoryEntry
from overseer.ui.app import create_app
from tests.ui.snapshots import FakeSource, make_snapshot

SERVERS = {"pbx1": "switch-a", "pbx2": "switch-b", "pbx3": "switch-b"}
ROW = re.compile(r'<tr class="s-(\w+)"[^>]*>\s*<td>([\w-]+)</td>\s*<td>[^<]*</td>\s*<td>([\w-]+)')


def page(snapshot, path: str) -> str:
    got = create_app(FakeSource(snapshot)).test_client().get(path)
    assert got.status_code == 200, path
    return got.get_data(as_text=True)


def check_rows(html: str) -> dict:
    """(server, check) -> status of each row of the checks table."""
    table = html.split('aria-label="checks"', 1)[1].split("</table>", 1)[0]
    return {(server, check): status for status, server, check in ROW.findall(table)}


def test_every_check_of_every_candidate_is_listed_before_any_report():
    snap = make_snapshot(SERVERS, {"pbx": ["pbx1", "pbx2", "pbx3"]}, checks=("alive", "ami"))
    silent = replace(snap, observations={}, reports={})
    rows = check_rows(page(silent, "/services/pbx"))
    assert rows == {(s, c): "unknown" for s in ("pbx1", "pbx2", "pbx3") for c in ("alive", "ami")}


def test_a_candidate_that_has_not_reported_is_listed_beside_those_that_have():
    # make_snapshot reports on the active and the standby only: pbx3 is silent
    snap = make_snapshot(SERVERS, {"pbx": ["pbx1", "pbx2", "pbx3"]}, checks=("alive", "ami"))
    rows = check_rows(page(snap, "/services/pbx"))
    assert rows == {("pbx1", "alive"): "ok", ("pbx1", "ami"): "ok", ("pbx2", "alive"): "ok",
                    ("pbx2", "ami"): "ok", ("pbx3", "alive"): "unknown", ("pbx3", "ami"): "unknown"}
    detail = create_app(FakeSource(snap)).test_client().get("/api/v1/services/pbx").get_json()
    assert detail["checks"]["pbx3"]["ami"] == {"status": "unknown", "value": None, "message": "no result yet",
                                               "critical": True, "results": []}


def with_disk_non_critical(snap, service: str):
    doc = snap.desired.services[service]
    checks = [c.model_copy(update={"critical": False}) if c.name == "disk" else c for c in doc.spec.checks]
    services = {**snap.desired.services,
                service: doc.model_copy(update={"spec": doc.spec.model_copy(update={"checks": checks})})}
    observations = {k: replace(o, critical=False) if k[2] == "disk" else o for k, o in snap.observations.items()}
    return replace(snap, desired=replace(snap.desired, services=services), observations=observations)


def tile_status(html: str, service: str) -> str:
    found = re.search(rf'<li class="tile s-(\w+)" data-service="{service}" data-status="(\w+)"', html)
    assert found and found.group(1) == found.group(2), html
    return found.group(1)


def test_a_failing_non_critical_check_makes_the_tile_amber_a_critical_one_red():
    snap = with_disk_non_critical(
        make_snapshot(SERVERS, {"rec": ["pbx1", "pbx2"]}, checks=("alive", "disk"),
                      statuses={("pbx1", "rec", "disk"): "fail"}), "rec")
    assert tile_status(page(snap, "/"), "rec") == "warn"
    assert "(non-critical)" in page(snap, "/services/rec")
    critical = replace(snap, observations={**snap.observations, ("pbx1", "rec", "alive"): replace(
        snap.observations[("pbx1", "rec", "alive")], status="fail")})
    assert tile_status(page(critical, "/"), "rec") == "fail"


def test_a_failed_hook_shows_on_the_tile_and_the_service_page_until_one_succeeds():
    failed = HistoryEntry("pbx", 100.0, "hook", "hook failover (webhook) on pbx1: failed after 3 attempts: HTTP 503",
                          "pbx1", 7)
    snap = make_snapshot(SERVERS, {"pbx": ["pbx1", "pbx2"]}, history={"pbx": [failed]})
    board, detail = page(snap, "/"), page(snap, "/services/pbx")
    assert 'class="failing hook">last hook: hook failover (webhook) on pbx1: failed after 3 attempts' in board
    assert 'class="warning hook">last hook: hook failover (webhook) on pbx1: failed' in detail
    ok = HistoryEntry("pbx", 101.0, "hook", "hook promote (command) on pbx2: ok (after 2 attempts)", "pbx2", 8)
    snap = make_snapshot(SERVERS, {"pbx": ["pbx1", "pbx2"]}, history={"pbx": [failed, ok]})
    assert "last hook" not in page(snap, "/")
    assert 'class="reason hook">last hook: hook promote (command) on pbx2: ok' in page(snap, "/services/pbx")


def test_the_floating_ip_shows_on_the_tile_and_the_service_page():
    from overseer.desired.vip import Vip
    base = make_snapshot(SERVERS, {"pbx": ["pbx1", "pbx2"]})
    assert "VIP" not in page(base, "/") and "floating IP" not in page(base, "/services/pbx")
    doc = base.desired.services["pbx"]
    spec = doc.spec.model_copy(update={"vip": Vip(address="10.0.0.50/24", interface="eth0")})
    snap = replace(base, desired=replace(base.desired, services={"pbx": doc.model_copy(update={"spec": spec})}))
    assert "VIP 10.0.0.50/24 on eth0" in page(snap, "/")
    assert "floating IP <strong>10.0.0.50/24</strong> on eth0, held by pbx1" in page(snap, "/services/pbx")
