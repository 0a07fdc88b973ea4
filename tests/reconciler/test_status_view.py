"""The status view (pure) and `overseer status` on a real etcd."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from dataclasses import replace

from click.testing import CliRunner

from overseer.desired.state import Observation, ServerRecord
from overseer.reconciler.cli.main import _register, cli
from overseer.reconciler.status_view import (
    build_status, history_json, local_shared_failure_domain, service_detail, worst,
)
from tests.ui.seed import seed_cluster
from tests.ui.snapshots import make_snapshot, with_failover, with_status

SERVERS = {"pbx1": "switch-a", "pbx2": "switch-b", "web1": "switch-b"}


def snap(**kw):
    return make_snapshot(SERVERS, {"asterisk": ["pbx1", "pbx2"], "web": ["web1", "pbx2"]},
                         checks=("alive", "ami"), **kw)


def test_shape_matches_interfaces_md():
    status = build_status(snap())
    assert status["cluster"] == "qsuite" and status["generation"] == 3
    assert status["master"] == {"server": "pbx1", "epoch": 7}
    assert set(status["servers"]) == {"pbx1", "pbx2", "web1"}
    pbx1 = status["servers"]["pbx1"]
    assert {k: pbx1[k] for k in ("up", "health", "rank", "failureDomain")} == \
        {"up": True, "health": "ok", "rank": 0, "failureDomain": "switch-a"}
    svc = status["services"]["asterisk"]
    assert {k: svc[k] for k in ("status", "paused", "active", "standby", "epoch")} == \
        {"status": "ok", "paused": False, "active": ["pbx1"], "standby": ["pbx2"], "epoch": 7}
    alive = svc["checks"]["pbx1"]["alive"]
    assert {k: alive[k] for k in ("status", "value", "message")} == \
        {"status": "ok", "value": 1.0, "message": ""}
    json.dumps(status)  # everything is JSON-able


def test_worst_over_active_checks():
    s = with_status(snap(), "pbx1", "asterisk", "ami", "warn", "ping 250ms")
    assert build_status(s)["services"]["asterisk"]["status"] == "warn"
    s = with_status(s, "pbx1", "asterisk", "alive", "fail")
    assert build_status(s)["services"]["asterisk"]["status"] == "fail"
    assert worst([]) == "unknown" and worst(["ok", "unknown"]) == "unknown"


def test_failing_standby_check_makes_warn_not_fail():
    s = with_status(snap(), "pbx2", "asterisk", "alive", "fail")
    assert build_status(s)["services"]["asterisk"]["status"] == "warn"
    # a warning standby check alone does not degrade the service
    s = with_status(snap(), "pbx2", "asterisk", "alive", "warn")
    assert build_status(s)["services"]["asterisk"]["status"] == "ok"


def test_down_standby_warns_down_active_fails():
    status = build_status(snap(up=["pbx1", "web1"]))
    assert status["servers"]["pbx2"]["up"] is False
    assert status["services"]["asterisk"]["status"] == "warn"
    status = build_status(snap(up=["pbx2", "web1"]))
    assert status["services"]["asterisk"]["status"] == "fail"


def test_no_active_fails_unless_paused():
    s = snap()
    empty = replace(s.assignments["asterisk"], active=(), standby=())
    s = replace(s, assignments={**s.assignments, "asterisk": empty})
    assert build_status(s)["services"]["asterisk"]["status"] == "fail"
    paused = build_status(replace(s, paused=frozenset({"*"})))["services"]["asterisk"]
    assert paused["paused"] is True and paused["status"] == "warn"


def test_no_assignment_and_no_data():
    s = snap()
    s = replace(s, assignments={}, observations={})
    assert build_status(s)["services"]["web"]["status"] == "fail"
    s = snap()
    s = replace(s, observations={k: v for k, v in s.observations.items() if k[0] != "pbx1"})
    svc = build_status(s)["services"]["asterisk"]
    assert svc["status"] == "unknown"
    assert svc["checks"]["pbx1"]["alive"]["status"] == "unknown"


def test_shared_failure_domain_warning():
    status = build_status(snap())
    assert status["services"]["web"]["sharedFailureDomain"] is True       # web1, pbx2: switch-b
    assert status["services"]["asterisk"]["sharedFailureDomain"] is False
    assert local_shared_failure_domain(snap().desired, "web") is True


def test_detail_has_results_and_history_newest_first():
    s = with_failover(snap(), "asterisk", "pbx2", "pbx1: alive failed 3 times")
    s = with_failover(s, "asterisk", "pbx1", "switchover requested", now=1_700_000_200.0)
    detail = service_detail(s, "asterisk")
    assert [e["message"] for e in detail["history"]] == \
        ["switchover requested", "pbx1: alive failed 3 times"]
    assert len(detail["checks"]["pbx1"]["alive"]["results"]) == 5
    assert history_json(s)[0]["time"] == 1_700_000_200.0


def test_extra_live_server_and_role_report_failure():
    s = snap()
    s = replace(s, servers={**s.servers, "stray": ServerRecord(name="stray", rank=9)})
    status = build_status(s)
    assert status["servers"]["stray"]["up"] is True and status["servers"]["stray"]["rank"] == 9
    report = replace(s.reports[("pbx1", "asterisk")], outcome="failed", message="start exited 1")
    s = replace(s, reports={**s.reports, ("pbx1", "asterisk"): report})
    svc = build_status(s)["services"]["asterisk"]
    assert svc["status"] == "fail" and svc["roles"]["pbx1"]["message"] == "start exited 1"


# --- `overseer status` on a real etcd ---------------------------------------

def _run(*args):
    _register()
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_status_json_and_table_on_real_etcd(etcd_url, cluster_name):
    store = seed_cluster(etcd_url, cluster_name)
    try:
        result = _run("status", "--json", "--etcd", etcd_url, "--cluster", cluster_name)
        assert result.exit_code == 0, result.output
        status = json.loads(result.output)
        assert status["cluster"] == cluster_name and status["generation"] == 1
        assert status["master"]["server"] == "a"
        assert status["servers"]["b"]["up"] is False
        web = status["services"]["web"]
        assert web["status"] == "fail" and web["active"] == ["a"]
        assert web["checks"]["a"]["up"]["message"] == "connection refused"
        table = _run("status", "--etcd", etcd_url, "--cluster", cluster_name)
        assert table.exit_code == 0
        assert "master a (epoch" in table.output
        assert "a/up: FAIL (connection" in table.output and "…" in table.output   # cut to 80 columns
        wide = _run("status", "--wide", "--etcd", etcd_url, "--cluster", cluster_name)
        assert "a/up: FAIL (connection refused)" in wide.output
    finally:
        store.close()


def test_status_watch_follows_changes_and_ctrl_c_exits_0(etcd_url, cluster_name):
    store = seed_cluster(etcd_url, cluster_name)
    overseer = os.path.join(os.path.dirname(sys.executable), "overseer")
    proc = subprocess.Popen([overseer, "status", "--watch", "--json", "--etcd", etcd_url,
                             "--cluster", cluster_name], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        first = json.loads(proc.stdout.readline())
        assert first["services"]["web"]["checks"]["a"]["up"]["status"] == "fail"
        store.put_observation(Observation(server="a", service="web", check="up", status="ok",
                                          time=3.0))
        # the next frame comes from the watch (resync is 5 s; a loose bound, not a timing test)
        frame = json.loads(proc.stdout.readline())
        assert frame["services"]["web"]["checks"]["a"]["up"]["status"] == "ok"
        proc.send_signal(signal.SIGINT)
        # A hang in closing prints every thread's stack and exits 1 (status.CLOSE_LIMIT):
        # the failure then shows where it hung.
        _, err = proc.communicate(timeout=30)
        assert proc.returncode == 0, err
    finally:
        if proc.poll() is None:
            proc.kill()
        store.close()


def test_failures_show_count_mark_and_expiry_and_drop_when_expired():
    from overseer.desired.state import FailCount
    s = replace(snap(), failures={("pbx2", "asterisk"): FailCount("pbx2", "asterisk", 2, 1000.0, "alive failed")})
    f = build_status(s, now=1100.0)["services"]["asterisk"]["failures"]
    assert f == {"pbx2": {"count": 2, "last": 1000.0, "expires": 1600.0, "message": "alive failed", "marked": True}}
    assert build_status(s, now=1600.0)["services"]["asterisk"]["failures"] == {}
    assert build_status(s, now=1100.0)["services"]["web"]["failures"] == {}
    from overseer.reconciler.cli.status import render_text
    assert "pbx2 2 (marked) expires in 8m20s" in render_text(build_status(s, now=1100.0), now=1100.0)


def test_vip_in_status_json_and_table():
    from overseer.desired.vip import Vip
    from overseer.reconciler.cli.status import render_text
    base = snap()
    doc = base.desired.services["asterisk"]
    spec = doc.spec.model_copy(update={"vip": Vip(address="10.0.0.50/24", interface="eth0")})
    desired = replace(base.desired, services={**base.desired.services, "asterisk": doc.model_copy(update={"spec": spec})})
    status = build_status(replace(base, desired=desired))
    assert status["services"]["asterisk"]["vip"] == {"address": "10.0.0.50/24", "interface": "eth0", "arpCount": 3}
    assert status["services"]["web"]["vip"] is None
    assert "asterisk: 10.0.0.50/24 on eth0 at pbx1" in render_text(status)
