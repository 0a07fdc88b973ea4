"""The production fence runner: exit 0 is success, anything else fails with
the command's last line, a command past its timeout is killed with its
process group, and it never sees the agent's etcd settings."""
from __future__ import annotations

import asyncio
import sys
import time

from overseer.reconciler.fence_agent import FenceCall, fence_env, run_fence

ENV = fence_env("lab", "pbx2", 7, "pbx1", "10.0.0.1", 1, ("pbx", "web"), "pbx1 is down")


def _run(argv, timeout=5.0, env=ENV):
    return asyncio.run(run_fence(FenceCall(tuple(argv), env, timeout, "pbx1")))


def test_success_is_exit_zero_and_the_environment_names_the_target(monkeypatch):
    monkeypatch.setenv("OVERSEER_ETCD_PASSWORD", "secret")
    script = ("import os; print('Status: ON'); print(' '.join(os.environ.get(k, '-') for k in "
              "('OVERSEER_FENCE_SERVER', 'OVERSEER_FENCE_ADDRESS', 'OVERSEER_FENCE_SERVICES', "
              "'OVERSEER_SERVER', 'OVERSEER_EPOCH', 'OVERSEER_FENCE_ATTEMPT', 'OVERSEER_ETCD_PASSWORD')))")
    result = _run([sys.executable, "-c", script])
    assert result.ok and result.message == "pbx1 10.0.0.1 pbx,web pbx2 7 1 -", result


def test_a_failure_keeps_the_last_line():
    result = _run([sys.executable, "-c", "import sys; print('Connecting'); print('Unable to connect to BMC'); sys.exit(1)"])
    assert not result.ok and result.message == "exit 1: Unable to connect to BMC"


def test_a_missing_command_fails_with_why():
    result = _run(["/nonexistent/fence_ipmilan"])
    assert not result.ok and result.message.startswith("cannot run /nonexistent/fence_ipmilan")


def test_a_hung_command_is_killed_with_its_group_at_its_timeout(tmp_path):
    pidfile = tmp_path / "grandchild"
    script = (f"import subprocess, sys; p = subprocess.Popen(['sleep', '60']); "
              f"open({str(pidfile)!r}, 'w').write(str(p.pid)); sys.stdout.flush(); p.wait()")
    started = time.monotonic()
    result = _run([sys.executable, "-c", script], timeout=1.0)
    assert not result.ok and "timed out after 1s" in result.message
    assert time.monotonic() - started < 5
    grandchild = int(pidfile.read_text())
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and _alive(grandchild):
        time.sleep(0.02)
    assert not _alive(grandchild)


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except (OSError, IndexError):
        return False
