"""The floating IP (`spec.vip`) across real hosts: one network namespace each.

A client namespace keeps TCP-connecting to the VIP, where a tiny server in
every server namespace answers its own name. After kill -9 of the active's
agent, and after a cut of the active's link, the client reaches the new active;
its neighbour table holds the new active's MAC (gratuitous ARP); the old server
no longer has the address. Waits end on conditions; no timing asserts.
"""
import ipaddress
import re
import subprocess
import sys
import time

import pytest

from tests.reconciler.test_failover import SERVERS, running_pid
from tests.reconciler.test_netns import AGENT_PORT, start_agent
from overseer.desired.store.local_etcd import etcd_args, etcd_binary, wait_healthy
from tests.support.cluster import Cluster, cluster_yaml, sleeper_service
from tests.support.netns import NetnsLab, unavailable
from tests.support.waiting import poll_until

pytestmark = pytest.mark.slow

PORT = 5060
ANSWER = ("import socket, sys\n"
          "s = socket.create_server(('0.0.0.0', %d))\n"
          "while True:\n"
          "    c, _ = s.accept(); c.sendall(sys.argv[1].encode()); c.close()\n" % PORT)
# one line per attempt: the server's name, or '-' when nothing answered
CLIENT = ("import socket, sys, time\n"
          "while True:\n"
          "    try:\n"
          "        with socket.create_connection((sys.argv[1], %d), 0.3) as c: got = c.recv(64).decode()\n"
          "    except OSError: got = '-'\n"
          "    print(got, flush=True); time.sleep(0.1)\n" % PORT)


@pytest.fixture
def vlab(tmp_path, cluster_name):
    """test_netns's etcd-in-a-namespace cluster, plus a `client` host."""
    reason = unavailable()
    if reason:
        pytest.skip(reason)
    with NetnsLab(["etcd", *SERVERS, "client"]) as lab:
        host = lab.address("etcd")
        argv = [etcd_binary(), *etcd_args("overseer", str(tmp_path / "etcd"), 2379, 2380, host=host)]
        with open(tmp_path / "etcd.log", "ab") as log:
            proc = lab.run_in("etcd", argv, stdout=log, stderr=log)
        wait_healthy(f"http://{host}:2379", proc=proc)
        cluster = Cluster(f"http://{host}:2379", cluster_name, tmp_path)
        try:
            yield lab, cluster
        finally:
            cluster.stop()


def vip_of(lab) -> str:
    net = ipaddress.ip_network(f"{lab.address('pbx1')}/24", strict=False)
    return str(net.network_address + 100)


def ns(lab, host):
    return lab.hosts[host].ns


def has_vip(lab, host) -> bool:
    out = subprocess.run(["ip", "-n", ns(lab, host), "-o", "addr", "show", "dev", "eth0"],
                         capture_output=True, text=True, check=True).stdout
    return f" {vip_of(lab)}/24 " in out


def mac(lab, host) -> str:
    out = subprocess.run(["ip", "-n", ns(lab, host), "-o", "link", "show", "eth0"],
                         capture_output=True, text=True, check=True).stdout
    return re.search(r"link/ether (\S+)", out).group(1)


def client_neigh(lab) -> str:
    return subprocess.run(["ip", "-n", ns(lab, "client"), "neigh", "show", vip_of(lab)],
                          capture_output=True, text=True, check=True).stdout


def start(lab, cluster, tmp_path):
    svc = sleeper_service(candidates=("pbx1", "pbx2")) + \
        f"  vip: {{address: {vip_of(lab)}/24, interface: eth0, arpCount: 3}}\n"
    text = cluster_yaml(cluster.name, SERVERS, ttl="3s", ports={s: AGENT_PORT for s in SERVERS}, extra=svc)
    for server in SERVERS:
        text = text.replace(f"metadata: {{name: {server}}}\nspec: {{address: 127.0.0.1,",
                            f"metadata: {{name: {server}}}\nspec: {{address: {lab.address(server)},")
    cluster.apply(text)
    for server in SERVERS:
        lab.run_in(server, [sys.executable, "-c", ANSWER, server])
        start_agent(lab, cluster, server)
    out = open(tmp_path / "client.out", "w")
    lab.run_in("client", [sys.executable, "-u", "-c", CLIENT, vip_of(lab)], stdout=out)
    cluster.wait_for(lambda s: running_pid(s, "pbx1") and len(s.servers) == 3, what="pbx active on pbx1")
    client_sees(tmp_path, "pbx1")
    assert has_vip(lab, "pbx1") and not has_vip(lab, "pbx2")
    return tmp_path / "client.out"


def client_sees(tmp_path, server, timeout=30):
    def last():
        lines = (tmp_path / "client.out").read_text().split()
        return lines[-1] if lines else None
    poll_until(lambda: last() == server, timeout=timeout, what=f"client reaches {server} at the VIP")


def assert_moved_to_pbx2(lab, tmp_path):
    client_sees(tmp_path, "pbx2")
    assert has_vip(lab, "pbx2")
    assert mac(lab, "pbx2") in client_neigh(lab), client_neigh(lab)
    assert mac(lab, "pbx1") not in client_neigh(lab)


def test_vip_follows_after_agent_kill(vlab, tmp_path):
    lab, cluster = vlab
    start(lab, cluster, tmp_path)
    cluster.kill("pbx1")
    assert_moved_to_pbx2(lab, tmp_path)
    assert not has_vip(lab, "pbx1"), "the killed agent's address stayed behind"
    start_agent(lab, cluster, "pbx1")   # back: a standby, still without the address
    cluster.wait_for(lambda s: (r := s.reports.get(("pbx1", "pbx"))) is not None and r.role == "standby"
                     and "pbx1" in s.servers, what="pbx1 back as standby")
    assert not has_vip(lab, "pbx1") and has_vip(lab, "pbx2")
    client_sees(tmp_path, "pbx2")


def test_vip_follows_after_link_cut(vlab, tmp_path):
    lab, cluster = vlab
    start(lab, cluster, tmp_path)
    lab.cut("pbx1")
    assert_moved_to_pbx2(lab, tmp_path)
    poll_until(lambda: not has_vip(lab, "pbx1"), timeout=20, what="cut-off pbx1 drops the VIP (fenced)")
    lab.restore("pbx1")
    cluster.wait_for(lambda s: (r := s.reports.get(("pbx1", "pbx"))) is not None and r.role == "standby"
                     and "pbx1" in s.servers, what="pbx1 back as standby")
    assert not has_vip(lab, "pbx1") and has_vip(lab, "pbx2")
    client_sees(tmp_path, "pbx2")
    assert mac(lab, "pbx2") in client_neigh(lab)
