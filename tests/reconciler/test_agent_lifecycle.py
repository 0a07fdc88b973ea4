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
