"""`process`: is the matched process (or the supervised child) alive? Value: how many."""
from __future__ import annotations

from ._common import ProbeContext, ProbeResult, failed, with_timeout
from ._procs import find


def _target(check) -> str:
    return "looking for the process"


@with_timeout(_target)
async def probe(check, ctx: ProbeContext) -> ProbeResult:
    found = await find(check.match, ctx.child_pid)
    n = len(found.processes)
    if n == 0:
        return failed(found.problem, 0)
    if n == 1:
        return ProbeResult("ok", 1, f"{found.what} running (pid {found.processes[0].pid})")
    return ProbeResult("ok", n, f"{n} processes running ({found.what})")
