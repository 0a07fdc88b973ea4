"""An agent that never joined still stops promptly on SIGTERM."""
import os
import signal
import subprocess
import sys
import time

from overseer.desired.store.local_etcd import free_port

OVERSEER = os.path.join(os.path.dirname(sys.executable), "overseer")


def _stops_on_sigterm(env):
    proc = subprocess.Popen([OVERSEER, "agent", "--server", "nosuch"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    time.sleep(1.5)
    assert proc.poll() is None, proc.stdout.read()
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=5)
    assert proc.returncode == 0, out
    return out


def test_agent_waiting_for_its_server_document_stops_on_sigterm(etcd_url, cluster_name, tmp_path):
    from tests.support.cluster import Cluster, cluster_yaml
    Cluster(etcd_url, cluster_name, tmp_path).apply(cluster_yaml(cluster_name, ["pbx1"]))
    out = _stops_on_sigterm(dict(os.environ, OVERSEER_ETCD=etcd_url, OVERSEER_CLUSTER=cluster_name))
    assert "server nosuch is not in the applied documents" in out


def test_agent_waiting_for_etcd_stops_on_sigterm():
    dead = f"http://127.0.0.1:{free_port()}"
    out = _stops_on_sigterm(dict(os.environ, OVERSEER_ETCD=dead, OVERSEER_CLUSTER="x"))
    assert "etcd unreachable" in out and out.count("etcd unreachable") == 1, out


def test_agent_can_serve_the_board_itself(cluster):
    import json
    import urllib.request

    from tests.support.cluster import cluster_yaml

    cluster.apply(cluster_yaml(cluster.name, ["pbx1", "pbx2"]))
    port = free_port()
    cluster.start_agent("pbx1", "--ui", f"127.0.0.1:{port}")
    cluster.start_agent("pbx2")
    cluster.wait_for(lambda s: s.master is not None and len(s.servers) == 2, what="a master")
    deadline = time.monotonic() + 10
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/status", timeout=2) as resp:
                status = json.load(resp)
            if status["master"]:
                break
        except OSError:
            pass
        assert time.monotonic() < deadline, "the agent's board never answered with a master"
        time.sleep(0.1)
    assert status["master"]["server"] == "pbx1" and set(status["servers"]) == {"pbx1", "pbx2"}
    cluster.signal("pbx1", signal.SIGTERM)
    assert cluster.agents["pbx1"].wait(10) == 0
