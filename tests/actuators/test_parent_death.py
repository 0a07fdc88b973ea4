"""The supervised child dies with its agent: SIGKILL a real parent process."""
from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time

import psutil
import pytest

from overseer.actuators.child import SETPRIV, spawn_supervised, supervised_argv

from .conftest import wait_gone

# A minimal agent: starts a process actuator on its main-thread event loop,
# prints the child's pid, then idles until it is killed.
PARENT = """
import asyncio, sys
from overseer.actuators import ActionContext, build_actuator
from overseer.desired.models import ProcessActuator

async def main():
    spec = ProcessActuator.model_validate({"type": "process", "command": ["sleep", "120"]})
    act = build_actuator("pbx", spec)
    await act.start(ActionContext("lab", "pbx", "pbx1", "active", 1))
    print(act.child_pid(), flush=True)
    await asyncio.sleep(120)

asyncio.run(main())
"""


def test_child_dies_when_agent_is_sigkilled():
    parent = subprocess.Popen([sys.executable, "-c", PARENT], stdout=subprocess.PIPE, text=True)
    try:
        child = int(parent.stdout.readline())
        assert psutil.Process(child).ppid() == parent.pid
        assert psutil.Process(child).status() != psutil.STATUS_ZOMBIE
        killed_at = time.monotonic()
        os.kill(parent.pid, signal.SIGKILL)
        assert wait_gone(child, within=1.0), "child outlived its agent"
        print(f"\nagent SIGKILL -> child gone: {(time.monotonic() - killed_at) * 1000:.1f} ms")
    finally:
        parent.kill()
        parent.wait()


def test_a_child_whose_agent_died_before_the_prctl_never_runs_its_command(tmp_path):
    # setpriv sets the signal, then sh checks that its parent is still the
    # agent: here the "agent" (pid 1) is not its parent, as after an agent
    # died between the spawn and setpriv's prctl.
    assert SETPRIV, "setpriv (util-linux) not found: children would be spawned with a preexec_fn"
    marker = tmp_path / "ran"
    done = subprocess.run(supervised_argv(["touch", str(marker)], parent_pid=1), timeout=10)
    assert done.returncode == 127 and not marker.exists()
    done = subprocess.run(supervised_argv(["touch", str(marker)], parent_pid=os.getpid()), timeout=10)
    assert done.returncode == 0 and marker.exists()


def test_a_missing_or_unrunnable_command_fails_at_spawn(tmp_path):
    script = tmp_path / "not-executable"
    script.write_text("#!/bin/sh\n")
    for argv, error in ((["no-such-program-here"], FileNotFoundError), ([str(tmp_path / "absent")], FileNotFoundError),
                        ([str(script)], PermissionError)):
        with pytest.raises(error):
            asyncio.run(spawn_supervised(argv, env={"PATH": "/usr/bin:/bin"}, cwd=None, output=None))
