"""`command`: run argv (never a shell); exit 0 ok, 1 warn, anything else fail (Nagios).

The first line of stdout is the message. The command runs in its own
process group so a timeout kills everything it started, not just the head,
and as the check's `user` when it names one (desired/child_user.py).
"""
from __future__ import annotations

import asyncio
import os
import signal
from typing import Optional

from overseer.desired.child_env import child_environment
from overseer.desired.child_user import Credentials, RunAsError, check_runnable, credentials

from ._common import ProbeContext, ProbeResult, failed, with_timeout

_STATUS = {0: "ok", 1: "warn"}


def _env(ctx: ProbeContext, user: Optional[Credentials]) -> dict:
    # the agent's environment minus its etcd credentials (desired/child_env.py)
    return child_environment({
        "OVERSEER_CLUSTER": ctx.cluster, "OVERSEER_SERVICE": ctx.service,
        "OVERSEER_SERVER": ctx.server, "OVERSEER_ROLE": ctx.role,
        "OVERSEER_EPOCH": str(ctx.epoch)}, account=user.env() if user is not None else None)


def _kill_group(proc: asyncio.subprocess.Process) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass        # it finished between the timeout and the kill


async def _run(check, ctx: ProbeContext) -> tuple[int, str]:
    user = credentials(check)
    env = _env(ctx, user)
    argv = check.command
    if user is not None:
        check_runnable(argv[0], env, None)   # setpriv's own exec would only exit 127
        argv = user.wrap(argv)
    proc = await asyncio.create_subprocess_exec(
        *argv, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL, env=env, start_new_session=True)
    try:
        out, _ = await proc.communicate()
    except asyncio.CancelledError:
        _kill_group(proc)
        await proc.wait()       # reap it, so no zombie outlives the probe
        raise
    lines = out.decode("utf-8", errors="replace").strip().splitlines()
    return proc.returncode, (lines[0].strip() if lines else "")


@with_timeout(lambda check: f"command {check.command[0]} did not finish (process group killed)")
async def probe(check, ctx: ProbeContext) -> ProbeResult:
    try:
        code, first = await _run(check, ctx)
    except FileNotFoundError:
        return failed(f"command not found: {check.command[0]}")
    except PermissionError:
        return failed(f"command not executable: {check.command[0]}")
    except RunAsError as exc:
        return failed(f"not run: {exc.where()}: {exc.reason}")
    status = _STATUS.get(code, "fail")
    if code < 0:
        message = first or f"{check.command[0]} killed by signal {-code}"
    else:
        message = first or f"{check.command[0]} exited {code}"
    return ProbeResult(status, float(code), message)
