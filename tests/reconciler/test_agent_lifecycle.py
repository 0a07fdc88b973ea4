"""An agent that never joined still stops promptly on SIGTERM."""
import json
import os
import signal
import subprocess
import sys
import threading
import time

from overseer.desired.store.local_etcd import free_port
from tests.support.waiting import holds_for, poll_until

OVERSEER = os.path.join(os.path.dirname(sys.executable), "overseer")


def _stops_on_sigterm(env, waiting: str):
    """Start an agent, wait until it logs `waiting`, let it wait a while, SIGTERM it."""
    proc = subprocess.Popen([OVERSEER, "agent", "--server", "nosuch"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: list = []
    reader = threading.Thread(target=lambda: lines.extend(proc.stdout), daemon=True)
    reader.start()
    try:
        poll_until(lambda: any(waiting in line for line in list(lines)) or proc.poll() is not None, 30,
                   f"the agent to log {waiting!r}")
        # a while in that state (it retries meanwhile), and it is still there
        holds_for(lambda: proc.poll() is None, 1.5, "the waiting agent running")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0, "".join(lines)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    reader.join(10)
    return "".join(lines)


def test_agent_waiting_for_its_server_document_stops_on_sigterm(etcd_url, cluster_name, tmp_path):
    from tests.support.cluster import Cluster, cluster_yaml
    Cluster(etcd_url, cluster_name, tmp_path).apply(cluster_yaml(cluster_name, ["pbx1"]))
    out = _stops_on_sigterm(dict(os.environ, OVERSEER_ETCD=etcd_url, OVERSEER_CLUSTER=cluster_name),
                            "server nosuch is not in the applied documents")
    assert "server nosuch is not in the applied documents" in out


def test_agent_waiting_for_etcd_stops_on_sigterm():
    dead = f"http://127.0.0.1:{free_port()}"
    out = _stops_on_sigterm(dict(os.environ, OVERSEER_ETCD=dead, OVERSEER_CLUSTER="x"), "etcd unreachable")
    assert "etcd unreachable" in out and out.count("etcd unreachable") == 1, out


def test_agent_can_serve_the_board_itself(cluster):
    import json
    import urllib.error
    import urllib.request

    from tests.support.cluster import cluster_yaml

    cluster.apply(cluster_yaml(cluster.name, ["pbx1", "pbx2"]))
    port = free_port()
    cluster.start_agent("pbx1", "--ui", f"127.0.0.1:{port}", "--ui-allow-host", "board.test")
    cluster.start_agent("pbx2")
    # whichever agent campaigned first: pbx1's start, which loads the board, may be the slower one
    snap = cluster.wait_for(lambda s: s.master is not None and len(s.servers) == 2, what="a master")
    deadline = time.monotonic() + 30
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
    assert status["master"]["server"] == snap.master.server and set(status["servers"]) == {"pbx1", "pbx2"}
    for host, expected in ((f"board.test:{port}", 200), (f"evil.example:{port}", 421)):
        request = urllib.request.Request(f"http://127.0.0.1:{port}/healthz", headers={"Host": host})
        try:
            code = urllib.request.urlopen(request, timeout=2).status
        except urllib.error.HTTPError as exc:
            code = exc.code
        assert code == expected, host
    cluster.signal("pbx1", signal.SIGTERM)
    assert cluster.agents["pbx1"].wait(10) == 0


def test_master_agent_exposes_its_reconcile_durations(cluster):
    import urllib.error
    import urllib.request

    from tests.support.cluster import cluster_yaml, sleeper_service

    ports = {"pbx1": free_port(), "pbx2": free_port()}
    local = {"pbx1": free_port(), "pbx2": free_port()}    # --metrics: never on the peer port
    cluster.apply(cluster_yaml(cluster.name, ["pbx1", "pbx2"], ports=ports, extra=sleeper_service()))
    cluster.start_agent("pbx1", "--metrics", str(local["pbx1"]))
    cluster.start_agent("pbx2", "--metrics", f"127.0.0.1:{local['pbx2']}")
    snap = cluster.wait_for(lambda s: s.master is not None and "pbx" in s.assignments, what="a placement")
    # whichever won (pbx1 unless it started late), the master's own /metrics
    url = f"http://127.0.0.1:{local[snap.master.server]}/metrics"

    def reconciles():
        with urllib.request.urlopen(url, timeout=3) as resp:
            assert resp.headers["Content-Type"].startswith("text/plain")
            text = resp.read().decode()
        count = [line for line in text.splitlines() if line.startswith("overseer_reconcile_duration_seconds_count")]
        return count and float(count[0].split()[-1]) >= 1
    # the placement is in etcd a moment before the pass that wrote it is counted
    poll_until(reconciles, 10, "a counted reconcile pass on the master's /metrics")
    request = urllib.request.Request(url, data=b"x", method="POST")
    try:
        urllib.request.urlopen(request, timeout=3)
        raise AssertionError("POST must be refused")
    except urllib.error.HTTPError as exc:
        assert exc.code == 405
    # the local endpoint's /healthz says who is master; the peer port tells nobody
    master = snap.master.server
    with urllib.request.urlopen(f"http://127.0.0.1:{local[master]}/healthz", timeout=3) as resp:
        status = json.load(resp)
    assert status["server"] == master and status["master"] is True and status["etcd"] is True, status
    for path in ("/metrics", "/healthz"):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{ports[master]}{path}", timeout=3)
            raise AssertionError(f"the peer port answered an unsigned {path}")
        except urllib.error.HTTPError as exc:
            assert exc.code == (404 if path == "/metrics" else 401), (path, exc.code)


def test_an_unusable_peer_key_file_stops_the_agent_at_start(etcd_url, cluster_name, tmp_path):
    """A key that is named must be usable: no silent fallback to failsafe off."""
    key = tmp_path / "peer.key"
    key.write_bytes(b"k" * 64)
    key.chmod(0o644)
    env = dict(os.environ, OVERSEER_ETCD=etcd_url, OVERSEER_CLUSTER=cluster_name,
               OVERSEER_PEER_KEY_FILE=str(key))
    proc = subprocess.run([OVERSEER, "agent", "--server", "pbx1"], env=env, capture_output=True, text=True,
                          timeout=30)
    assert proc.returncode == 2, proc
    assert f"peer key file {key}: mode 0644" in proc.stderr and "chmod 0400" in proc.stderr, proc.stderr
