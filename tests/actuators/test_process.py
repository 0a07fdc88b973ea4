"""process actuator: supervised child, env, idempotence, stop signals, exit watcher."""
from __future__ import annotations

import asyncio
import json
import os
import signal
import stat
import sys
import time

import pytest

from overseer.actuators import ActionContext, ActuatorError, build_actuator
from overseer.desired.models import ProcessActuator

from .conftest import gone, wait_file

PY = sys.executable

# A child that records its env and cwd, installs handlers, then says it is ready.
CHILD = """
import json, os, signal, sys, time
ready, mode = sys.argv[1], sys.argv[2]
def on_signal(num, _frame):
    open(ready + ".sig", "w").write(signal.Signals(num).name); sys.exit(0)
if mode == "ignore-term":
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
else:
    signal.signal(signal.SIGTERM, on_signal); signal.signal(signal.SIGINT, on_signal)
print("child says hello", flush=True)
env = {k: v for k, v in os.environ.items() if k.startswith(("OVERSEER_", "PBX_"))}
json.dump({"env": env, "cwd": os.getcwd(), "pgid": os.getpgrp()}, open(ready, "w"))
time.sleep(120)
"""


def proc_spec(ready, mode="normal", **fields) -> ProcessActuator:
    base = {"type": "process", "command": [PY, "-c", CHILD, str(ready), mode]}
    return ProcessActuator.model_validate({**base, **fields})


async def started(act, ctx, ready) -> dict:
    await act.start(ctx)
    return json.loads(await asyncio.to_thread(wait_file, ready))


async def test_env_workdir_and_log_reach_the_child(ctx, tmp_path):
    ready = tmp_path / "ready"
    spec = proc_spec(ready, workingDir=str(tmp_path),
                     env={"PBX_TRUNK": "sip a;b", "OVERSEER_ROLE": "forged"})
    act = build_actuator("pbx", spec, log_dir=str(tmp_path / "logs"))
    info = await started(act, ctx, ready)
    try:
        assert info["env"] == {"PBX_TRUNK": "sip a;b", "OVERSEER_CLUSTER": "lab",
                               "OVERSEER_SERVICE": "pbx", "OVERSEER_SERVER": "pbx1",
                               "OVERSEER_ROLE": "active", "OVERSEER_EPOCH": "7"}
        assert info["cwd"] == str(tmp_path)
        assert info["pgid"] == act.child_pid(), "child must lead its own process group"
        assert "child says hello" in (tmp_path / "logs" / "pbx.log").read_text()
    finally:
        await act.close()


async def test_the_service_log_is_created_0640(ctx, tmp_path):
    # a service's output may hold what only its operators should read
    logs = tmp_path / "logs"
    old = os.umask(0)   # the mode is the actuator's, not the umask's
    try:
        act = build_actuator("pbx", ProcessActuator.model_validate(
            {"type": "process", "command": ["sh", "-c", "echo hello; exec sleep 120"]}), log_dir=str(logs))
        await act.start(ctx)
    finally:
        os.umask(old)
    try:
        assert (await asyncio.to_thread(wait_file, logs / "pbx.log")).strip() == "hello"
        assert stat.S_IMODE((logs / "pbx.log").stat().st_mode) == 0o640
    finally:
        await act.close()


async def test_start_and_stop_are_idempotent_and_quiet(ctx, tmp_path):
    ready = tmp_path / "ready"
    act = build_actuator("pbx", proc_spec(ready))
    exits = []
    act.on_exit = lambda *args: exits.append(args)
    await started(act, ctx, ready)
    pid = act.child_pid()
    await act.start(ctx)
    assert act.child_pid() == pid and await act.running(ctx) is True
    await act.stop(ctx)
    await act.stop(ctx)
    assert await act.running(ctx) is False and act.child_pid() is None
    assert gone(pid)
    assert (tmp_path / "ready.sig").read_text() == "SIGTERM"
    assert exits == [], "a stop we asked for is not an unexpected exit"


async def test_stop_signal_is_honoured(ctx, tmp_path):
    ready = tmp_path / "ready"
    act = build_actuator("pbx", proc_spec(ready, stopSignal="INT"))
    await started(act, ctx, ready)
    await act.stop(ctx)
    assert (tmp_path / "ready.sig").read_text() == "SIGINT"


async def test_sigkill_after_timeout_when_sigterm_is_ignored(ctx, tmp_path):
    ready = tmp_path / "ready"
    act = build_actuator("pbx", proc_spec(ready, mode="ignore-term", timeout="0.5s"))
    await started(act, ctx, ready)
    pid = act.child_pid()
    began = time.monotonic()
    await act.stop(ctx)
    took = time.monotonic() - began
    # it gave SIGTERM its timeout (load only lengthens that), then SIGKILL ended it:
    # the child ignores SIGTERM, so nothing else could have
    assert took > 0.4, f"stop took {took:.2f}s"
    assert gone(pid) and act._proc.returncode == -signal.SIGKILL


async def test_kill_dash_nine_calls_on_exit_at_once(ctx, tmp_path):
    ready = tmp_path / "ready"
    act = build_actuator("pbx", proc_spec(ready))
    seen = asyncio.Event()
    calls = []

    def on_exit(service, returncode, message):
        calls.append((time.monotonic(), service, returncode, message))
        seen.set()
    act.on_exit = on_exit
    await started(act, ctx, ready)
    pid = act.child_pid()
    killed_at = time.monotonic()
    os.kill(pid, signal.SIGKILL)
    await asyncio.wait_for(seen.wait(), 5)
    at, service, returncode, message = calls[0]
    # how fast is a goal of bench/actuator_child_exit.py; here: it comes, from the watcher
    print(f"\nkill -9 -> on_exit: {(at - killed_at) * 1000:.1f} ms")
    assert (service, returncode) == ("pbx", -signal.SIGKILL)
    assert message == f"pbx: supervised child {pid} ({PY}) killed by SIGKILL"
    assert await act.running(ctx) is False
    await act.stop(ctx)  # stopping a dead child is a no-op
    assert len(calls) == 1


async def test_restart_after_crash_gets_a_new_child(ctx, tmp_path):
    ready = tmp_path / "ready"
    act = build_actuator("pbx", proc_spec(ready))
    await started(act, ctx, ready)
    first = act.child_pid()
    os.kill(first, signal.SIGKILL)
    while await act.running(ctx):
        await asyncio.sleep(0.01)
    ready.unlink()
    await started(act, ctx, ready)
    assert act.child_pid() not in (None, first)
    await act.close()
    assert await act.running(ctx) is False


async def test_missing_command_is_an_actuator_error(ctx, tmp_path):
    spec = ProcessActuator.model_validate({"type": "process", "command": "/nonexistent/pbx -f"})
    with pytest.raises(ActuatorError, match=r"pbx: start: /nonexistent/pbx -f not found"):
        await build_actuator("pbx", spec).start(ctx)


async def test_promote_and_demote_commands_get_the_role(tmp_path):
    out = tmp_path / "roles"
    record = [PY, "-c", "import os,sys; open(sys.argv[1],'a').write("
              "os.environ['OVERSEER_ROLE'] + ' ' + os.environ['PBX_TRUNK'] + '\\n')", str(out)]
    spec = ProcessActuator.model_validate({"type": "process", "command": ["sleep", "30"],
                                           "promote": record, "demote": record,
                                           "env": {"PBX_TRUNK": "t1"}})
    act = build_actuator("pbx", spec)
    await act.promote(ActionContext("lab", "pbx", "pbx1", "active", 8))
    await act.demote(ActionContext("lab", "pbx", "pbx1", "standby", 9))
    assert out.read_text() == "active t1\nstandby t1\n"
    assert act.child_pid() is None


async def test_start_waits_for_a_stop_in_progress(ctx, tmp_path):
    ready = tmp_path / "ready"
    act = build_actuator("pbx", proc_spec(ready, mode="ignore-term", timeout="0.3s"))
    await started(act, ctx, ready)
    first = act.child_pid()
    ready.unlink()
    stopping = asyncio.ensure_future(act.stop(ctx))
    # one turn of the loop runs stop() up to its first wait: lock held, SIGTERM sent
    await asyncio.sleep(0)
    await act.start(ctx)  # must not mistake the dying child for a running one
    await stopping
    assert act.child_pid() not in (None, first)
    await act.close()


AGENT_CREDENTIALS = {"OVERSEER_ETCD": "http://10.9.9.9:2379", "OVERSEER_ETCD_USER": "root",
                     "OVERSEER_ETCD_PASSWORD": "hunter2", "OVERSEER_ETCD_CACERT": "/etc/ca.pem",
                     "OVERSEER_ETCD_CERT": "/etc/c.pem", "OVERSEER_ETCD_KEY": "/etc/k.pem"}


def _environ_of(pid: int) -> dict:
    raw = open(f"/proc/{pid}/environ", "rb").read().split(b"\0")
    return dict(item.decode().split("=", 1) for item in raw if item)


async def test_the_child_never_sees_the_agents_etcd_credentials(ctx, tmp_path, monkeypatch):
    for name, value in AGENT_CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AGENT_SITE", "paris")          # the rest of the agent's env passes
    ready = tmp_path / "ready"
    act = build_actuator("pbx", proc_spec(ready, env={"PBX_TRUNK": "t"}))
    await started(act, ctx, ready)
    try:
        seen = _environ_of(act.child_pid())
        assert not [k for k in seen if k.startswith("OVERSEER_ETCD")], seen
        assert "hunter2" not in open(f"/proc/{act.child_pid()}/environ").read()
        assert {k: v for k, v in seen.items() if k.startswith("OVERSEER_")} == {
            "OVERSEER_CLUSTER": "lab", "OVERSEER_SERVICE": "pbx", "OVERSEER_SERVER": "pbx1",
            "OVERSEER_ROLE": "active", "OVERSEER_EPOCH": "7"}
        assert seen["AGENT_SITE"] == "paris" and seen["PBX_TRUNK"] == "t"
    finally:
        await act.close()
