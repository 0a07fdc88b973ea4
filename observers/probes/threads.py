"""`threads`: thread count of the matched processes, summed, against count limits."""
from __future__ import annotations

import psutil

from ._common import ProbeContext, ProbeResult, classify, failed, fmt_count, with_timeout
from ._procs import find, plural


def _threads(processes) -> tuple[float, int]:
    total, seen = 0.0, 0
    for proc in processes:
        try:
            total += proc.num_threads()
            seen += 1
        except psutil.Error:
            continue        # exited between matching and counting
    return total, seen


@with_timeout(lambda check: "counting threads")
async def probe(check, ctx: ProbeContext) -> ProbeResult:
    found = await find(check.match, ctx.child_pid)
    count, seen = _threads(found.processes)
    if not seen:
        return failed(found.problem or f"{found.what} exited before it could be measured")
    return classify(count, check.limits(), "Threads", fmt_count, plural(found))
