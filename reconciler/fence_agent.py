"""Running a Server's fence agent for real: the production `Edges.fence`.

The command (desired/fence.py) runs in its own process group with stdin
closed, its output kept for the last line, and is killed with its group at
its timeout. Nothing here decides anything: the master's FenceRuns
(master_fencing.py) says when, and reads the result. The simulator answers
the same call on virtual time (sim/fence_agents.py).
"""
from __future__ import annotations

import asyncio
import os
import signal
from dataclasses import dataclass
from typing import Mapping, Sequence

from overseer.desired.child_env import child_environment

MESSAGE_CHARS = 300   # of the command's last line, kept in the record and history


@dataclass(frozen=True)
class FenceCall:
    """One attempt: the argv, its environment (the OVERSEER_* variables only;
    the runner adds the agent's environment minus its etcd settings) and timeout."""
    argv: tuple[str, ...]
    env: Mapping[str, str]
    timeout: float
    server: str          # the server to fence (also OVERSEER_FENCE_SERVER)


@dataclass(frozen=True)
class FenceResult:
    ok: bool             # exited 0: the server is off
    message: str         # its last line, or why it failed


def fence_env(cluster: str, me: str, epoch: int, server: str, address: str, attempt: int,
              services: Sequence[str], reason: str) -> dict[str, str]:
    """The OVERSEER_* variables a fence command gets (docs/reference.md, FenceAgent)."""
    return {"OVERSEER_CLUSTER": cluster, "OVERSEER_SERVER": me, "OVERSEER_EPOCH": str(epoch),
            "OVERSEER_FENCE_SERVER": server, "OVERSEER_FENCE_ADDRESS": address,
            "OVERSEER_FENCE_ATTEMPT": str(attempt), "OVERSEER_FENCE_SERVICES": ",".join(services),
            "OVERSEER_REASON": reason}


def _last_line(output: bytes) -> str:
    lines = [line.strip() for line in output.decode(errors="replace").splitlines() if line.strip()]
    return lines[-1][:MESSAGE_CHARS] if lines else ""


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


async def run_fence(call: FenceCall) -> FenceResult:
    """Run one attempt to its end or its timeout; never raises for the command's sake."""
    try:
        proc = await asyncio.create_subprocess_exec(
            *call.argv, env=child_environment(call.env), stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, start_new_session=True)
    except OSError as exc:
        return FenceResult(False, f"cannot run {call.argv[0]}: {exc.strerror or exc}")
    try:
        output, _ = await asyncio.wait_for(proc.communicate(), call.timeout)
    except asyncio.TimeoutError:
        _kill_group(proc.pid)
        await proc.wait()
        return FenceResult(False, f"timed out after {call.timeout:g}s (killed)")
    except asyncio.CancelledError:
        _kill_group(proc.pid)
        raise
    last = _last_line(output)
    if proc.returncode == 0:
        return FenceResult(True, last)
    code = proc.returncode
    how = f"killed by signal {-code}" if code < 0 else f"exit {code}"
    return FenceResult(False, f"{how}: {last}" if last else how)
