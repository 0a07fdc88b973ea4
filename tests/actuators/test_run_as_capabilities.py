"""`capabilities:` beside `user:`: a real child as `nobody` binds port 80 with
CAP_NET_BIND_SERVICE kept, cannot without it, and holds nothing else.

Each child runs in a network namespace of its own (`unshare --net` in front
of the argv the actuators build), so port 80 is free whatever this machine
runs, and the kernel's unprivileged-port limit is its default, 1024.
"""
from __future__ import annotations

import asyncio
import os
import shutil
import subprocess

import pytest

from overseer.actuators import build_actuator
from overseer.actuators.child import supervised_argv
from overseer.desired.child_user import resolve
from overseer.desired.models import ProcessActuator
from overseer.desired.run_as import RunAs
from tests.support.run_as import NOBODY, needs_root, read_whoami, shared_dir, whoami_argv
from tests.support.waiting import poll_until


NET_BIND_SERVICE = 1 << 10
PYTHON = shutil.which("python3", path=os.defpath) or "/usr/bin/python3"

# prints its capability sets, then whether it could listen on port 80
BIND_80 = """
import socket
for line in open("/proc/self/status"):
    if line.startswith(("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb", "NoNewPrivs", "Uid")):
        print(line.replace("\\t", " ").strip())
try:
    socket.create_server(("0.0.0.0", 80))
    print("bind: ok")
except OSError as exc:
    print("bind:", exc.errno)
"""


@pytest.fixture(autouse=True)
def root():
    needs_root()
    if shutil.which("unshare") is None:
        pytest.skip("unshare (util-linux) is needed for a network namespace of the test's own")


def _in_a_namespace(argv: list[str]) -> dict[str, str]:
    proc = subprocess.run(["unshare", "--net", "--", *argv], capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stderr
    return dict(line.split(":", 1) for line in proc.stdout.splitlines())


def _child(spawn: str, capabilities: list[str] | None) -> dict[str, str]:
    user = resolve(RunAs(user="nobody", capabilities=capabilities))
    # the system's python: nobody may not reach every virtualenv's
    argv = [PYTHON, "-c", BIND_80]
    # unshare execs without forking: the child's parent is still this process
    wrapped = supervised_argv(argv, os.getpid(), user) if spawn == "supervised" else user.wrap(argv)
    return {key: value.strip() for key, value in _in_a_namespace(wrapped).items()}


@pytest.mark.parametrize("spawn", ["supervised", "command"])
def test_a_user_child_binds_port_80_with_cap_net_bind_service_and_holds_nothing_else(spawn):
    held = _child(spawn, ["CAP_NET_BIND_SERVICE"])
    assert held["Uid"].split() == [str(NOBODY.pw_uid)] * 4
    assert held["bind"] == "ok"
    for kind in ("CapInh", "CapPrm", "CapEff", "CapAmb"):
        assert int(held[kind], 16) == NET_BIND_SERVICE, (kind, held)
    # the bounding set can shrink only with CAP_SETPCAP, which root holds
    assert int(held["CapBnd"], 16) == NET_BIND_SERVICE, held
    assert held["NoNewPrivs"] == "1"


@pytest.mark.parametrize("spawn", ["supervised", "command"])
def test_without_the_capability_the_same_child_may_not_bind_port_80(spawn):
    held = _child(spawn, None)
    assert held["bind"] == "13", held   # EACCES
    assert all(int(held[kind], 16) == 0 for kind in ("CapInh", "CapPrm", "CapEff", "CapAmb", "CapBnd")), held


async def test_a_process_service_keeps_the_capabilities_it_lists(ctx, tmp_path):
    """The field reaches the actuator's spawn: a `process` child as nobody."""
    with shared_dir() as shared:
        out = shared / "whoami"
        spec = ProcessActuator.model_validate({"type": "process", "command": whoami_argv(out),
                                               "user": "nobody", "capabilities": ["CAP_NET_BIND_SERVICE"]})
        act = build_actuator("sip", spec, log_dir=str(tmp_path / "logs"))
        await act.start(ctx)
        try:
            # the shell writes line by line: NoNewPrivs is its last
            await asyncio.to_thread(poll_until, lambda: out.exists() and "NoNewPrivs" in read_whoami(out), 10,
                                    "the child to write what it holds")
            held = read_whoami(out)
        finally:
            await act.stop(ctx)
    assert held["uid"] == str(NOBODY.pw_uid)
    assert (int(held["CapEff"], 16), int(held["CapAmb"], 16), int(held["CapBnd"], 16)) == (NET_BIND_SERVICE,) * 3
    assert held["NoNewPrivs"] == "1"
