"""`overseer demo` headless: it comes up, the board answers, killing the active
fake PBX moves it, and SIGINT leaves no process it started behind.

Also the fake PBX against the real `asterisk-ami`/`asterisk-channels` probes.
"""
import asyncio
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request

import psutil
import pytest

from overseer.desired.checks import AsteriskAmiCheck, AsteriskChannelsCheck
from overseer.desired.store.client import EtcdConfig
from overseer.desired.store.local_etcd import free_port
from overseer.desired.store.store import Store
from overseer.observers.probes import asterisk_ami, asterisk_channels
from overseer.observers.probes._common import ProbeContext
from overseer.reconciler.demo.session import where
from tests.support.waiting import poll_until as wait_for

OVERSEER = os.path.join(os.path.dirname(sys.executable), "overseer")


def get(url: str) -> int:
    with urllib.request.urlopen(url, timeout=2) as resp:
        return resp.status


def read_until(proc: subprocess.Popen, pattern: str, timeout: float, seen: list) -> re.Match:
    """Read the demo's stdout line by line until `pattern` matches (the pipe blocks: bounded by pytest-timeout)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            raise AssertionError(f"demo exited {proc.wait()}:\n{''.join(seen)}")
        seen.append(line)
        found = re.search(pattern, line)
        if found:
            return found
    raise AssertionError(f"no line matching {pattern!r} within {timeout}s:\n{''.join(seen)}")


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_demo_fails_over_and_leaves_nothing_behind(tmp_path):
    port = free_port()
    demo = subprocess.Popen([OVERSEER, "demo", "--listen", f"127.0.0.1:{port}", "--dir", str(tmp_path / "d")],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env=dict(os.environ, PYTHONUNBUFFERED="1"))
    seen: list = []
    try:
        etcd = read_until(demo, r"etcd: +(http://\S+)", 60, seen).group(1)
        pid = int(read_until(demo, r"fake PBX pid (\d+)", 10, seen).group(1))
        read_until(demo, r"Ctrl-C stops everything", 10, seen)
        assert get(f"http://127.0.0.1:{port}/healthz") == 200
        assert get(f"http://127.0.0.1:{port}/") == 200

        store = Store(EtcdConfig(endpoints=(etcd,)), "demo")
        try:
            first = where(store.snapshot())
            assert first.pid == pid and first.pbx in ("pbx1", "pbx2")
            other = {"pbx1": "pbx2", "pbx2": "pbx1"}[first.pbx]
            os.kill(pid, signal.SIGKILL)
            moved = wait_for(lambda: (w := where(store.snapshot())).pbx == other and w.pid and w,
                             timeout=20, what=f"pbx active on {other}")
        finally:
            store.close()
        assert psutil.pid_exists(moved.pid)
        read_until(demo, rf"pbx: active on {other}, fake PBX pid {moved.pid}", 10, seen)

        started = psutil.Process(demo.pid).children(recursive=True)
        assert len(started) >= 6, started  # etcd, 3 agents, ui, their children
        demo.send_signal(signal.SIGINT)
        assert demo.wait(60) == 0, "".join(seen) + demo.stdout.read()
        alive = [p for p in started if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
        assert alive == [], [(p.pid, p.cmdline()) for p in alive]
    finally:
        if demo.poll() is None:
            demo.kill()
            demo.wait(10)


def probe(module, check):
    ctx = ProbeContext(cluster="c", service="pbx", server="s", role="active", epoch=1, child_pid=None)
    return asyncio.run(module.probe(check, ctx))


@pytest.fixture
def fake_pbx(tmp_path):
    secret = tmp_path / "ami.secret"
    secret.write_text("s3cret\n")
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "overseer.reconciler.demo.fake_pbx", "--port", str(port),
                             "--secret-file", str(secret)])
    wait_for(lambda: _connects(port), 10, "fake PBX listening")
    yield port, secret
    proc.kill()
    proc.wait(10)


def _connects(port: int) -> bool:
    import socket
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
        return True
    except OSError:
        return False


def test_fake_pbx_satisfies_the_ami_checks(fake_pbx, tmp_path):
    port, secret = fake_pbx
    ami = AsteriskAmiCheck(name="ami", type="asterisk-ami", port=port, username="overseer",
                           secretFile=str(secret), warn="500ms", fail="2s")
    assert probe(asterisk_ami, ami).status == "ok"
    channels = AsteriskChannelsCheck(name="ch", type="asterisk-channels", port=port, username="overseer",
                                     secretFile=str(secret), warn=2, fail=10)
    result = probe(asterisk_channels, channels)
    assert (result.status, result.value) == ("warn", 3.0)
    wrong = tmp_path / "wrong.secret"
    wrong.write_text("nope\n")
    refused = probe(asterisk_ami, ami.model_copy(update={"secretFile": str(wrong)}))
    assert refused.status == "fail" and "refused" in refused.message, refused
