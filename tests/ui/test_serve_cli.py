"""`overseer ui` as a real process on a real etcd: serves, is read-only, stops on SIGTERM."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

from overseer.desired.store.local_etcd import free_port
from tests.ui.seed import seed_cluster

OVERSEER = os.path.join(os.path.dirname(sys.executable), "overseer")


def _get(url: str, host: str | None = None):
    request = urllib.request.Request(url, headers={"Host": host} if host else {})
    try:
        with urllib.request.urlopen(request, timeout=2) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def _wait_up(url: str, proc, timeout: float = 15.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"overseer ui exited {proc.returncode}: {proc.stderr.read()}")
        try:
            return _get(url)
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"overseer ui did not answer on {url} within {timeout}s")


@pytest.mark.slow
def test_overseer_ui_serves_and_stops_on_sigterm(etcd_url, cluster_name):
    store = seed_cluster(etcd_url, cluster_name)
    port = free_port()
    env = dict(os.environ, OVERSEER_ETCD=etcd_url, OVERSEER_CLUSTER=cluster_name)
    proc = subprocess.Popen([OVERSEER, "ui", "--listen", f"127.0.0.1:{port}", "--resync", "0.5",
                             "--allow-host", "board.test"],
                            env=env, stderr=subprocess.PIPE, text=True)
    try:
        base = f"http://127.0.0.1:{port}"
        status, body = _wait_up(base + "/healthz", proc)
        assert status == 200 and json.loads(body)["cluster"] == cluster_name
        status, body = _get(base + "/api/v1/status")
        assert json.loads(body)["services"]["web"]["status"] == "fail"
        assert _get(base + "/api/v1/status", host=f"evil.example:{port}")[0] == 421   # DNS rebinding
        assert _get(base + "/api/v1/status", host=f"board.test:{port}")[0] == 200
        request = urllib.request.Request(base + "/api/v1/status", method="POST", data=b"{}")
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=2)
        assert refused.value.code == 405
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
        assert "serving http://127.0.0.1:" in proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
        store.close()


def test_bad_listen_is_one_line():
    result = subprocess.run([OVERSEER, "ui", "--listen", "localhost"],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 1
    assert result.stderr.strip() == \
        "overseer: --listen 'localhost': write it as HOST:PORT, e.g. 127.0.0.1:8080"
