"""Start-up grace end to end: real agents, a real PBX child whose manager port
opens only a while after it starts, real etcd.

Checks run every 200 ms and fail after 2 (tests/support/cluster.py): without
a grace the `asterisk-ami` check fails before the PBX listens and the service
moves away from every start. With the AMI probe's default grace the start is
`starting`, then `ok`, and nothing red is kept; a PBX that never listens is
still moved once its grace has run out.
"""
import json
import sys

from overseer.desired.store.local_etcd import free_port
from tests.support.cluster import SLEEPER, cluster_yaml
from tests.support.secrets import write_secret

SERVERS = ["pbx1", "pbx2"]
BOOT = 1.5   # seconds the PBX takes before its manager port listens


def late_pbx(port: int, secret) -> str:
    code = (f"import time; time.sleep({BOOT}); from overseer.reconciler.demo.fake_pbx import main; "
            f"main(['--port', '{port}', '--secret-file', {str(secret)!r}])")
    return json.dumps([sys.executable, "-c", code])


def pbx(command: str, port: int, secret, grace: str = "") -> str:
    return f"""\
apiVersion: overseer/v1
kind: Service
metadata: {{name: pbx}}
spec:
  standby: cold
  candidates: [{", ".join(SERVERS)}]
  actuator: {{type: process, command: {command}, timeout: 2s}}
  checks:
    - {{name: alive, type: process}}
    - {{name: ami, type: asterisk-ami, port: {port}, username: overseer, secretFile: {json.dumps(str(secret))}{grace}}}
"""


def start(cluster, service: str):
    cluster.apply(cluster_yaml(cluster.name, SERVERS, extra=service))
    for server in SERVERS:
        cluster.start_agent(server)


def ami_of(snap, server: str):
    return snap.observations.get((server, "pbx", "ami"))


def test_a_pbx_that_listens_late_starts_without_a_failed_check(cluster, tmp_path):
    secret = tmp_path / "ami.secret"
    write_secret(secret, "s3cret\n")
    port = free_port()
    start(cluster, pbx(late_pbx(port, secret), port, secret))   # the AMI probe's default grace
    snap = cluster.wait_for(lambda s: getattr(ami_of(s, "pbx1"), "status", "") == "ok", timeout=20,
                            what="the ami check ok on pbx1")
    statuses = [r[1] for r in ami_of(snap, "pbx1").results]
    assert "starting" in statuses and "fail" not in statuses, statuses
    assert snap.assignments["pbx"].active == ("pbx1",)
    assert ("pbx1", "pbx") not in snap.failures
    kinds = [h.kind for h in snap.history.get("pbx", ())]
    assert "failover" not in kinds, [h.message for h in snap.history.get("pbx", ())]


def test_a_pbx_that_never_listens_is_moved_once_its_grace_ran_out(cluster, tmp_path):
    secret = tmp_path / "ami.secret"
    write_secret(secret, "s3cret\n")
    port = free_port()
    start(cluster, pbx(SLEEPER, port, secret, grace=", startupGrace: 1s"))
    snap = cluster.wait_for(lambda s: ("pbx1", "pbx") in s.failures, timeout=20,
                            what="a failure of pbx counted on pbx1")
    assert "ami failed" in snap.failures[("pbx1", "pbx")].message
    cluster.wait_for(lambda s: s.assignments["pbx"].active == ("pbx2",), timeout=20, what="pbx moved to pbx2")
