"""The supervised child dies with its agent: SIGKILL a real parent process."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import psutil

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
