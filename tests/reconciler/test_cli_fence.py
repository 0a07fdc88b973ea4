"""`overseer fence confirm SERVER` on a real etcd: refused while the server is
up, recorded (with a history entry per waiting service) while it is down,
and shown by `overseer status` under FENCING."""
from __future__ import annotations

import json
import time

from click.testing import CliRunner

from overseer.desired.state import FenceOutcome, FenceRecord, ServerRecord
from overseer.desired.store.client import EtcdConfig
from overseer.desired.store.store import Store
from overseer.reconciler.cli.main import cli
from overseer.reconciler.cli.status import render_text
from overseer.reconciler.status_view import build_status
from tests.reconciler.test_master_fencing import _docs


def run(etcd_url: str, cluster: str, *args: str):
    chosen = ["--cluster", cluster] if cluster else []
    return CliRunner().invoke(cli, ["--etcd", etcd_url, *chosen, *args], catch_exceptions=False)


def test_confirm_is_refused_while_the_server_is_up_and_counts_once_it_is_down(etcd_url, cluster_name, tmp_path):
    docs = tmp_path / "docs.yaml"
    docs.write_text("\n---\n".join(json.dumps(d) for d in _docs(cluster_name)) + "\n")
    applied = run(etcd_url, "", "apply", "-f", str(docs))
    assert applied.exit_code == 0, applied.stderr
    store = Store(EtcdConfig(endpoints=(etcd_url,)), cluster=cluster_name)
    try:
        lease = store.grant_lease(30)
        store.put_server(ServerRecord("a", "10.0.0.1"), lease)
        up = run(etcd_url, cluster_name, "fence", "confirm", "a")
        assert up.exit_code == 1 and "a is up (it holds a lease): nothing to confirm" in up.stderr
        assert run(etcd_url, cluster_name, "fence", "confirm", "nobody").exit_code == 1

        store.revoke_lease(lease)
        won = store.campaign("b", store.grant_lease(30))
        now = time.time()
        store.write_fence(won.epoch, FenceRecord("a", now, now + 2, FenceOutcome.FAILED, won.epoch, 3,
                                                 "exit 1: Unable to connect/login to fencing device", ("pbx",),
                                                 "b", 5.0))
        text = render_text(build_status(store.snapshot(), time.time()))
        assert "FENCING" in text and "a: fence attempt 3 failed at" in text and "pbx waiting" in text
        done = run(etcd_url, cluster_name, "fence", "confirm", "a")
        assert done.exit_code == 0, done.stderr
        assert "a: confirmed off; the master moves what waited for its fence (pbx)" in done.stdout
        snap = store.snapshot()
        assert snap.fences["a"].off and snap.fences["a"].by == "operator"
        assert snap.history["pbx"][-1].message == "a confirmed off by an operator (overseer fence confirm)"
        assert "a: confirmed off by an operator at" in render_text(build_status(snap, time.time()))
    finally:
        store.close()


def test_plan_says_which_fence_the_master_would_run_first():
    from overseer.reconciler.cli.control import _describe
    from overseer.reconciler.planner import FenceServer

    text = _describe(FenceServer("pbx1", ("pbx", "web"), "pbx: pbx1 is down", 2))
    assert text == "pbx1: run its fence agent (attempt 2) before pbx, web move\n    because pbx: pbx1 is down"
