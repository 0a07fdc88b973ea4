"""sd_notify end to end: a real `overseer agent` against real etcd talks to a socket we bind.

We play systemd: bind a unix datagram socket, hand its path to the agent as
$NOTIFY_SOCKET with a short $WATCHDOG_USEC, and read what arrives: READY=1
once registered, WATCHDOG=1 about every half period, silence while the agent
is stopped (SIGSTOP: a hung agent stops pinging), STOPPING=1 on SIGTERM.
Also the no-op path in-process, and `systemd-analyze verify` on the unit.
"""
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from overseer.reconciler.agent import sdnotify
from tests.support.cluster import cluster_yaml

UNIT = Path(__file__).resolve().parents[2] / "systemd" / "overseer-agent@.service"
WATCHDOG_USEC = 400_000  # pings every 0.2 s


@pytest.fixture
def notify_socket():
    folder = tempfile.mkdtemp(prefix="sdn-")  # short: unix socket paths max out near 108 bytes
    path = os.path.join(folder, "notify")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    yield sock, path
    sock.close()
    shutil.rmtree(folder)


def receive(sock, timeout: float) -> list[tuple[float, str]]:
    """Every datagram arriving within `timeout` seconds, with its arrival time."""
    got, deadline = [], time.monotonic() + timeout
    while (left := deadline - time.monotonic()) > 0:
        sock.settimeout(left)
        try:
            got.append((time.monotonic(), sock.recv(4096).decode()))
        except socket.timeout:
            break
    return got


def wait_for(sock, prefix: str, timeout: float) -> list[str]:
    seen, deadline = [], time.monotonic() + timeout
    while time.monotonic() < deadline:
        sock.settimeout(max(deadline - time.monotonic(), 0.01))
        try:
            message = sock.recv(4096).decode()
        except socket.timeout:
            break
        seen.append(message)
        if message.startswith(prefix):
            return seen
    raise AssertionError(f"no {prefix} within {timeout}s; got {seen}")


def test_agent_reports_ready_watchdog_and_stopping(cluster, notify_socket):
    sock, path = notify_socket
    cluster.apply(cluster_yaml(cluster.name, ["s1"]))
    cluster.env.update(NOTIFY_SOCKET=path, WATCHDOG_USEC=str(WATCHDOG_USEC))
    agent = cluster.start_agent("s1")
    before_ready = wait_for(sock, "READY=1", timeout=20)
    assert not any(m.startswith("WATCHDOG=1") for m in before_ready[:-1]), before_ready

    # it keeps pinging: three more, however busy the machine ...
    started = time.monotonic()
    for _ in range(3):
        wait_for(sock, "WATCHDOG=1", timeout=10)
    # ... and not in a hot loop: at most one per 0.2 s (half the period), plus slack
    took = time.monotonic() - started
    extra = [m for _, m in receive(sock, 0.6) if m == "WATCHDOG=1"]
    assert len(extra) <= 0.6 / 0.2 + 2, (extra, took)

    agent.send_signal(signal.SIGSTOP)
    receive(sock, 0.3)  # a ping already in flight may still land
    assert receive(sock, 1.0) == []  # the loop is not running: no pings
    agent.send_signal(signal.SIGCONT)
    wait_for(sock, "WATCHDOG=1", timeout=3)

    agent.send_signal(signal.SIGTERM)
    wait_for(sock, "STOPPING=1", timeout=10)
    assert agent.wait(15) == 0, cluster.logs()


def test_without_notify_socket_every_call_is_a_no_op(monkeypatch):
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    monkeypatch.setenv("WATCHDOG_USEC", "1000000")
    assert sdnotify.ready() is False
    assert sdnotify.stopping() is False
    assert sdnotify.watchdog_interval() == 0.5


def test_watchdog_meant_for_another_pid_is_ignored(monkeypatch):
    monkeypatch.setenv("WATCHDOG_USEC", "1000000")
    monkeypatch.setenv("WATCHDOG_PID", str(os.getpid() + 1))
    assert sdnotify.watchdog_interval() is None


def test_abstract_socket_address(monkeypatch):
    name = f"overseer-test-{os.getpid()}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + name)
        monkeypatch.setenv("NOTIFY_SOCKET", "@" + name)
        assert sdnotify.ready("up") is True
        sock.settimeout(2)
        assert sock.recv(100).decode() == "READY=1\nSTATUS=up"


@pytest.mark.skipif(shutil.which("systemd-analyze") is None,
                    reason="systemd-analyze not installed (Debian: apt-get install systemd)")
def test_unit_file_verifies(tmp_path):
    # verify wants an existing ExecStart binary: point it at one that exists here
    unit = tmp_path / "overseer-agent@.service"
    unit.write_text(UNIT.read_text().replace("/usr/local/bin/overseer", shutil.which("true")))
    instance = tmp_path / "overseer-agent@pbx1.service"
    os.symlink(unit, instance)
    proc = subprocess.run(["systemd-analyze", "verify", "--man=no", str(instance)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "overseer-agent" not in proc.stderr, proc.stderr  # no warnings about our unit
