"""Failsafe by what the agents were given, with real agents and a real etcd killed
under them: certificates alone keep the actives; no key at all fences them.

(The shared key is what every other real-agent test runs with: test_fencing.py,
test_netns.py; forged and replayed answers: test_netns_peers.py.)
"""
from __future__ import annotations

import os

import pytest

from overseer.desired.store.local_etcd import LocalEtcd
from tests.reconciler.test_fencing import SERVERS, _alive
from tests.reconciler.test_peer_tls import BOTH
from tests.support import etcd_tls
from tests.support.cluster import Cluster, cluster_yaml, running_pid
from tests.support.cluster import sleeper_service as service
from tests.support.waiting import holds_for, poll_until

pytestmark = pytest.mark.slow


@pytest.fixture
def own_etcd(tmp_path):
    etcd = LocalEtcd(data_dir=str(tmp_path / "etcd")).start()
    yield etcd
    etcd.stop()


def _certificates(folder) -> dict[str, list[str]]:
    if etcd_tls.shutil.which("openssl") is None:
        pytest.skip("no openssl CLI to make certificates")
    folder.mkdir()
    etcd_tls._self_signed_ca("ca", folder)
    flags = {}
    for server in SERVERS:
        etcd_tls._signed(server, server, f"subjectAltName=DNS:{server}\n{BOTH}", folder)
        os.chmod(folder / f"{server}.key", 0o400)
        flags[server] = ["--peer-cacert", str(folder / "ca.pem"), "--peer-cert", str(folder / f"{server}.pem"),
                         "--peer-cert-key", str(folder / f"{server}.key")]
    return flags


def _start(own_etcd, tmp_path, cluster_name, flags):
    cluster = Cluster(own_etcd.url, cluster_name, tmp_path)
    del cluster.env["OVERSEER_PEER_KEY_FILE"]     # no shared key in these clusters
    cluster.apply(cluster_yaml(cluster.name, SERVERS, ttl="2s", extra=service()))
    for server in SERVERS:
        cluster.start_agent(server, *flags.get(server, []))
    snap = cluster.wait_for(lambda s: running_pid(s, "pbx1") and len(s.servers) == 3, what="pbx on pbx1")
    cluster.store.close()
    cluster._store = None
    return cluster, running_pid(snap, "pbx1")


def test_with_certificates_alone_an_etcd_outage_keeps_the_actives(own_etcd, tmp_path, cluster_name):
    cluster, child = _start(own_etcd, tmp_path, cluster_name, _certificates(tmp_path / "pki"))
    try:
        own_etcd.kill()
        logs = [cluster.workdir / f"{server}.log" for server in SERVERS]
        poll_until(lambda: all("failsafe: actives stay" in log.read_text() for log in logs), 20,
                   "every agent to keep its actives on its peers' certified word\n" + cluster.logs())
        holds_for(lambda: _alive(child), 2 * 2.0, "the active running while etcd is gone for everyone")
        assert "(mutual TLS)" in logs[0].read_text()
    finally:
        cluster.stop()


def test_without_a_key_an_etcd_outage_fences_every_active(own_etcd, tmp_path, cluster_name):
    cluster, child = _start(own_etcd, tmp_path, cluster_name, {})
    try:
        log = cluster.workdir / "pbx1.log"
        assert "failsafe is OFF: no peer key" in log.read_text()
        own_etcd.kill()
        poll_until(lambda: not _alive(child), 2.0 + 2, "pbx1's active fenced within leaseTTL\n" + cluster.logs())
        assert "failsafe is off (no peer key)" in log.read_text()
    finally:
        cluster.stop()
